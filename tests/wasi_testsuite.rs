//! The official WASI testsuite (vendored in tests/wasi-testsuite/, built
//! from source by scripts/wasi-testsuite.sh): every test wasmtime 48.0.8
//! passes must pass in a Wharf container, run as a user would run it
//! (`wharf run --rm -i -v DIR:/ -e K=V IMAGE ARGS`). With wasmtime on this
//! machine the two are run side by side; without it (CI), wasmtime's
//! results recorded in tests/wasi-testsuite/expected.txt stand in.

mod common;

use std::process::Command;

use common::repo_root;

fn suite(name: &str) {
    let wasmtime = std::env::var("HOME")
        .map(|h| std::path::PathBuf::from(h).join(".cargo/bin/wasmtime"))
        .ok()
        .filter(|p| p.is_file())
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|| "none".into());
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/wasi-testsuite.sh"))
        .args([
            "--suite",
            name,
            "--strict",
            "--wharf",
            env!("CARGO_BIN_EXE_wharf"),
        ])
        .args(["--wasmtime", &wasmtime])
        .output()
        .expect("running scripts/wasi-testsuite.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the WASI testsuite ({name}) found tests wasmtime passes and Wharf fails (exit {:?}):\n{stdout}\n{stderr}",
        out.status.code()
    );
    // Tests ran (a suite that built nothing must not pass silently).
    assert!(
        stdout.lines().any(|l| l.starts_with("PASS ")),
        "{stdout}\n{stderr}"
    );
    eprintln!("{stdout}");
}

#[test]
fn rust_wasi_p1_tests() {
    suite("rust-p1");
}

#[test]
fn rust_wasi_p3_tests() {
    suite("rust-p3");
}

#[test]
fn c_wasi_p1_tests() {
    suite("c");
}

#[test]
fn assemblyscript_wasi_p1_tests() {
    suite("as");
}
