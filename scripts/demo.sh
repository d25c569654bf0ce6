#!/usr/bin/env bash
# A tour of Wharf: build the same program as a Wasm and a Linux image, run
# both, use env and volumes, detach/ps/logs/stop/rm, save/load, and compare
# start-up times. Uses its own store: WHARF_ROOT (default target/demo-root).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

step "Preparing the machine (packages, Rust targets, example guests)"
bash scripts/setup.sh

step "Building wharf (release)"
cargo build --release --quiet
export PATH="$PWD/target/release:$PATH"
export WHARF_ROOT="${WHARF_ROOT:-$PWD/target/demo-root}"
mkdir -p "$WHARF_ROOT"
echo "store: $WHARF_ROOT"

step "Building images: one source, two kinds"
show wharf build --platform wasi/wasm -t hello:wasm examples/hello
show wharf build -f examples/hello/Dockerfile.linux --platform linux/amd64 -t hello:linux examples/hello
show wharf build -f examples/hello/Dockerfile.p2 --platform wasip2/wasm -t hello:p2 examples/hello
show wharf build -q --platform wasi/wasm -t cpu:wasm examples/cpu
show wharf build -q -f examples/cpu/Dockerfile.linux --platform linux/amd64 -t cpu:linux examples/cpu

step "Running the Wasm container"
show wharf run --rm hello:wasm
show wharf run --rm hello:wasm arg1 arg2
show wharf run --rm hello:p2 "from a component"

step "Running the Linux container"
show wharf run --rm hello:linux arg1 arg2

step "Sandbox: only what you grant (env with -e, files with -v)"
vol=$(mktemp -d)
echo "a file from the host" >"$vol/note.txt"
show wharf run --rm -e GREETING=hi -e COLOR=blue hello:wasm env
show wharf run --rm hello:wasm cat /etc/greeting.txt
show wharf run --rm -v "$vol:/data" -w /data hello:wasm cat note.txt
show wharf run --rm -v "$vol:/data" hello:wasm write /data/reply.txt "written by the guest"
echo "host sees: $(cat "$vol/reply.txt")"
printf '$ wharf run --rm hello:wasm cat /etc/passwd   # host files are not there\n'
wharf run --rm hello:wasm cat /etc/passwd || echo "(exit $?, as expected)"
printf '$ wharf run --rm -v %s:/data:ro hello:wasm write /data/x nope\n' "$vol"
wharf run --rm -v "$vol:/data:ro" hello:wasm write /data/x nope || echo "(exit $?, read-only volume)"
rm -rf "$vol"

step "The same CPU work in both kinds"
show wharf run --rm cpu:wasm sha256 64
show wharf run --rm cpu:linux sha256 64
printf '$ examples/cpu/cpu sha256 64   # native, for reference\n'
examples/cpu/cpu sha256 64

step "Detached container: ps, logs, stop, rm"
wharf rm -f ticker >/dev/null 2>&1 || true
show wharf run -d --name ticker hello:wasm tick 600
sleep 1
show wharf ps
show wharf logs ticker
show wharf stop -t 1 ticker
show wharf ps -a
show wharf rm ticker

step "A Wasm HTTP component, served like wasmtime serve (a fresh instance per request)"
wharf rm -f web backend >/dev/null 2>&1 || true
wharf network rm demo-http >/dev/null 2>&1 || true
show wharf build -q --platform wasip2/wasm -t web:wasm examples/http
show wharf build -q -f examples/http/Dockerfile.linux --platform linux/amd64 -t web:linux examples/http
show wharf network create --subnet 10.231.250.0/24 demo-http
show wharf run -d --name backend --network demo-http -e ROLE="the Linux backend" web:linux
show wharf run -d --name web --network demo-http -p 127.0.0.1:18080:8080 web:wasm
for _ in $(seq 50); do curl -sf -o /dev/null http://127.0.0.1:18080/ && break; sleep 0.1; done
show curl -s http://127.0.0.1:18080/
printf '$ curl -s http://127.0.0.1:18080/count   # three times: no state survives a request\n'
for _ in 1 2 3; do curl -s http://127.0.0.1:18080/count; done
printf '$ curl -s "http://127.0.0.1:18080/fetch?url=http://backend:8080/env/ROLE"   # Wasm -> Linux, by name\n'
curl -s "http://127.0.0.1:18080/fetch?url=http://backend:8080/env/ROLE"
show wharf ps
show wharf logs web
show wharf rm -f web backend
show wharf network rm demo-http

step "Save and load (OCI archive)"
archive=$(mktemp --suffix=.tar)
show wharf save -o "$archive" hello:wasm
show wharf rmi hello:wasm
show wharf load -i "$archive"
show wharf run --rm hello:wasm "after a round trip"
if command -v skopeo >/dev/null; then
    printf '$ skopeo inspect oci-archive:%s | jq .Architecture,.Os\n' "$archive"
    skopeo inspect "oci-archive:$archive" | jq -r '.Architecture, .Os'
fi
rm -f "$archive"

step "Images"
show wharf images

step "Start-up time"
native=examples/hello/hello
if command -v hyperfine >/dev/null; then
    cmds=("wharf run --rm hello:wasm" "wharf run --rm hello:linux" "$native")
    names=(-n "wharf run hello:wasm" -n "wharf run hello:linux" -n "native hello")
    hyperfine -N --warmup 5 --runs 50 --style basic "${names[@]}" "${cmds[@]}"
else
    for c in "wharf run --rm hello:wasm" "wharf run --rm hello:linux" "$native"; do
        s=$(date +%s%N)
        for _ in $(seq 20); do $c >/dev/null; done
        echo "$c: $(( ($(date +%s%N) - s) / 20000 )) us per run (20 runs)"
    done
fi

step "Done. Store: $WHARF_ROOT (delete it to start over)"

step "Wasm vs Linux containers, measured side by side: wharf bench --quick"
# Its own temporary store; report.md, results.json and SVG charts go to
# target/bench-report. Ends with the comparison table (markdown).
show wharf bench --quick --output target/bench-report
