#!/usr/bin/env bash
# THE test command: prepares the machine (scripts/setup.sh), then checks
# formatting, lints and runs every test. Extra arguments go to `cargo test`,
# e.g. `bash scripts/test.sh --test wasm_run` or `bash scripts/test.sh -- trap`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --quiet --workspace --all-targets -- -D warnings
echo "==> cargo test"
cargo test --workspace "$@"
