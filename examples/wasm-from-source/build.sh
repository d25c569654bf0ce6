#!/usr/bin/env bash
# Builds examples/wasm-from-source as wasm-from-source:1: a Wasm image made
# from Rust source entirely inside `wharf build`. Its builder stage is the
# Debian 12 base image (made here from the Debian mirror if the store lacks
# it: examples/debian-base.sh, debootstrap cached as a tarball + wharf
# import); apt-get installs rustc and its wasm32-wasi standard library, and
# rustc compiles main.rs; the final stage is FROM scratch with the module.
# Prints how long the base image, each RUN step and the whole build took.
# The build runs every time: a second run is answered from wharf's build
# cache. Extra arguments go to `wharf build` (e.g. --no-cache).
#
# Environment: WHARF (the wharf binary, default `wharf` on PATH), WHARF_ROOT
# (the store, as for wharf), DEBIAN_MIRROR, WHARF_DEMO_CACHE (see
# examples/debian-base.sh), IMAGE (default wasm-from-source:1).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

# shellcheck source=../debian-base.sh
source "$here/../debian-base.sh"
image=${IMAGE:-wasm-from-source:1}

start=$(date +%s%N)
debian_base_image wasm-from-source
echo "wasm-from-source: base image $DEBIAN_BASE_IMAGE ready in $(seconds_since "$start") s"

echo "wasm-from-source: wharf build --platform wasi/wasm -t $image $here"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$(date +%s%N)
# Each output line stamped with when it came ($EPOCHREALTIME: no process per
# line), so the steps' durations can be read off afterwards.
status=0
"$WHARF" build --platform wasi/wasm -t "$image" "$@" "$here" 2>&1 |
    while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done >"$log" ||
    status=$?
end=$EPOCHREALTIME
if ((status != 0)); then
    echo "wasm-from-source: wharf build failed; its output ends with:" >&2
    tail -n 30 "$log" | cut -d' ' -f2- >&2
    exit 1
fi
# A step lasts from its "Step i/n : ..." line to the next one (or the end).
awk -v end="$end" '
    function report() {
        if (name != "") printf "wasm-from-source:   %5.1f s  %s%s\n", t - t0, name, cached ? " (cached)" : ""
    }
    $2 == "Step" { t = $1; report(); t0 = $1; cached = 0
                   name = $0; sub(/^[^ ]+ /, "", name)
                   if (length(name) > 90) name = substr(name, 1, 87) "..."; next }
    /Using cache/ { cached = 1 }
    END { t = end; report() }
' "$log"
echo "wasm-from-source: built $image in $(seconds_since "$start") s"
