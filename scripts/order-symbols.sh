#!/usr/bin/env bash
# Regenerates wharf.order: the functions a warm `wharf run --rm` executes,
# which build.rs hands to the linker so that they sit together in the text
# segment (see build.rs for why). Run it after changes that rename or add
# much code on the start path, then rebuild; the numbers are in docs/bench.md.
#
#   bash scripts/order-symbols.sh
#
# How: callgrind records every function a run executes. The Wasm start comes
# first (it is the one measured against a 3 ms / 10 MB goal), then what a
# Linux start adds. valgrind cannot follow a Linux container's init all the
# way (it lacks the new mount API), so that part covers the engine, the
# runtime's setup and the intermediate process.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v valgrind >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q valgrind >/dev/null
fi
bash scripts/setup.sh >/dev/null
# The release profile strips symbols, and callgrind needs them: this one
# link keeps them (only the binary is linked again, nothing recompiled).
cargo rustc --release --quiet --bin wharf -- -C strip=none
target=${CARGO_TARGET_DIR:-$PWD/target}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Profile a copy: the ordered build replaces the binary in target/.
wharf=$work/wharf
cp "$target/release/wharf" "$wharf"
export WHARF_ROOT=$work/root

"$wharf" build -q --platform wasi/wasm -t hello:wasm examples/hello >/dev/null
"$wharf" build -q -f examples/hello/Dockerfile.linux --platform linux/amd64 -t hello:linux examples/hello >/dev/null
# Without a network: a bridge's namespace would stay wired after the run
# (the pool), and deleting the store under it would leave it on the host.
grind() {
    valgrind --tool=callgrind --demangle=no --trace-children=yes \
        --callgrind-out-file="$1.%p" "$wharf" run --rm --network none "$2" >/dev/null 2>&1 || true
}
# valgrind shows wasmtime other CPU features, so its first run compiles the
# module for them; the second run is the warm start.
grind "$work/cold" hello:wasm
grind "$work/wasm" hello:wasm
grind "$work/linux" hello:linux

python3 - "$wharf" "$work" >wharf.order <<'PY'
import glob, re, sys

binary, work = sys.argv[1], sys.argv[2]

def functions(path):
    """Names of the functions of `binary` that ran, from a callgrind file."""
    objects, names, owner, current = {}, {}, {}, None
    for line in open(path, errors="replace"):
        m = re.match(r"^(c?ob)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if m:
            if m.group(3):
                objects[m.group(2)] = m.group(3)
            if m.group(1) == "ob":
                current = objects.get(m.group(2))
            continue
        m = re.match(r"^(c?fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if m:
            if m.group(3):
                names[m.group(2)] = m.group(3)
            if m.group(1) == "fn":
                owner.setdefault(m.group(2), current)
    return [names[i] for i, o in owner.items()
            if o == binary and i in names and not names[i].startswith("0x")]

seen = set()
for pattern in ("wasm.*", "linux.*"):
    for path in sorted(glob.glob(f"{work}/{pattern}")):
        for name in functions(path):
            if name not in seen:
                seen.add(name)
                print(name)
PY
n=$(wc -l <wharf.order)
if [ "$n" -lt 1000 ]; then
    git checkout -- wharf.order 2>/dev/null || true
    echo "only $n functions seen (callgrind failed?); wharf.order left as it was" >&2
    exit 1
fi
echo "wharf.order: $n functions; rebuild with: cargo build --release"
