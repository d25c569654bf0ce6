#!/usr/bin/env bash
# Prepares a Debian machine for Wharf's tests and demo. Idempotent and quiet:
# prints nothing unless something fails.
#   - apt packages the tests use (installed only when missing)
#   - the Rust targets the example guests build for
#   - the example guests (examples/), built in release for each target and
#     copied next to their Dockerfiles
set -euo pipefail
cd "$(dirname "$0")/.."

log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Runs a command silently; on failure shows its output and stops.
quiet() {
    if ! "$@" >"$log" 2>&1; then
        echo "setup.sh: failed: $*" >&2
        cat "$log" >&2
        exit 1
    fi
}

# --- apt packages --------------------------------------------------------
# package -> a file it installs (to tell whether it is present)
declare -A want=(
    [skopeo]=/usr/bin/skopeo
    [umoci]=/usr/bin/umoci
    [busybox-static]=/bin/busybox
    [hyperfine]=/usr/bin/hyperfine
    # the HTTP load generator of `wharf bench`
    [wrk]=/usr/bin/wrk
    [jq]=/usr/bin/jq
    [time]=/usr/bin/time
    # libcontainer links libseccomp (wharf-linux)
    [libseccomp-dev]=/usr/include/seccomp.h
    [pkg-config]=/usr/bin/pkg-config
    # peers the tests drive: containerd (ctr), a registry, other OCI runtimes
    [containerd]=/usr/bin/containerd
    [docker-registry]=/usr/bin/docker-registry
    [crun]=/usr/bin/crun
    [runc]=/usr/sbin/runc
    [iproute2]=/usr/sbin/ip
    [curl]=/usr/bin/curl
    # container networking (wharf-net): netavark drives bridges/NAT/ports,
    # aardvark-dns answers container names
    [netavark]=/usr/lib/podman/netavark
    [aardvark-dns]=/usr/lib/podman/aardvark-dns
    # netavark drives the firewall with the iptables command (nf_tables)
    [iptables]=/usr/sbin/iptables
    # the WASI testsuite's C tests (tests/wasi-testsuite) build with clang
    # for wasm32-wasi against Debian's wasi-libc
    [clang-14]=/usr/bin/clang-14
    [lld-14]=/usr/bin/lld-14
    [wasi-libc]=/usr/lib/wasm32-wasi/libc.a
    [libclang-rt-14-dev-wasm32]=/usr/lib/llvm-14/lib/clang/14.0.6/lib/wasi/libclang_rt.builtins-wasm32.a
    [python3]=/usr/bin/python3
)
# The WASI testsuite's AssemblyScript tests build with npm (the assemblyscript
# compiler, node >= 16). Any node that brings npm will do: a NodeSource nodejs
# conflicts with Debian's npm package, so Debian's pair is wanted only when
# there is no npm at all.
if ! command -v npm >/dev/null; then
    want[nodejs]=/usr/bin/node
    want[npm]=/usr/bin/npm
fi
missing=()
for pkg in "${!want[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$pkg")
    fi
done
if ((${#missing[@]})); then
    if ! command -v apt-get >/dev/null; then
        echo "setup.sh: missing packages (${missing[*]}) and no apt-get: install them by hand" >&2
        exit 1
    fi
    SUDO=()
    if ((EUID != 0)); then SUDO=(sudo); fi
    export DEBIAN_FRONTEND=noninteractive
    quiet "${SUDO[@]}" apt-get update -qq
    quiet "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# --- Rust targets ----------------------------------------------------------
targets=(wasm32-wasip1 wasm32-wasip2 x86_64-unknown-linux-musl)
installed=$(rustup target list --installed)
for t in "${targets[@]}"; do
    if ! grep -qx "$t" <<<"$installed"; then
        quiet rustup target add "$t"
    fi
done

# --- example guests ------------------------------------------------------------
for t in "${targets[@]}"; do
    quiet cargo build --release --manifest-path examples/Cargo.toml --target "$t" -p hello -p cpu
done
# http-hello: a wasi:http component (its library) and a native server (its binary).
quiet cargo build --release --manifest-path examples/Cargo.toml --target wasm32-wasip2 -p http-hello --lib
quiet cargo build --release --manifest-path examples/Cargo.toml --target x86_64-unknown-linux-musl -p http-hello --bin http-hello
# http-p3: a wasi:http/service component (WASI 0.3).
quiet cargo build --release --manifest-path examples/Cargo.toml --target wasm32-wasip2 -p http-p3 --lib
# cli-p3: a WASI 0.3 command component.
quiet cargo build --release --manifest-path examples/Cargo.toml --target wasm32-wasip2 -p cli-p3 --lib
# notes-backend: the Linux service of examples/compose (a PostgreSQL client).
quiet cargo build --release --manifest-path examples/Cargo.toml --target x86_64-unknown-linux-musl -p notes-backend
out=examples/target
# Copies only when the content changed, so timestamps (and the tests' build
# contexts) stay put on re-runs.
put() {
    if ! cmp -s "$1" "$2"; then
        cp "$1" "$2.tmp.$$"
        mv -f "$2.tmp.$$" "$2"
    fi
}
for ex in hello cpu; do
    put "$out/wasm32-wasip1/release/$ex.wasm" "examples/$ex/$ex.wasm"
    put "$out/wasm32-wasip2/release/$ex.wasm" "examples/$ex/$ex-p2.wasm"
    put "$out/x86_64-unknown-linux-musl/release/$ex" "examples/$ex/$ex"
done
put "$out/wasm32-wasip2/release/http_hello.wasm" examples/http/http-hello.wasm
put "$out/x86_64-unknown-linux-musl/release/http-hello" examples/http/http-hello
put "$out/wasm32-wasip2/release/http_p3.wasm" examples/http-p3/http-p3.wasm
put "$out/wasm32-wasip2/release/cli_p3.wasm" examples/cli-p3/cli-p3.wasm
put "$out/x86_64-unknown-linux-musl/release/notes-backend" examples/compose/backend/notes-backend
