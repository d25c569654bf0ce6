#!/usr/bin/env bash
# Builds the PostgreSQL image of examples/compose, wharf-postgres:15-bookworm,
# from nothing but the Debian mirror:
#   1. a minimal Debian 12 root filesystem: debootstrap --variant=minbase
#      bookworm, packed as a tarball and cached (debootstrap takes about a
#      minute; the cache makes later runs skip it)
#   2. `wharf import` of that tarball: wharf-debian:bookworm-minbase
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

WHARF=${WHARF:-wharf}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=bookworm
base_image=wharf-debian:$suite-minbase
image=wharf-postgres:15-$suite
cache=${WHARF_DEMO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wharf-demo}

rebuild=false
case "${1:-}" in
    --rebuild) rebuild=true ;;
    "") ;;
    *)
        echo "usage: $0 [--rebuild]" >&2
        exit 2
        ;;
esac

seconds_since() { awk -v s="$1" -v e="$(date +%s%N)" 'BEGIN { printf "%.1f", (e - s) / 1e9 }'; }
has_image() { "$WHARF" inspect --type image "$1" >/dev/null 2>&1; }

if ! $rebuild && has_image "$image"; then
    echo "build-postgres: $image is in the store (--rebuild to build it again)"
    exit 0
fi

# The cache key names everything the tarball is made from, so a change of
# any of them makes a new one instead of reusing a stale one.
arch=$(dpkg --print-architecture)
key=$(printf '%s\n' "debootstrap --variant=minbase --arch=$arch $suite $mirror" \
    "exclude dev proc sys apt-lists debs; sources: $suite $suite-updates $suite-security; v1" |
    sha256sum | cut -c1-12)
tarball="$cache/debian-$suite-minbase-$arch-$key.tar.zst"

need_tools=()
command -v zstd >/dev/null || need_tools+=(zstd)
if [[ ! -f $tarball ]]; then
    command -v debootstrap >/dev/null || need_tools+=(debootstrap)
fi
if ((${#need_tools[@]})); then
    echo "build-postgres: installing ${need_tools[*]} (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${need_tools[@]}" >/dev/null
fi

if [[ -f $tarball ]]; then
    echo "build-postgres: base rootfs from the cache: $tarball"
else
    if ((EUID != 0)); then
        echo "build-postgres: debootstrap needs root; run as root (or put the tarball at $tarball)" >&2
        exit 1
    fi
    mkdir -p "$cache"
    rootfs=$(mktemp -d "$cache/rootfs.XXXXXX")
    # debootstrap mounts /proc, /sys (and in a container binds /dev) inside
    # the target while it works: unmount whatever it left before removing
    # anything, and never cross into another filesystem while removing.
    cleanup() {
        if [[ -n ${rootfs:-} && -d $rootfs ]]; then
            { grep -o " $rootfs/[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do
                umount -l "$m" 2>/dev/null || true
            done
            rm -rf --one-file-system "$rootfs"
        fi
        rm -f "$tarball.tmp"
    }
    trap cleanup EXIT
    echo "build-postgres: debootstrap --variant=minbase $suite (about a minute)"
    start=$(date +%s%N)
    log="$rootfs.log"
    if ! debootstrap --variant=minbase --arch="$arch" "$suite" "$rootfs" "$mirror" >"$log" 2>&1; then
        echo "build-postgres: debootstrap failed; its log:" >&2
        tail -n 30 "$log" >&2
        rm -f "$log"
        exit 1
    fi
    rm -f "$log"
    # Updates and security fixes too: apt in the image build installs the
    # current PostgreSQL 15 point release.
    cat >"$rootfs/etc/apt/sources.list" <<SOURCES
deb $mirror $suite main
deb $mirror $suite-updates main
deb ${mirror%/debian}/debian-security $suite-security main
SOURCES
    echo "build-postgres: debootstrap took $(seconds_since "$start") s ($(du -sh --one-file-system "$rootfs" | cut -f1))"
    start=$(date +%s%N)
    # Device nodes are left out: an image layer may not hold them (a
    # container gets its /dev at run time); /proc and /sys stay as empty
    # mount points; package lists and downloaded .debs are not the rootfs.
    tar --numeric-owner --one-file-system -C "$rootfs" \
        --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
        --exclude='./var/lib/apt/lists/*' --exclude='./var/cache/apt/archives/*.deb' \
        -cf - . | zstd -q -T0 -3 -o "$tarball.tmp"
    mv -f "$tarball.tmp" "$tarball"
    echo "build-postgres: packed $(du -h "$tarball" | cut -f1) in $(seconds_since "$start") s: $tarball"
    cleanup
    trap - EXIT
fi

if $rebuild || ! has_image "$base_image"; then
    start=$(date +%s%N)
    # docker import's way: the tarball is the whole filesystem; the config
    # is what the changes say (a Debian PATH, a shell to run).
    "$WHARF" import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8' \
        --change 'CMD ["/bin/bash"]' \
        --message "debootstrap --variant=minbase $suite $mirror" \
        "$tarball" "$base_image" >/dev/null
    echo "build-postgres: imported $base_image in $(seconds_since "$start") s"
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
