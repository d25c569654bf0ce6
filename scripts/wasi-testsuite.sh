#!/usr/bin/env bash
# Runs the official WASI testsuite (vendored in tests/wasi-testsuite/) under
# wasmtime and under Wharf, and compares the two.
#
#   scripts/wasi-testsuite.sh [--wharf PATH] [--wasmtime PATH|none]
#                             [--suite rust-p1|rust-p3|c|as|all]
#                             [--timeout SECONDS] [--strict]
#
# Builds the tests from source (cargo, clang, npm + asc; into target/wasi-testsuite), then
# for each test prints "PASS|FAIL NAME [wasmtime: PASS|FAIL]" (the first word is
# Wharf's result) and, per suite, a summary: wasmtime passes, Wharf passes, and
# the tests wasmtime passes but Wharf fails with the first lines of Wharf's
# stderr. Exits 1 if Wharf fails a test that wasmtime passes, 2 on usage or
# build errors. --strict also checks exit code 0 for specs without a "wait"
# (upstream leaves it unchecked). --wasmtime none compares with wasmtime
# 48.0.8's results recorded in tests/wasi-testsuite/expected.txt, which also
# names the tests a container cannot pass (fd 3 is always its root).
# See tests/wasi-testsuite/README.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
wts="$here/tests/wasi-testsuite"
target="$here/target/wasi-testsuite"

wharf="$here/target/release/wharf"
wasmtime="$(command -v wasmtime || echo "$HOME/.cargo/bin/wasmtime")"
suite="all"
timeout_s=20
strict=()

usage() {
    sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit "$1"
}

while [ $# -gt 0 ]; do
    case "$1" in
        --wharf) wharf="${2:?--wharf needs a path}"; shift 2 ;;
        --wasmtime) wasmtime="${2:?--wasmtime needs a path}"; shift 2 ;;
        --suite) suite="${2:?--suite needs a name}"; shift 2 ;;
        --timeout) timeout_s="${2:?--timeout needs seconds}"; shift 2 ;;
        --strict) strict=(--strict); shift ;;
        -h|--help) usage 0 ;;
        *) echo "wasi-testsuite.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done

case "$suite" in
    rust-p1|rust-p3|c|as|all) ;;
    *) echo "wasi-testsuite.sh: --suite must be rust-p1, rust-p3, c, as or all (got '$suite')" >&2; exit 2 ;;
esac
for bin in "$wharf" "$wasmtime"; do
    if [ "$bin" != none ] && [ ! -x "$bin" ]; then
        echo "wasi-testsuite.sh: '$bin' is not an executable; pass --wharf/--wasmtime (--wasmtime none: compare with wasmtime's recorded results)" >&2
        exit 2
    fi
done
# Absolute paths, so the summary and the runner do not depend on the caller's directory.
wharf="$(cd "$(dirname "$wharf")" && pwd)/$(basename "$wharf")"
if [ "$wasmtime" != none ]; then
    wasmtime="$(cd "$(dirname "$wasmtime")" && pwd)/$(basename "$wasmtime")"
fi
command -v python3 >/dev/null || { echo "wasi-testsuite.sh: python3 is needed to run the tests" >&2; exit 2; }

# A private Wharf store, removed on exit with everything else we create.
store="$(mktemp -d /tmp/wts-store.XXXXXX)"
summary="$(mktemp /tmp/wts-summary.XXXXXX)"
cleanup() { rm -rf "$store" "$summary"; }
trap cleanup EXIT

status=0

# run_suite NAME WASI_VERSION SPEC_DIR WASM_DIR PLATFORM TEST...
run_suite() {
    local name="$1" version="$2" spec_dir="$3" wasm_dir="$4" platform="$5"
    shift 5
    local names
    names="$(IFS=,; echo "$*")"
    echo "== $name: running $# tests (timeout ${timeout_s}s each) =="
    local rc=0
    python3 "$wts/run_tests.py" --suite "$name" --wasi-version "$version" \
        --spec-dir "$spec_dir" --wasm-dir "$wasm_dir" --names "$names" \
        --wharf "$wharf" --wasmtime "$wasmtime" --store "$store" \
        --platform "$platform" --timeout "$timeout_s" --summary "$summary" \
        "${strict[@]}" || rc=$?
    if [ "$rc" -eq 1 ]; then
        status=1
    elif [ "$rc" -ne 0 ]; then
        echo "wasi-testsuite.sh: the runner failed for $name (exit $rc)" >&2
        exit 2
    fi
}

# test_names DIR EXT: the basenames of DIR/*.EXT, sorted.
test_names() {
    local f
    for f in "$1"/*."$2"; do
        [ -e "$f" ] || continue
        f="${f##*/}"
        echo "${f%."$2"}"
    done | sort
}

# cargo_build DIR TARGET: a quiet release build; the log is shown only on failure
# (the vendored upstream sources compile with many warnings).
cargo_build() {
    local log
    if ! log="$(cd "$1" && cargo build --quiet --release --target "$2" \
            --target-dir "$target" 2>&1)"; then
        echo "$log" >&2
        echo "wasi-testsuite.sh: building $1 for $2 failed" >&2
        exit 2
    fi
}

suite_rust_p1() {
    local dir="$wts/rust/wasm32-wasip1"
    echo "== rust-p1: building (cargo --release, wasm32-wasip1) =="
    cargo_build "$dir" wasm32-wasip1
    local names
    mapfile -t names < <(test_names "$dir/src/bin" rs)
    for n in "${names[@]}"; do
        if [ ! -f "$target/wasm32-wasip1/release/$n.wasm" ]; then
            echo "wasi-testsuite.sh: building rust-p1 did not produce $n.wasm" >&2
            exit 2
        fi
    done
    run_suite rust-p1 wasm32-wasip1 "$dir/src/bin" "$target/wasm32-wasip1/release" \
        wasi/wasm "${names[@]}"
}

suite_rust_p3() {
    local dir="$wts/rust/wasm32-wasip3"
    if [ ! -f "$dir/Cargo.toml" ]; then
        echo "== rust-p3: not vendored; skipped =="
        return
    fi
    echo "== rust-p3: building (cargo --release, wasm32-wasip2 components) =="
    cargo_build "$dir" wasm32-wasip2
    local names=() n
    while read -r n; do
        if [ -f "$target/wasm32-wasip2/release/$n.wasm" ]; then
            names+=("$n")
        else
            echo "wasi-testsuite.sh: building rust-p3 did not produce $n.wasm" >&2
            exit 2
        fi
    done < <(test_names "$dir/src/bin" rs)
    run_suite rust-p3 wasm32-wasip3 "$dir/src/bin" "$target/wasm32-wasip2/release" \
        wasip2/wasm "${names[@]}"
}

suite_c() {
    local dir="$wts/c"
    local cc="${WASI_CC:-}" sysroot_args=()
    if [ -z "$cc" ]; then
        for c in clang-14 clang; do
            if command -v "$c" >/dev/null; then cc="$c"; break; fi
        done
    fi
    # Debian's wasi-libc installs into the multiarch paths clang already
    # searches (/usr/include/wasm32-wasi, /usr/lib/wasm32-wasi); elsewhere
    # point WASI_SYSROOT at a wasi-sdk sysroot.
    if [ -n "${WASI_SYSROOT:-}" ]; then
        sysroot_args=(--sysroot="$WASI_SYSROOT")
    elif [ ! -f /usr/lib/wasm32-wasi/libc.a ]; then
        cc=""
    fi
    if [ -z "$cc" ]; then
        echo "== c: skipped: needs clang, wasm-ld and wasi-libc" \
            "(Debian: apt-get install clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32," \
            "or set WASI_CC and WASI_SYSROOT) =="
        return
    fi
    echo "== c: building ($cc --target=wasm32-wasi) =="
    local out="$target/c"
    mkdir -p "$out"
    local names=() src n
    for src in "$dir"/src/*.c; do
        n="$(basename "$src" .c)"
        # Upstream's build.py compiles with just the target: `$CC --target=... SRC -o DST`.
        if ! "$cc" --target=wasm32-wasi "${sysroot_args[@]}" -o "$out/$n.wasm" "$src"; then
            echo "wasi-testsuite.sh: compiling $src with $cc failed" >&2
            exit 2
        fi
        names+=("$n")
    done
    run_suite c wasm32-wasip1 "$dir/src" "$out" wasi/wasm "${names[@]}"
}

suite_as() {
    local dir="$wts/assemblyscript"
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        echo "== as: skipped: needs node and npm (Debian: apt-get install nodejs npm) =="
        return
    fi
    # The compiler (assemblyscript) and the WASI bindings the tests import
    # (@assemblyscript/wasi-shim) come from npm at the versions pinned by the
    # vendored package-lock.json, installed outside the source tree. asc runs
    # from there, where upstream's asconfig.json finds the shim's config
    # under ./node_modules.
    local npm_dir="$target/as-npm" out="$target/as" log
    mkdir -p "$npm_dir" "$out"
    if ! cmp -s "$dir/package-lock.json" "$npm_dir/package-lock.json" \
            || [ ! -x "$npm_dir/node_modules/.bin/asc" ]; then
        echo "== as: installing assemblyscript (npm ci into $npm_dir) =="
        cp "$dir/package.json" "$dir/package-lock.json" "$npm_dir/"
        if ! log="$(cd "$npm_dir" && npm ci --no-audit --no-fund 2>&1)"; then
            echo "$log" >&2
            # A failed install must not pass for a good one next time.
            rm -f "$npm_dir/package-lock.json"
            echo "wasi-testsuite.sh: npm ci in $npm_dir failed" >&2
            exit 2
        fi
    fi
    cp "$dir/asconfig.json" "$npm_dir/"
    echo "== as: building (asc, wasm32-wasip1 modules) =="
    local names=() src n
    for src in "$dir"/src/*.ts; do
        n="$(basename "$src" .ts)"
        # Upstream's build compiles each test alone: `asc SRC -o DST` with its
        # asconfig.json. Unchanged sources are not recompiled.
        if [ ! "$out/$n.wasm" -nt "$src" ] || [ ! "$out/$n.wasm" -nt "$npm_dir/package-lock.json" ]; then
            if ! log="$(cd "$npm_dir" && node node_modules/assemblyscript/bin/asc.js "$src" \
                    -o "$out/$n.wasm" --config asconfig.json 2>&1)"; then
                echo "$log" >&2
                rm -f "$out/$n.wasm"
                echo "wasi-testsuite.sh: compiling $src with asc failed" >&2
                exit 2
            fi
        fi
        names+=("$n")
    done
    run_suite as wasm32-wasip1 "$dir/src" "$out" wasi/wasm "${names[@]}"
}

case "$suite" in
    rust-p1) suite_rust_p1 ;;
    rust-p3) suite_rust_p3 ;;
    c) suite_c ;;
    as) suite_as ;;
    all) suite_rust_p1; suite_rust_p3; suite_c; suite_as ;;
esac

echo
echo "==================== summary ===================="
if [ "$wasmtime" = none ]; then
    echo "wasmtime: none (its recorded results, expected.txt)   wharf: $wharf"
else
    echo "wasmtime: $("$wasmtime" --version)   wharf: $wharf"
fi
cat "$summary"
if [ "$status" -ne 0 ]; then
    echo "Wharf fails tests that wasmtime passes."
fi
exit "$status"
