#!/usr/bin/env bash
# Builds the PostgreSQL image of examples/compose, wharf-postgres:15-bookworm,
# from nothing but the Debian mirror:
#   1.-2. the base image wharf-debian:bookworm-minbase: debootstrap
#      --variant=minbase bookworm (cached as a tarball) and `wharf import`
#      (examples/debian-base.sh, shared with examples/wasm-from-source)
#   3. `wharf build` of postgres/Dockerfile on it: apt-get installs
#      postgresql-15 in a RUN step; the entrypoint initialises PGDATA
# Steps whose result exists are skipped: the image in the store (unless
# --rebuild), the base image, the cached tarball. Prints how long each took.
#
# Environment: WHARF (the wharf binary, default `wharf` on PATH), WHARF_ROOT
# (the store, as for wharf), DEBIAN_MIRROR (default http://deb.debian.org/debian),
# WHARF_DEMO_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/wharf-demo).
# Needs root (debootstrap); installs debootstrap and zstd with apt if missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

# shellcheck source=../debian-base.sh
source "$here/../debian-base.sh"
image=wharf-postgres:15-bookworm

rebuild=false
case "${1:-}" in
    --rebuild) rebuild=true ;;
    "") ;;
    *)
        echo "usage: $0 [--rebuild]" >&2
        exit 2
        ;;
esac

if ! $rebuild && has_image "$image"; then
    echo "build-postgres: $image is in the store (--rebuild to build it again)"
    exit 0
fi

if $rebuild; then
    debian_base_image build-postgres --reimport
else
    debian_base_image build-postgres
fi

start=$(date +%s%N)
echo "build-postgres: wharf build -t $image $here/postgres (apt-get install postgresql-15)"
log=$(mktemp)
if ! "$WHARF" build -t "$image" "$here/postgres" >"$log" 2>&1; then
    echo "build-postgres: wharf build failed; its output ends with:" >&2
    tail -n 30 "$log" >&2
    rm -f "$log"
    exit 1
fi
rm -f "$log"
echo "build-postgres: built $image in $(seconds_since "$start") s"
