#!/usr/bin/env bash
# Start-latency benchmark for "Wasm container start < 3 ms median, < 10 MB
# peak RSS": `wharf run --rm hello:wasm` against the native static binary,
# `wasmtime run` of a precompiled module (if wasmtime is on PATH) and crun
# running the static binary (if crun is installed).
#
#   bash benches/start.sh            # 200 runs each (RUNS=..., WARMUP=... to change)
#   OUT=dir bash benches/start.sh    # keep the hyperfine JSON in dir
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
RUNS=${RUNS:-200}
WARMUP=${WARMUP:-20}
RSS_RUNS=${RSS_RUNS:-20}

bash scripts/setup.sh
echo "==> cargo build --release"
cargo build --release --quiet
wharf=$PWD/target/release/wharf
native=$PWD/examples/hello/hello

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=${OUT:-$work}
mkdir -p "$out"
export WHARF_ROOT=$work/root

echo "==> building hello:wasm into $WHARF_ROOT"
"$wharf" build -q --platform wasi/wasm -t hello:wasm examples/hello >/dev/null
# Warm the compiled-code cache (and check it works).
"$wharf" run --rm hello:wasm >/dev/null

names=("wharf run --rm hello:wasm" "native hello")
cmds=("$wharf run --rm hello:wasm" "$native")

if command -v wasmtime >/dev/null; then
    wasmtime compile examples/hello/hello.wasm -o "$work/hello.cwasm"
    names+=("wasmtime run (precompiled)")
    cmds+=("wasmtime run --allow-precompiled $work/hello.cwasm")
else
    echo "note: wasmtime not on PATH; skipping the wasmtime comparison"
fi

if command -v crun >/dev/null; then
    bundle=$work/bundle
    plain_hello_bundle "$bundle" crun
    # crun on this machine needs its own mount namespace without the hybrid
    # cgroup2 mount.
    crun_cmd="unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; crun run --bundle $bundle wharf-bench-$$'"
    if sh -c "$crun_cmd" >/dev/null 2>&1; then
        names+=("crun run (static hello)")
        cmds+=("$crun_cmd")
    else
        echo "note: crun could not run the bundle here; skipping crun"
    fi
else
    echo "note: crun not installed; skipping the crun comparison"
fi

if ! command -v hyperfine >/dev/null; then
    echo "hyperfine is required (apt-get install hyperfine)" >&2
    exit 1
fi

args=()
for n in "${names[@]}"; do args+=(-n "$n"); done
echo "==> hyperfine ($RUNS runs, $WARMUP warm-up)"
hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --style basic \
    --export-json "$out/start.json" "${args[@]}" "${cmds[@]}"

# Peak RSS (KB): median of RSS_RUNS runs under /usr/bin/time.
rss() {
    local vals=() i v
    for ((i = 0; i < RSS_RUNS; i++)); do
        v=$(/usr/bin/time -f '%M' -o "$work/rss" sh -c "exec $1" >/dev/null 2>&1; tail -n1 "$work/rss")
        vals+=("$v")
    done
    printf '%s\n' "${vals[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2))}'
}

echo
echo "| command | median ms | mean ms | p95 ms | peak RSS KB (median of $RSS_RUNS) |"
echo "|---|---:|---:|---:|---:|"
for i in "${!cmds[@]}"; do
    stats=$(jq -r --argjson i "$i" '
        .results[$i] as $r
        | ($r.times | sort) as $t
        | ($t | length) as $n
        | [($r.median * 1000), ($r.mean * 1000), ($t[((($n * 95 / 100) | ceil) - 1)] * 1000)]
        | map(. * 100 | round / 100 | tostring) | join(" | ")' "$out/start.json")
    if [ -x /usr/bin/time ]; then kb=$(rss "${cmds[$i]}"); else kb="n/a"; fi
    echo "| ${names[$i]} | $stats | $kb |"
done
echo
echo "Target: wharf run --rm hello:wasm median < 3 ms, peak RSS < 10240 KB."
[ -n "${OUT:-}" ] && echo "hyperfine JSON: $out/start.json"
true
