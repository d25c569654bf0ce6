#!/usr/bin/env bash
# Pull benchmark for "pulling a 100 MB image from a registry on 127.0.0.1
# takes at most 1.2x what `skopeo copy` takes into an OCI layout":
# `wharf pull` of a Wasm image (into an empty store: fetch, verify, compile
# its module into the code cache, tag; layers are unpacked by the first
# run) against `skopeo copy docker://... oci:DIR` (fetch and verify only),
# same image.
# Also times `wharf push` of the image to a fresh repository.
#
#   bash benches/pull.sh             # 10 runs each (RUNS=... to change)
#   SIZE_MB=200 bash benches/pull.sh # image size (default 100, in 4 layers)
#   OUT=dir bash benches/pull.sh     # keep the hyperfine JSON in dir
#   WHARF=path bash benches/pull.sh  # time that wharf binary (no build)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10}
SIZE_MB=${SIZE_MB:-100}
LAYERS=4

# setup.sh builds the example guests into examples/target: not into
# $CARGO_TARGET_DIR, which applies to Wharf's own build below.
env -u CARGO_TARGET_DIR bash scripts/setup.sh
if [[ -n ${WHARF:-} ]]; then
    wharf=$(realpath "$WHARF")
else
    echo "==> cargo build --release"
    cargo build --release --quiet
    wharf=${CARGO_TARGET_DIR:-$PWD/target}/release/wharf
fi

work=$(mktemp -d)
reg_pid=
cleanup() {
    if [[ -n $reg_pid ]]; then kill "$reg_pid" 2>/dev/null || true; wait "$reg_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
out=${OUT:-$work}
mkdir -p "$out"

# A registry on 127.0.0.1 with temporary storage.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 5055)
mkdir -p "$work/registry"
cat >"$work/registry.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$port
YML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
reg_pid=$!
for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null

# The image: hello plus $LAYERS layers of incompressible data, $SIZE_MB MB in all.
ctx=$work/ctx
mkdir -p "$ctx"
cp examples/hello/hello.wasm examples/hello/greeting.txt "$ctx/"
{
    echo "FROM scratch"
    echo "COPY hello.wasm /hello.wasm"
    for i in $(seq $LAYERS); do
        head -c $((SIZE_MB * 1024 * 1024 / LAYERS)) /dev/urandom >"$ctx/data$i.bin"
        echo "COPY data$i.bin /data$i.bin"
    done
    echo 'ENTRYPOINT ["/hello.wasm"]'
} >"$ctx/Dockerfile"
export WHARF_ROOT=$work/src-root
image=127.0.0.1:$port/bench/app:1
echo "==> building and pushing a ${SIZE_MB} MB image ($LAYERS layers) to $image"
"$wharf" build -q --platform wasi/wasm -t "$image" "$ctx" >/dev/null
"$wharf" images
push_start=$(date +%s.%N)
"$wharf" push -q "$image"
push_end=$(date +%s.%N)
awk -v a="$push_start" -v b="$push_end" 'BEGIN { printf "first push: %.2f s\n", b - a }'
unset WHARF_ROOT

# Pull and copy into fresh destinations each run.
hyperfine --runs "$RUNS" --warmup 1 \
    --export-json "$out/pull.json" \
    --prepare "rm -rf $work/wharf-root $work/skopeo-oci" \
    -n "wharf pull" "$wharf --root $work/wharf-root pull -q $image" \
    -n "skopeo copy (oci:)" "skopeo copy -q --src-tls-verify=false docker://$image oci:$work/skopeo-oci:app"

# Push to a fresh repository each run (blobs upload again; no mounts:
# the source store did not pull them).
hyperfine --shell bash --runs "$RUNS" \
    --export-json "$out/push.json" \
    --prepare "true" \
    -n "wharf push (new repository)" \
    "i=\$RANDOM\$RANDOM; WHARF_ROOT=$work/src-root $wharf tag $image 127.0.0.1:$port/push\$i/app:1 && WHARF_ROOT=$work/src-root $wharf push -q 127.0.0.1:$port/push\$i/app:1" \
    -n "skopeo copy (oci: -> new repository)" \
    "skopeo copy -q --dest-tls-verify=false oci:$work/src-root:$image docker://127.0.0.1:$port/sk\$RANDOM\$RANDOM/app:1"

if command -v jq >/dev/null; then
    w=$(jq '.results[] | select(.command=="wharf pull") | .median' "$out/pull.json")
    s=$(jq '.results[] | select(.command=="skopeo copy (oci:)") | .median' "$out/pull.json")
    echo "pull: wharf median ${w}s, skopeo median ${s}s, ratio $(awk -v w="$w" -v s="$s" 'BEGIN { printf "%.2f", w / s }') (goal <= 1.2)"
fi
