//! End-to-end tests: real WASI guests (inline WAT, plus a Rust-built wasip2
//! component) run through `Runtime`.

mod common;

use std::time::{Duration, Instant};

use common::*;
use wharf_wasm::{binary_kind, BinaryKind, Guest, Mount, Outcome, Runtime};

const HELLO: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "BEGIN\nhello from wasm\nEND\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 26))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
"#;

/// Prints BEGIN, the args (NUL -> newline), "--", the environ, END.
const ARGS_ENV: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "BEGIN\n")
  (data (i32.const 8) "--\n")
  (data (i32.const 12) "END\n")
  (func $write (param $ptr i32) (param $len i32)
    (i32.store (i32.const 32) (local.get $ptr))
    (i32.store (i32.const 36) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 32) (i32.const 1) (i32.const 40))))
  (func $nul_to_nl (param $ptr i32) (param $len i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $ptr) (local.get $end)))
        (if (i32.eqz (i32.load8_u (local.get $ptr)))
          (then (i32.store8 (local.get $ptr) (i32.const 10))))
        (local.set $ptr (i32.add (local.get $ptr) (i32.const 1)))
        (br $l))))
  (func (export "_start")
    (call $write (i32.const 0) (i32.const 6))
    (drop (call $args_sizes_get (i32.const 16) (i32.const 20)))
    (drop (call $args_get (i32.const 64) (i32.const 8192)))
    (call $nul_to_nl (i32.const 8192) (i32.load (i32.const 20)))
    (call $write (i32.const 8192) (i32.load (i32.const 20)))
    (call $write (i32.const 8) (i32.const 3))
    (drop (call $environ_sizes_get (i32.const 16) (i32.const 20)))
    (drop (call $environ_get (i32.const 64) (i32.const 8192)))
    (call $nul_to_nl (i32.const 8192) (i32.load (i32.const 20)))
    (call $write (i32.const 8192) (i32.load (i32.const 20)))
    (call $write (i32.const 12) (i32.const 4))))
"#;

const EXIT7: &str = r#"(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (call $exit (i32.const 7))))
"#;

const TRIVIAL: &str = r#"(module (func (export "_start")))"#;

const UNREACHABLE: &str = r#"(module (func (export "_start") unreachable))"#;

const RECURSE: &str = r#"(module
  (func $f (param i64) (result i64) (i64.add (call $f (local.get 0)) (i64.const 1)))
  (func (export "_start") (drop (call $f (i64.const 0)))))
"#;

const SPIN: &str = r#"(module (func (export "_start") (loop $l (br $l))))"#;

/// Grows by one page (must work), then by another (must be refused with -1
/// under a 2-page limit, after which it traps); exits 4 if both grows worked.
const GROW: &str = r#"(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (if (i32.ne (memory.grow (i32.const 1)) (i32.const 1)) (then (call $exit (i32.const 3))))
    (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then unreachable))
    (call $exit (i32.const 4))))
"#;

/// Reads fd 0: exits with the number of bytes read, or 100 + errno.
const READ_STDIN: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (local $err i32)
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 64))
    (local.set $err (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (if (local.get $err) (then (call $exit (i32.add (i32.const 100) (local.get $err)))))
    (call $exit (i32.load (i32.const 8)))))
"#;

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

// ---------------------------------------------------------------- headers

#[test]
fn binary_kind_reads_headers() {
    assert_eq!(
        binary_kind(b"\0asm\x01\0\0\0rest"),
        Some(BinaryKind::Module)
    );
    assert_eq!(
        binary_kind(b"\0asm\x0d\0\x01\0"),
        Some(BinaryKind::Component)
    );
    assert_eq!(binary_kind(b"\0asm\x02\0\0\0"), None);
    assert_eq!(binary_kind(b"\0asm"), None);
    assert_eq!(binary_kind(b"\x7fELF\x02\x01\x01\0"), None);
    assert_eq!(binary_kind(b""), None);
}

#[test]
fn not_wasm_is_a_clear_error() {
    let (rt, _dir) = runtime();
    let err = rt.prepare(b"#!/bin/sh\necho hi\n", "sha256:x").unwrap_err();
    assert!(err.to_string().contains("not WebAssembly"), "{err}");
    let err = rt.prepare(b"\0asm\x02\0\0\0", "sha256:y").unwrap_err();
    assert!(err.to_string().contains("unsupported"), "{err}");
    let err = rt
        .prepare(b"(module (func (export \"_start\") (i32.add)))", "sha256:z")
        .unwrap_err();
    assert!(err.to_string().contains("cannot compile"), "{err}");
}

#[test]
fn reactor_without_start_is_an_error() {
    let (rt, dir) = runtime();
    let p = prepare_wat(
        &rt,
        dir.path(),
        "r",
        r#"(module (func (export "_initialize")))"#,
    );
    let err = rt.run(&p, &Guest::default()).unwrap_err();
    assert!(err.to_string().contains("_start"), "{err}");
}

#[test]
fn unknown_import_is_an_error() {
    let (rt, dir) = runtime();
    let p = prepare_wat(
        &rt,
        dir.path(),
        "imp",
        r#"(module (import "env" "nope" (func)) (func (export "_start")))"#,
    );
    let err = rt.run(&p, &Guest::default()).unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

// ---------------------------------------------------------------- stdio

#[test]
fn stdout_reaches_fd_1() {
    const NAME: &str = "stdout_reaches_fd_1";
    if is_child(NAME) {
        let outcome = run_wat(HELLO, &Guest::default());
        std::process::exit(outcome.exit_code());
    }
    let (code, stdout, stderr) = spawn_child(NAME, &[]);
    assert_eq!(code, 0, "stderr: {stderr}");
    assert_eq!(between_markers(&stdout), "hello from wasm\n");
}

#[test]
fn args_and_env_delivered_and_nothing_else() {
    const NAME: &str = "args_and_env_delivered_and_nothing_else";
    if is_child(NAME) {
        let guest = Guest {
            args: args(&["prog.wasm", "one", "two words"]),
            env: vec![("A".into(), "1".into()), ("B".into(), "x=y".into())],
            cwd: Some("/work".into()),
            ..Guest::default()
        };
        let outcome = run_wat(ARGS_ENV, &guest);
        std::process::exit(outcome.exit_code());
    }
    let (code, stdout, stderr) = spawn_child(NAME, &[]);
    assert_eq!(code, 0, "stderr: {stderr}");
    let body = between_markers(&stdout);
    let (a, e) = body.split_once("--\n").unwrap();
    assert_eq!(a, "prog.wasm\none\ntwo words\n");
    // Exactly the granted env plus PWD from cwd (p1 has no cwd); nothing
    // from the host (the child process has PATH, HOME, a secret var...).
    assert_eq!(e, "A=1\nB=x=y\nPWD=/work\n");
    assert!(!stdout.contains("WHARF_WASM_SHOULD_NOT_LEAK=secret\n--"));
}

#[test]
fn explicit_pwd_wins_over_cwd() {
    const NAME: &str = "explicit_pwd_wins_over_cwd";
    if is_child(NAME) {
        let guest = Guest {
            args: args(&["p"]),
            env: vec![("PWD".into(), "/mine".into())],
            cwd: Some("/work".into()),
            ..Guest::default()
        };
        std::process::exit(run_wat(ARGS_ENV, &guest).exit_code());
    }
    let (code, stdout, stderr) = spawn_child(NAME, &[]);
    assert_eq!(code, 0, "stderr: {stderr}");
    assert_eq!(between_markers(&stdout), "p\n--\nPWD=/mine\n");
}

#[test]
fn stdin_is_empty_unless_granted() {
    // Not granted: EOF even though the test process has a stdin.
    assert_eq!(run_wat(READ_STDIN, &Guest::default()), Outcome::Exited(0));

    const NAME: &str = "stdin_is_empty_unless_granted";
    if is_child(NAME) {
        let guest = Guest {
            stdin: true,
            ..Guest::default()
        };
        std::process::exit(run_wat(READ_STDIN, &guest).exit_code());
    }
    // Granted: the child's stdin is a pipe carrying 5 bytes.
    let exe = std::env::current_exe().unwrap();
    let mut child = std::process::Command::new(exe)
        .args([NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, NAME)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"hello").unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(5));
}

// ---------------------------------------------------------------- outcomes

#[test]
fn proc_exit_code() {
    let outcome = run_wat(EXIT7, &Guest::default());
    assert_eq!(outcome, Outcome::Exited(7));
    assert_eq!(outcome.exit_code(), 7);
    assert_eq!(run_wat(TRIVIAL, &Guest::default()), Outcome::Exited(0));
}

#[test]
fn unreachable_traps() {
    match run_wat(UNREACHABLE, &Guest::default()) {
        o @ Outcome::Trapped { .. } => {
            let Outcome::Trapped { message } = &o else {
                unreachable!()
            };
            println!("trap message:\n{message}");
            assert!(message.contains("unreachable"), "{message}");
            assert_eq!(o.exit_code(), 134);
        }
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn stack_overflow_traps_and_process_survives() {
    let (rt, dir) = runtime();
    let p = prepare_wat(&rt, dir.path(), "rec", RECURSE);
    match rt.run(&p, &Guest::default()).unwrap() {
        Outcome::Trapped { message } => {
            assert!(message.contains("stack"), "{message}");
            assert!(message.lines().count() < 40, "backtrace not truncated");
        }
        other => panic!("expected a stack overflow trap, got {other:?}"),
    }
    // Same runtime, same process: still works.
    let p = prepare_wat(&rt, dir.path(), "exit7", EXIT7);
    assert_eq!(rt.run(&p, &Guest::default()).unwrap(), Outcome::Exited(7));
}

#[test]
fn memory_grow_past_limit_returns_minus_one_then_memory_limit() {
    let limited = Guest {
        memory_limit: Some(2 * 65536),
        ..Guest::default()
    };
    match run_wat(GROW, &limited) {
        o @ Outcome::MemoryLimit { .. } => {
            assert_eq!(o.exit_code(), 137);
            let Outcome::MemoryLimit { limit, message } = o else {
                unreachable!()
            };
            assert_eq!(limit, 131072);
            assert!(
                message.contains("memory limit of 128 KiB (--memory)"),
                "{message}"
            );
        }
        other => panic!("expected MemoryLimit, got {other:?}"),
    }
    // Without a limit both grows succeed.
    assert_eq!(run_wat(GROW, &Guest::default()), Outcome::Exited(4));
    // A limit that allows it changes nothing.
    let roomy = Guest {
        memory_limit: Some(64 << 20),
        ..Guest::default()
    };
    assert_eq!(run_wat(GROW, &roomy), Outcome::Exited(4));
}

/// Grows a funcref table by 4 Mi elements (32 MiB of host memory): exits 5
/// when refused (table.grow returns -1), 6 when granted.
const TABLE_GROW: &str = r#"(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (table 1 funcref)
  (func (export "_start")
    (if (i32.eq (table.grow (ref.null func) (i32.const 4194304)) (i32.const -1))
      (then (call $exit (i32.const 5))))
    (call $exit (i32.const 6))))
"#;

#[test]
fn tables_count_against_the_memory_limit() {
    let limited = Guest {
        memory_limit: Some(16 << 20),
        ..Guest::default()
    };
    assert_eq!(run_wat(TABLE_GROW, &limited), Outcome::Exited(5));
    let roomy = Guest {
        memory_limit: Some(64 << 20),
        ..Guest::default()
    };
    assert_eq!(run_wat(TABLE_GROW, &roomy), Outcome::Exited(6));
}

#[test]
fn initial_memory_above_limit_is_memory_limit() {
    let wat = r#"(module (memory 4) (func (export "_start")))"#;
    let guest = Guest {
        memory_limit: Some(2 * 65536),
        ..Guest::default()
    };
    assert!(matches!(
        run_wat(wat, &guest),
        Outcome::MemoryLimit { limit: 131072, .. }
    ));
}

#[test]
fn limit_counts_all_memories() {
    // Two memories of 1 page each under a 1-page limit: the second cannot
    // be created.
    let wat = r#"(module (memory 1) (memory 1) (func (export "_start")))"#;
    let guest = Guest {
        memory_limit: Some(65536),
        ..Guest::default()
    };
    assert!(matches!(run_wat(wat, &guest), Outcome::MemoryLimit { .. }));
}

#[test]
fn interrupter_stops_spinning_guest() {
    let (rt, dir) = runtime();
    let p = prepare_wat(&rt, dir.path(), "spin", SPIN);
    let interrupter = rt.interrupter();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        interrupter.interrupt(15);
    });
    let started = Instant::now();
    let outcome = rt.run(&p, &Guest::default()).unwrap();
    t.join().unwrap();
    assert_eq!(outcome, Outcome::Interrupted { signal: 15 });
    assert_eq!(outcome.exit_code(), 143);
    assert!(started.elapsed() < Duration::from_secs(10));
    // Sticky: a guest started after the stop does not run.
    assert_eq!(
        rt.run(&p, &Guest::default()).unwrap(),
        Outcome::Interrupted { signal: 15 }
    );
    assert_eq!(rt.interrupter().signal(), Some(15));
}

/// `--cpus`: a spinning guest with a share of 0.2 uses about a fifth of
/// the time it runs, and an interrupt still stops it at once.
#[test]
fn cpu_share_paces_a_spinning_guest() {
    let (rt, dir) = runtime();
    let p = prepare_wat(&rt, dir.path(), "spin", SPIN);
    let interrupter = rt.interrupter();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1000));
        interrupter.interrupt(15);
    });
    let cpu = || {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime fills the timespec we own.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    };
    let guest = Guest {
        cpus: Some(0.2),
        ..Guest::default()
    };
    let (started, cpu_before) = (Instant::now(), cpu());
    let outcome = rt.run(&p, &guest).unwrap();
    let (wall, used) = (started.elapsed(), cpu() - cpu_before);
    t.join().unwrap();
    assert_eq!(outcome, Outcome::Interrupted { signal: 15 });
    assert!(wall < Duration::from_secs(5), "{wall:?}");
    // 0.2 of ~1 s is 0.2 s; unpaced it would be ~1 s.
    assert!(
        used < Duration::from_millis(500),
        "used {used:?} of {wall:?}"
    );
}

// ---------------------------------------------------------------- cache

#[test]
fn cache_key_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let a = Runtime::new(dir.path().to_path_buf()).unwrap();
    let b = Runtime::new(dir.path().join("other")).unwrap();
    let k = a.cache_key("sha256:abc");
    assert_eq!(k, a.cache_key("sha256:abc"));
    assert_eq!(k, b.cache_key("sha256:abc"));
    assert_ne!(k, a.cache_key("sha256:abd"));
    assert_eq!(k.len(), 64);
    assert!(k.bytes().all(|c| c.is_ascii_hexdigit()));
}

#[test]
fn second_prepare_comes_from_cache() {
    let (rt, dir) = runtime();
    let path = dir.path().join("exit7.wat");
    std::fs::write(&path, EXIT7).unwrap();
    let first = rt.prepare_file(&path, None).unwrap();
    assert!(!first.from_cache);
    assert_eq!(first.cache_warning(), None);
    let second = rt.prepare_file(&path, None).unwrap();
    assert!(second.from_cache);
    assert_eq!(second.kind, BinaryKind::Module);
    assert_eq!(
        rt.run(&second, &Guest::default()).unwrap(),
        Outcome::Exited(7)
    );

    // A fresh runtime (new process, same cache dir) hits too, by digest,
    // without needing the bytes.
    let rt2 = Runtime::new(rt.cache_dir().to_path_buf()).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let p = rt.prepare(&bytes, "sha256:exit7").unwrap();
    assert!(!p.from_cache);
    let p = rt2.prepare(b"", "sha256:exit7").unwrap();
    assert!(p.from_cache);
    let p = rt2
        .prepare_file(&dir.path().join("missing.wasm"), Some("sha256:exit7"))
        .unwrap();
    assert!(p.from_cache);
    assert_eq!(rt2.run(&p, &Guest::default()).unwrap(), Outcome::Exited(7));
    // No temp files left behind.
    for e in std::fs::read_dir(rt.cache_dir()).unwrap() {
        let name = e.unwrap().file_name();
        assert!(!name.to_string_lossy().starts_with(".tmp"), "{name:?}");
    }
}

/// A cache on a `noexec` mount cannot have its code mapped from the file;
/// the entry is still used (read into memory), not recompiled each time.
#[test]
fn a_cache_on_a_noexec_mount_still_hits() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("noexec");
    std::fs::create_dir(&mnt).unwrap();
    let target = std::ffi::CString::new(mnt.to_str().unwrap()).unwrap();
    // SAFETY: mount(2) with valid NUL-terminated strings.
    let rc = unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            target.as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOEXEC,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    }
    struct Unmount(std::ffi::CString);
    impl Drop for Unmount {
        fn drop(&mut self) {
            // SAFETY: umount2(2) with a valid NUL-terminated path.
            unsafe { libc::umount2(self.0.as_ptr(), libc::MNT_DETACH) };
        }
    }
    let _unmount = Unmount(target);
    let path = dir.path().join("exit7.wat");
    std::fs::write(&path, EXIT7).unwrap();
    let rt = Runtime::new(mnt.join("cache")).unwrap();
    assert!(
        !rt.prepare_file(&path, Some("sha256:noexec"))
            .unwrap()
            .from_cache
    );
    let rt = Runtime::new(mnt.join("cache")).unwrap();
    let p = rt.prepare_file(&path, Some("sha256:noexec")).unwrap();
    assert!(p.from_cache);
    assert_eq!(rt.run(&p, &Guest::default()).unwrap(), Outcome::Exited(7));
}

fn corrupt_and_check(damage: impl Fn(&std::path::Path)) {
    let (rt, dir) = runtime();
    let path = dir.path().join("exit7.wat");
    std::fs::write(&path, EXIT7).unwrap();
    let digest = "sha256:corrupt-me";
    assert!(!rt.prepare_file(&path, Some(digest)).unwrap().from_cache);
    let entry = rt.cache_dir().join(rt.cache_key(digest));
    assert!(entry.is_file());
    damage(&entry);
    let p = rt.prepare_file(&path, Some(digest)).unwrap();
    assert!(!p.from_cache, "a damaged entry must not be used");
    assert_eq!(rt.run(&p, &Guest::default()).unwrap(), Outcome::Exited(7));
    // Rewritten: the next prepare hits again.
    let p = rt.prepare_file(&path, Some(digest)).unwrap();
    assert!(p.from_cache);
    assert_eq!(rt.run(&p, &Guest::default()).unwrap(), Outcome::Exited(7));
}

#[test]
fn flipped_bytes_in_cache_are_recompiled() {
    corrupt_and_check(|entry| {
        let mut bytes = std::fs::read(entry).unwrap();
        let mid = bytes.len() / 2;
        for b in &mut bytes[mid..mid + 16] {
            *b ^= 0xff;
        }
        std::fs::write(entry, bytes).unwrap();
    });
}

#[test]
fn truncated_cache_is_recompiled() {
    corrupt_and_check(|entry| {
        let len = std::fs::metadata(entry).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(entry).unwrap();
        f.set_len(len / 2).unwrap();
    });
    corrupt_and_check(|entry| std::fs::write(entry, b"").unwrap());
}

#[test]
fn cache_write_failure_is_a_warning_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    // The "cache dir" is a regular file: it cannot be created.
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let rt = Runtime::new(blocker.join("cache")).unwrap();
    let p = rt.prepare(EXIT7.as_bytes(), "sha256:w").unwrap();
    assert!(!p.from_cache);
    assert!(p.cache_warning().is_some());
    assert_eq!(rt.run(&p, &Guest::default()).unwrap(), Outcome::Exited(7));
}

// ---------------------------------------------------------------- filesystem

#[test]
fn mounts_are_readable_and_escapes_fail() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    std::fs::write(mnt.join("inside.txt"), b"ok").unwrap();
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, b"host secret").unwrap();
    std::os::unix::fs::symlink("/etc", mnt.join("etc_link")).unwrap();
    std::os::unix::fs::symlink(&secret, mnt.join("secret_abs")).unwrap();
    std::os::unix::fs::symlink("../secret.txt", mnt.join("secret_rel")).unwrap();
    std::os::unix::fs::symlink("../../../../../../../../etc", mnt.join("etc_rel")).unwrap();
    std::os::unix::fs::symlink("inside.txt", mnt.join("fine_link")).unwrap();

    let guest = Guest {
        mounts: vec![Mount {
            host: mnt.clone(),
            guest: "/data".into(),
            read_only: true,
        }],
        ..Guest::default()
    };
    // Positive controls: plain file and a symlink staying inside.
    assert_eq!(
        run_wat(&open_guest(3, "inside.txt", false), &guest),
        Outcome::Exited(0)
    );
    assert_eq!(
        run_wat(&open_guest(3, "fine_link", false), &guest),
        Outcome::Exited(0)
    );
    let attempts = [
        "etc_link/hostname",
        "etc_link/passwd",
        "etc_rel/hostname",
        "etc_rel/passwd",
        "secret_abs",
        "secret_rel",
        "../secret.txt",
        "../../../../../../etc/hostname",
        "../../../../../../etc/passwd",
        "/etc/passwd",
        "./../mnt/../secret.txt",
    ];
    for path in attempts {
        let outcome = run_wat(&open_guest(3, path, false), &guest);
        match outcome {
            Outcome::Exited(code) => {
                println!("{path}: refused, errno {code}");
                assert!(code != 0, "{path}: escape succeeded")
            }
            other => panic!("{path}: unexpected {other:?}"),
        }
    }
}

#[test]
fn read_only_mount_refuses_writes_read_write_allows() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let ro = Guest {
        mounts: vec![Mount {
            host: mnt.clone(),
            guest: "/data".into(),
            read_only: true,
        }],
        ..Guest::default()
    };
    match run_wat(&open_guest(3, "new.txt", true), &ro) {
        Outcome::Exited(code) => assert!(code != 0, "write allowed: {code}"),
        other => panic!("unexpected {other:?}"),
    }
    assert!(!mnt.join("new.txt").exists());

    let rw = Guest {
        mounts: vec![Mount {
            host: mnt.clone(),
            guest: "/data".into(),
            read_only: false,
        }],
        ..Guest::default()
    };
    assert_eq!(
        run_wat(&open_guest(3, "new.txt", true), &rw),
        Outcome::Exited(0)
    );
    assert_eq!(std::fs::read(mnt.join("new.txt")).unwrap(), b"x");
}

#[test]
fn root_is_read_only_and_mounts_follow_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rootfs");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/motd"), b"image file").unwrap();
    let vol = dir.path().join("vol");
    std::fs::create_dir(&vol).unwrap();
    let guest = Guest {
        root: Some(root.clone()),
        mounts: vec![Mount {
            host: vol.clone(),
            guest: "/vol".into(),
            read_only: false,
        }],
        ..Guest::default()
    };
    // fd 3 = "/" (the image), fd 4 = "/vol".
    assert_eq!(
        run_wat(&open_guest(3, "etc/motd", false), &guest),
        Outcome::Exited(0)
    );
    match run_wat(&open_guest(3, "etc/new", true), &guest) {
        Outcome::Exited(code) => assert!(code != 0, "root writable"),
        other => panic!("unexpected {other:?}"),
    }
    assert!(!root.join("etc/new").exists());
    match run_wat(&open_guest(3, "../vol", false), &guest) {
        Outcome::Exited(code) => assert!(code != 0, "escaped root"),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        run_wat(&open_guest(4, "out", true), &guest),
        Outcome::Exited(0)
    );
    assert!(vol.join("out").exists());
}

#[test]
fn bad_mounts_are_clear_errors() {
    let (rt, dir) = runtime();
    let p = prepare_wat(&rt, dir.path(), "t", TRIVIAL);
    let guest = Guest {
        mounts: vec![Mount {
            host: dir.path().join("does-not-exist"),
            guest: "/data".into(),
            read_only: true,
        }],
        ..Guest::default()
    };
    let err = rt.run(&p, &guest).unwrap_err();
    assert!(err.to_string().contains("does-not-exist"), "{err}");
    let guest = Guest {
        mounts: vec![Mount {
            host: dir.path().to_path_buf(),
            guest: "relative".into(),
            read_only: true,
        }],
        ..Guest::default()
    };
    let err = rt.run(&p, &guest).unwrap_err();
    assert!(err.to_string().contains("absolute"), "{err}");
}

// ---------------------------------------------------------------- component

const COMPONENT_SRC: &str = r#"
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let env: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
    let cwd = std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default();
    // (Rust's wasip2 std does not read wasi:cli initial-cwd; printed for info.)
    eprintln!("component cwd: {cwd}");
    println!("BEGIN\n{}\n{}\nEND", args.join("|"), env.join("|"));
    if args.get(1).map(String::as_str) == Some("fail") {
        std::process::exit(3);
    }
}
"#;

#[test]
fn wasip2_component_runs_and_gets_args() {
    const NAME: &str = "wasip2_component_runs_and_gets_args";
    if is_child(NAME) {
        let path = std::env::var("WHARF_WASM_COMPONENT").unwrap();
        let (rt, _dir) = runtime();
        let p = rt.prepare_file(path.as_ref(), None).unwrap();
        assert_eq!(p.kind, BinaryKind::Component);
        let mode = std::env::var("WHARF_WASM_MODE").unwrap();
        let guest = Guest {
            args: args(&["hello.wasm", &mode, "a b"]),
            env: vec![("GREETING".into(), "hi".into())],
            cwd: Some("/app".into()),
            ..Guest::default()
        };
        let outcome = rt.run(&p, &guest).unwrap();
        // Cache round trip for components too.
        let again = rt.prepare_file(path.as_ref(), None).unwrap();
        assert!(again.from_cache);
        std::process::exit(outcome.exit_code());
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(component) = build_wasip2_component(dir.path(), COMPONENT_SRC) else {
        return;
    };
    let bytes = std::fs::read(&component).unwrap();
    assert_eq!(binary_kind(&bytes), Some(BinaryKind::Component));
    let cpath = component.to_str().unwrap();

    let (code, stdout, stderr) = spawn_child(
        NAME,
        &[("WHARF_WASM_COMPONENT", cpath), ("WHARF_WASM_MODE", "ok")],
    );
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    // A working directory other than / is also PWD (wasi-libc ignores
    // initial-cwd), as for p1.
    assert_eq!(
        between_markers(&stdout),
        "hello.wasm|ok|a b\nGREETING=hi|PWD=/app\n"
    );

    let (code, stdout, stderr) = spawn_child(
        NAME,
        &[("WHARF_WASM_COMPONENT", cpath), ("WHARF_WASM_MODE", "fail")],
    );
    assert_ne!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
}

// ---------------------------------------------------------------- timing

#[test]
fn timing_new_prepare_hit_run() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let wat = dir.path().join("t.wat");
    std::fs::write(&wat, TRIVIAL).unwrap();
    {
        let rt = Runtime::new(cache.clone()).unwrap();
        assert!(!rt.prepare_file(&wat, Some("sha256:t")).unwrap().from_cache);
    }
    for round in 0..3 {
        let t0 = Instant::now();
        let rt = Runtime::new(cache.clone()).unwrap();
        let t1 = Instant::now();
        let _ = rt.cache_key("sha256:t");
        let tk = Instant::now();
        let p = rt.prepare_file(&wat, Some("sha256:t")).unwrap();
        let t2 = Instant::now();
        assert!(p.from_cache);
        let o = rt.run(&p, &Guest::default()).unwrap();
        let t3 = Instant::now();
        assert_eq!(o, Outcome::Exited(0));
        let o = rt.run(&p, &Guest::default()).unwrap();
        let t4 = Instant::now();
        assert_eq!(o, Outcome::Exited(0));
        println!(
            "round {round}: Runtime::new {:?}, first cache_key (engine fingerprint) {:?}, prepare (cache hit) {:?}, first run {:?}, second run {:?}, total to first exit {:?}",
            t1 - t0,
            tk - t1,
            t2 - tk,
            t3 - t2,
            t4 - t3,
            t3 - t0
        );
    }
}

#[test]
fn handles_are_thread_safe() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Runtime>();
    send_sync::<wharf_wasm::Program>();
    send_sync::<wharf_wasm::Interrupter>();
    send_sync::<wharf_wasm::Error>();
}
