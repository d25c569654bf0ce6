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

step "Compose: a Wasm gateway, a Linux backend and PostgreSQL (examples/compose)"
# The db image is PostgreSQL 15 from Debian 12's packages on a base made with
# debootstrap and `wharf import` (cached under ~/.cache/wharf-demo; skipped
# when the image is in the store).
compose=(wharf compose -f examples/compose/compose.yaml)
"${compose[@]}" down -v >/dev/null 2>&1 || true
show bash examples/compose/build-postgres.sh
show "${compose[@]}" build api-gateway backend
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
t=$(date +%s%N)
show "${compose[@]}" up -d
first_up=$(ms_since "$t")
echo "(compose up: $first_up ms, the database initialised on its fresh volume)"
# up returns once every container started; the gateway serves a moment later.
wait_gateway() {
    for _ in $(seq 100); do
        curl -sf -o /dev/null http://127.0.0.1:8080/api/notes && return 0
        sleep 0.1
    done
    echo "demo: the gateway does not answer on 127.0.0.1:8080" >&2
    "${compose[@]}" logs >&2
    return 1
}
wait_gateway
show "${compose[@]}" ps
note="written through the Wasm gateway at $(date +%T)"
printf '$ curl -s -X POST --data "%s" http://127.0.0.1:8080/api/notes\n' "$note"
posted=$(curl -sS -w '\n%{http_code}' -X POST --data "$note" http://127.0.0.1:8080/api/notes)
echo "${posted%$'\n'*}"
if [[ ${posted##*$'\n'} != 201 ]]; then
    echo "demo: the POST through the gateway answered ${posted##*$'\n'}, not 201 Created:" \
        "the gateway must pass the method and body on to the backend (examples/http's /api route)" >&2
    exit 1
fi
show curl -sS --fail-with-body http://127.0.0.1:8080/api/notes

echo "# down keeps the named volume; a new db container finds the data in it"
show "${compose[@]}" down
show wharf volume ls
t=$(date +%s%N)
show "${compose[@]}" up -d
second_up=$(ms_since "$t")
echo "(compose up: $second_up ms, the database already initialised)"
wait_gateway
printf '$ curl -s http://127.0.0.1:8080/api/notes\n'
notes=$(curl -sS --fail-with-body http://127.0.0.1:8080/api/notes)
echo "$notes"
if ! grep -qF "$note" <<<"$notes"; then
    echo "demo: the note did not survive compose down + up" >&2
    exit 1
fi

echo "# each service: its container start as the engine recorded it (created -> running)"
echo "# and the resident memory of its processes (wharf inspect: State.Pid, ConmonPid; /proc)"
pids_of_tree() {
    local pids=("$1") i=0 c
    while ((i < ${#pids[@]})); do
        for c in $(cat /proc/"${pids[i]}"/task/*/children 2>/dev/null); do pids+=("$c"); done
        i=$((i + 1))
    done
    echo "${pids[@]}"
}
kb_of() { # FIELD PID...: the sum of a /proc status (VmRSS) or smaps_rollup (Pss) field
    local field=$1 file sum=0 v p
    shift
    file=status
    [[ $field == Pss ]] && file=smaps_rollup
    for p in "$@"; do
        v=$(awk -v f="$field:" '$1 == f { print $2 }' /proc/"$p"/$file 2>/dev/null)
        sum=$((sum + ${v:-0}))
    done
    echo "$sum"
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
printf '%-12s %-6s %-10s %-10s %-12s %-12s %s\n' SERVICE KIND START PROCESSES RSS PSS "MONITOR RSS"
for svc in api-gateway backend db; do
    info=$(wharf inspect "compose-$svc-1")
    kind=$(jq -r '.[0].Kind' <<<"$info")
    created=$(date -d "$(jq -r '.[0].Created' <<<"$info")" +%s%N)
    started=$(date -d "$(jq -r '.[0].State.StartedAt' <<<"$info")" +%s%N)
    pid=$(jq -r '.[0].State.Pid' <<<"$info")
    monitor=$(jq -r '.[0].State.ConmonPid' <<<"$info")
    start_ms=$(awk -v n=$((started - created)) 'BEGIN { printf "%.1f ms", n / 1e6 }')
    if [[ $pid == "$monitor" ]]; then
        # A Wasm guest runs inside its owner (monitor) process.
        pids=("$pid")
        monitor_rss="(hosts it)"
    else
        read -ra pids <<<"$(pids_of_tree "$pid")"
        monitor_rss=$(mib "$(kb_of VmRSS "$monitor")")
    fi
    printf '%-12s %-6s %-10s %-10s %-12s %-12s %s\n' "$svc" "$kind" "$start_ms" "${#pids[@]}" \
        "$(mib "$(kb_of VmRSS "${pids[@]}")")" "$(mib "$(kb_of Pss "${pids[@]}")")" "$monitor_rss"
done
echo "(summed RSS counts a page shared by several processes once in each; PSS shares it"
echo " out: PostgreSQL's processes share its buffers, so their PSS is the fairer total)"

show "${compose[@]}" down -v
if wharf volume ls -q | grep -qx compose_pgdata; then
    echo "demo: compose down -v left the volume compose_pgdata" >&2
    exit 1
fi

step "A Wasm image built from Rust source inside wharf build (examples/wasm-from-source)"
# A multi-stage Dockerfile: a Debian 12 builder stage (the base image of the
# compose step) apt-installs rustc and compiles main.rs for wasm32-wasi; the
# final stage is FROM scratch with the module. The script prints each step's
# time; the second run is answered from the build cache.
show bash examples/wasm-from-source/build.sh
show bash examples/wasm-from-source/build.sh
show wharf images --filter "reference=wharf-debian*" --filter "reference=wasm-from-source*"
show wharf run --rm wasm-from-source:1 "built by" wharf
show wharf run --rm -e GREETING="set with -e" wasm-from-source:1

step "Done. Store: $WHARF_ROOT (delete it to start over)"

step "Wasm vs Linux containers, measured side by side: wharf bench --quick"
# Its own temporary store; report.md, results.json and SVG charts go to
# target/bench-report. Ends with the comparison table (markdown).
show wharf bench --quick --output target/bench-report
