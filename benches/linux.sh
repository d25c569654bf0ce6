#!/usr/bin/env bash
# Linux container start, back to back (issue 3's "at most 1.5x crun"):
#   - wharf run --rm hello:linux
#   - crun run of a plain `crun spec` bundle of the same static binary
#   - crun run, and wharf-runtime run, of that binary with the very spec
#     `wharf run` writes for hello:linux (Docker's defaults: seccomp profile,
#     capabilities, masked paths, cgroup namespace, /etc files), over the
#     plain rootfs instead of an overlay.
#   - the floor (benches/floor.c, built with cc): new namespaces, an overlay
#     of the same snapshot, pivot_root, /proc and exec, and nothing else.
# The spec pair tells Wharf's own cost apart from the cost of Docker's
# defaults; the floor tells what any runtime must pay on this machine.
#
# crun refuses this machine's hybrid cgroup layout, so the whole hyperfine run
# happens in a private mount namespace without the cgroup2 mount: every
# command runs bare there, with no wrapper to subtract.
#
#   bash benches/linux.sh              # 200 runs each (RUNS=..., WARMUP=... to change)
#   OUT=dir bash benches/linux.sh      # keep the hyperfine JSON in dir
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
RUNS=${RUNS:-200}
WARMUP=${WARMUP:-20}

bash scripts/setup.sh
echo "==> cargo build --release"
cargo build --release --quiet -p wharf -p wharf-runtime
bin=${CARGO_TARGET_DIR:-$PWD/target}/release
wharf=$bin/wharf
runtime=$bin/wharf-runtime
for tool in crun hyperfine jq cc; do
    command -v "$tool" >/dev/null || { echo "missing $tool: run scripts/setup.sh" >&2; exit 1; }
done

work=$(mktemp -d /tmp/wharf-bench.XXXXXX)
export WHARF_ROOT=$work/root
cleanup() {
    # The store's runtime state lives on tmpfs, named after a hash of the
    # store's path (Engine::runtime_dir).
    local tag
    tag=$(printf '%s' "$(realpath "$WHARF_ROOT" 2>/dev/null)" | sha256sum | cut -c1-16)
    rm -rf "$work" "/run/wharf-$tag.run" "/dev/shm/wharf-$tag.run"
}
trap cleanup EXIT
out=${OUT:-$work}
mkdir -p "$out"

echo "==> building hello:linux into $WHARF_ROOT"
"$wharf" build -q -f examples/hello/Dockerfile.linux -t hello:linux examples/hello >/dev/null

# The plain bundle, as crun writes it.
plain=$work/plain
plain_hello_bundle "$plain" crun '.root.readonly = true'

# Wharf's spec for the same image: a kept (not --rm) container's config.json
# and /etc files, pointed at the plain rootfs.
docker=$work/docker
mkdir -p "$docker"
# Without a network, like the bundles it is compared with (a bridge would
# also leave its pool's namespace behind when the store is deleted).
"$wharf" run --name spec --network none hello:linux >/dev/null
record=$(dirname "$("$wharf" inspect spec | jq -r '.[0].LogPath')")
cp "$record"/{hosts,hostname,resolv.conf} "$docker/"
jq --arg rec "$record" --arg dir "$docker" --arg root "$plain/rootfs" \
    --arg version "$(jq -r .ociVersion "$plain/config.json")" '
    .mounts |= map(if (.source // "") | startswith($rec) then .source |= ($dir + ltrimstr($rec)) else . end)
    | .ociVersion = $version
    | .root = {path: $root, readonly: true}
    | .process.terminal = false
    | .linux.cgroupsPath = "/wharf-bench/docker"' \
    "$record/config.json" >"$docker/config.json"
"$wharf" rm spec >/dev/null

# The floor, over the image's own snapshot (the lower layer of its overlay).
cc -O2 -o "$work/floor" benches/floor.c
snapshot=$(dirname "$(ls "$WHARF_ROOT"/snapshots/*/hello | head -1)")
mkdir -p "$work/floor-run"

names=("wharf run --rm --network none hello:linux" "crun run (plain bundle)" "crun run (Wharf's spec)" "wharf-runtime run (Wharf's spec)" "floor (namespaces, overlay, pivot_root, exec)")
cmds=("$wharf run --rm --network none hello:linux"
    "crun --root $work/cr run --bundle $plain b1"
    "crun --root $work/cr run --bundle $docker b2"
    "$runtime --root $work/wr run --bundle $docker b3"
    "$work/floor $snapshot $work/floor-run /hello")
args=()
for n in "${names[@]}"; do args+=(-n "$n"); done
# printf %q keeps each command one word for the inner shell.
inner="umount /sys/fs/cgroup/unified 2>/dev/null; for c in$(printf ' %q' "${cmds[@]}"); do \$c | grep -q 'Hello from Linux!' || { echo \"failed: \$c\" >&2; exit 1; }; done;"
inner+=" exec hyperfine -N --warmup $WARMUP --runs $RUNS --style basic --export-json $out/linux.json$(printf ' %q' "${args[@]}" "${cmds[@]}")"
echo "==> hyperfine ($RUNS runs, $WARMUP warm-up, back to back, in a private mount namespace)"
unshare -m --propagation private sh -c "$inner"

echo
echo "| command | median ms | mean ms | vs crun (plain) | vs crun (Wharf's spec) |"
echo "|---|---:|---:|---:|---:|"
jq -r '
    (.results[1].median) as $plain | (.results[2].median) as $docker
    | .results[] | "| \(.command) | \(.median * 1000 * 100 | round / 100) | \(.mean * 1000 * 100 | round / 100) | \(.median / $plain * 100 | round / 100)x | \(.median / $docker * 100 | round / 100)x |"' \
    "$out/linux.json"
echo
echo "Goal (issue 3): wharf run --rm at most 1.5x crun run."
[ -n "${OUT:-}" ] && echo "hyperfine JSON: $out/linux.json"
true
