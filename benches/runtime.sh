#!/usr/bin/env bash
# `wharf-runtime run` vs `crun run` of the same static hello bundle
# (examples/hello/hello, a static musl binary), measured with hyperfine.
#
# crun refuses this machine's hybrid cgroup layout, so it runs in a private
# mount namespace with the empty cgroup2 mount removed; wharf-runtime is
# measured both bare and inside the same wrapper, so the wrapper's cost
# (unshare + sh) can be told apart.
#
# Usage: [RUNS=200] benches/runtime.sh [hyperfine args...]   (root; scripts/setup.sh first)
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release -q -p wharf-runtime
rt=$CARGO_TARGET_DIR/release/wharf-runtime
hello=examples/hello/hello
[[ -x $hello ]] || { echo "missing $hello: run scripts/setup.sh" >&2; exit 1; }
command -v crun >/dev/null || { echo "missing crun: run scripts/setup.sh" >&2; exit 1; }

tmp=$(mktemp -d /tmp/wharf-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
bundle=$tmp/bundle
# No terminal, just the static binary; the rest is the default spec (the
# same for both runtimes).
plain_hello_bundle "$bundle" "$rt"

# Sanity: both print the greeting.
"$rt" --root "$tmp/wr" run --bundle "$bundle" check | grep -q "Hello from Linux!"
unshare -m --propagation private sh -c \
    "umount /sys/fs/cgroup/unified 2>/dev/null; crun --root $tmp/cr run --bundle $bundle check" |
    grep -q "Hello from Linux!"

hyperfine -N --warmup 20 --runs "${RUNS:-200}" "$@" \
    -n "wharf-runtime run" \
    "$rt --root $tmp/wr run --bundle $bundle b1" \
    -n "crun run (private mount ns wrapper)" \
    "unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; crun --root $tmp/cr run --bundle $bundle b2 >/dev/null'" \
    -n "wharf-runtime run (same wrapper)" \
    "unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; $rt --root $tmp/wr run --bundle $bundle b3 >/dev/null'"
