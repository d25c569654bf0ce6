//! Shared helpers for the wharf-wasm integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use wharf_wasm::{Guest, Outcome, Program, Runtime};

pub const CHILD_ENV: &str = "WHARF_WASM_TEST_CHILD";

/// A runtime with its cache in a fresh temporary directory.
pub fn runtime() -> (Runtime, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::new(dir.path().join("cache")).unwrap();
    (rt, dir)
}

/// Compiles WAT text through the file path (exercises prepare_file + .wat).
pub fn prepare_wat(rt: &Runtime, dir: &Path, name: &str, wat: &str) -> Program {
    let path = dir.join(format!("{name}.wat"));
    std::fs::write(&path, wat).unwrap();
    rt.prepare_file(&path, None).unwrap()
}

pub fn run_wat(wat: &str, guest: &Guest) -> Outcome {
    let (rt, dir) = runtime();
    let program = prepare_wat(&rt, dir.path(), "guest", wat);
    rt.run(&program, guest).unwrap()
}

/// True when this process is the re-executed child for test `name`.
pub fn is_child(name: &str) -> bool {
    std::env::var(CHILD_ENV).as_deref() == Ok(name)
}

/// Re-runs the current test binary with only test `name`, in child mode, so
/// the guest's writes to fd 1 can be captured. Returns (exit code, stdout).
pub fn spawn_child(name: &str, extra_env: &[(&str, &str)]) -> (i32, String, String) {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, name)
        .env("WHARF_WASM_SHOULD_NOT_LEAK", "secret");
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The text between the guest's `BEGIN\n` and `END\n` markers.
pub fn between_markers(stdout: &str) -> &str {
    let start = stdout.find("BEGIN\n").expect("guest printed BEGIN") + "BEGIN\n".len();
    let end = stdout[start..].find("END\n").expect("guest printed END") + start;
    &stdout[start..end]
}

/// A WASI p1 guest that opens `path` relative to preopen fd `dirfd`.
/// `write == false`: read it; `write == true`: create/truncate it and write
/// "x". Exits 0 on success, the errno if the open fails, 99 if the read or
/// write fails. (WASI p1 exit codes must be below 126.)
pub fn open_guest(dirfd: u32, path: &str, write: bool) -> String {
    let len = path.len();
    let escaped: String = path.bytes().map(|b| format!("\\{b:02x}")).collect();
    // oflags: CREAT=1, TRUNC=8. rights: FD_READ=2, FD_WRITE=64.
    let (oflags, rights) = if write { (9, 64) } else { (0, 2) };
    let after_open = if write {
        r#"
    (i32.store (i32.const 32) (i32.const 48))
    (i32.store (i32.const 36) (i32.const 1))
    (local.set $err (call $fd_write (i32.load (i32.const 16)) (i32.const 32) (i32.const 1) (i32.const 40)))
    (if (local.get $err) (then (call $exit (i32.const 99))))"#
    } else {
        r#"
    (i32.store (i32.const 32) (i32.const 1024))
    (i32.store (i32.const 36) (i32.const 1024))
    (local.set $err (call $fd_read (i32.load (i32.const 16)) (i32.const 32) (i32.const 1) (i32.const 40)))
    (if (local.get $err) (then (call $exit (i32.const 99))))"#
    };
    format!(
        r#"(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 48) "x")
  (data (i32.const 256) "{escaped}")
  (func (export "_start")
    (local $err i32)
    (local.set $err (call $path_open (i32.const {dirfd}) (i32.const 1)
      (i32.const 256) (i32.const {len}) (i32.const {oflags})
      (i64.const {rights}) (i64.const {rights}) (i32.const 0) (i32.const 16)))
    (if (local.get $err) (then (call $exit (local.get $err))))
    {after_open}
    (call $exit (i32.const 0))))
"#
    )
}

/// Builds a tiny wasip2 component from Rust source with rustc, or `None`
/// (with a note) when the wasm32-wasip2 target is not installed.
pub fn build_wasip2_component(dir: &Path, src: &str) -> Option<PathBuf> {
    let src_path = dir.join("main.rs");
    std::fs::write(&src_path, src).unwrap();
    let out = dir.join("guest.wasm");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let result = Command::new(rustc)
        .args(["--target", "wasm32-wasip2", "-O", "--edition", "2021", "-o"])
        .arg(&out)
        .arg(&src_path)
        .output();
    match result {
        Ok(o) if o.status.success() => Some(out),
        Ok(o) => {
            eprintln!(
                "NOTE: skipping component test: rustc --target wasm32-wasip2 failed (is the target installed? `rustup target add wasm32-wasip2`):\n{}",
                String::from_utf8_lossy(&o.stderr)
            );
            None
        }
        Err(e) => {
            eprintln!("NOTE: skipping component test: cannot run rustc: {e}");
            None
        }
    }
}
