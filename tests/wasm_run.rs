//! `wharf run` of Wasm containers: args, env, files, volumes, workdir, stdin,
//! exit codes, traps and limits, signals, the compiled-code cache.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn run_prints_greeting() {
    let w = Wharf::new();
    w.build_hello();
    let out = w.ok(&["run", "--rm", "hello:1"]);
    assert_eq!(out, format!("{WASM_GREETING}\n"));
}

#[test]
fn trailing_args_replace_cmd() {
    let w = Wharf::new();
    w.build_hello();
    let out = w.ok(&["run", "--rm", "hello:1", "arg1", "arg2"]);
    assert_eq!(out, format!("{WASM_GREETING}\nargs: arg1 arg2\n"));
}

#[test]
fn argv_is_entrypoint_plus_args() {
    let w = Wharf::new();
    w.build_hello();
    let out = w.ok(&["run", "--rm", "hello:1", "args", "x y", "--z"]);
    assert_eq!(lines(&out), ["/hello.wasm", "args", "x y", "--z"]);
}

#[test]
fn image_cmd_is_default_args_and_entrypoint_can_be_overridden() {
    let w = Wharf::new();
    let df = "FROM scratch\n\
              COPY hello.wasm /hello.wasm\n\
              COPY hello.wasm /bin/other.wasm\n\
              ENTRYPOINT [\"/hello.wasm\"]\n\
              CMD [\"echo\", \"from\", \"cmd\"]\n";
    let out = w.build_text(df, &["--platform", "wasi/wasm", "-t", "cmd:1"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(w.ok(&["run", "--rm", "cmd:1"]), "from cmd\n");
    assert_eq!(w.ok(&["run", "--rm", "cmd:1", "echo", "mine"]), "mine\n");
    let out = w.ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "/bin/other.wasm",
        "cmd:1",
        "args",
    ]);
    assert_eq!(lines(&out), ["/bin/other.wasm", "args"]);
}

#[test]
fn env_is_image_env_plus_flags_only() {
    let w = Wharf::new();
    w.build_hello();
    let host_path = std::env::var("PATH").unwrap_or_default();
    let out = w.cmd_env(
        &[
            "run", "--rm", "-e", "FOO=bar", "-e", "EMPTY=", "hello:1", "env",
        ],
        &[("WHARF_E2E_SECRET", "shh"), ("HOME", "/root-of-host")],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let env = lines(&stdout(&out));
    assert!(env.contains(&"FOO=bar".to_string()), "{env:?}");
    assert!(env.contains(&"EMPTY=".to_string()), "{env:?}");
    assert!(
        !env.iter().any(|l| l.starts_with("WHARF_E2E_SECRET=")),
        "host env leaked into the guest: {env:?}"
    );
    assert!(
        !env.iter().any(|l| l.starts_with("HOME=")),
        "host HOME leaked into the guest: {env:?}"
    );
    assert!(
        !env.contains(&format!("PATH={host_path}")),
        "host PATH leaked into the guest: {env:?}"
    );
}

#[test]
fn env_flag_without_value_copies_host_var() {
    let w = Wharf::new();
    w.build_hello();
    let out = w.cmd_env(
        &[
            "run",
            "--rm",
            "-e",
            "WHARF_E2E_SECRET",
            "-e",
            "HOME",
            "hello:1",
            "env",
        ],
        &[("WHARF_E2E_SECRET", "shh"), ("HOME", "/root-of-host")],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let env = lines(&stdout(&out));
    assert!(env.contains(&"WHARF_E2E_SECRET=shh".to_string()), "{env:?}");
    assert!(env.contains(&"HOME=/root-of-host".to_string()), "{env:?}");
}

#[test]
fn image_env_and_workdir_apply() {
    let w = Wharf::new();
    let df = "FROM scratch\n\
              ENV COLOR=blue MODE=test\n\
              WORKDIR /app\n\
              COPY hello.wasm /hello.wasm\n\
              COPY greeting.txt /app/g.txt\n\
              ENTRYPOINT [\"/hello.wasm\"]\n";
    let out = w.build_text(df, &["--platform", "wasi/wasm", "-t", "envwd:1"]);
    assert!(out.status.success(), "{}", describe(&out));
    let env = lines(&w.ok(&["run", "--rm", "-e", "MODE=override", "envwd:1", "env"]));
    assert!(env.contains(&"COLOR=blue".to_string()), "{env:?}");
    assert!(
        env.contains(&"MODE=override".to_string()),
        "-e overrides image ENV: {env:?}"
    );
    assert!(!env.contains(&"MODE=test".to_string()), "{env:?}");
    assert_eq!(w.ok(&["run", "--rm", "envwd:1", "pwd"]), "/app\n");
    assert_eq!(
        w.ok(&["run", "--rm", "envwd:1", "cat", "g.txt"]),
        GREETING_FILE
    );
}

/// A Wasm container's root is the image under a container layer of its
/// own, as a Linux container's: the guest can change it, the image and
/// the next container never see the change, and `--read-only` refuses it.
#[test]
fn root_is_writable_per_container_and_the_image_never_changes() {
    let w = Wharf::new();
    w.build_hello();
    assert_eq!(
        w.ok(&["run", "--rm", "hello:1", "cat", "/etc/greeting.txt"]),
        GREETING_FILE
    );
    let ls = lines(&w.ok(&["run", "--rm", "hello:1", "ls", "/etc"]));
    assert!(ls.contains(&"greeting.txt".to_string()), "{ls:?}");

    // A kept container keeps its changes in its own layer.
    w.ok(&[
        "run",
        "--name",
        "changer",
        "hello:1",
        "write",
        "/etc/greeting.txt",
        "changed",
    ]);
    w.ok(&["run", "--rm", "hello:1", "write", "/new.txt", "fresh"]);
    let upper = w.root().join("containers");
    let changed: Vec<_> = fs::read_dir(&upper)
        .unwrap()
        .filter_map(|e| fs::read(e.unwrap().path().join("upper/etc/greeting.txt")).ok())
        .collect();
    assert_eq!(changed, vec![b"changed".to_vec()]);
    // And nothing changed for the next container.
    assert_eq!(
        w.ok(&["run", "--rm", "hello:1", "cat", "/etc/greeting.txt"]),
        GREETING_FILE
    );
    let out = w.cmd(&["run", "--rm", "hello:1", "cat", "/new.txt"]);
    assert!(!out.status.success(), "{}", describe(&out));

    // `--read-only`: nothing can be written, the image's files still read.
    for path in ["/etc/greeting.txt", "/new.txt"] {
        let out = w.cmd(&["run", "--rm", "--read-only", "hello:1", "write", path, "x"]);
        assert!(
            !out.status.success(),
            "{path} was writable under --read-only\n{}",
            describe(&out)
        );
    }
    assert_eq!(
        w.ok(&[
            "run",
            "--rm",
            "--read-only",
            "hello:1",
            "cat",
            "/etc/greeting.txt"
        ]),
        GREETING_FILE
    );
    w.ok(&["rm", "changer"]);
}

#[test]
fn host_files_are_not_visible() {
    let w = Wharf::new();
    w.build_hello();
    // Secret outside any mount.
    let secret = w.scratch("outside").join("secret.txt");
    fs::write(&secret, "TOP SECRET\n").unwrap();
    for path in [
        secret.to_str().unwrap(),
        "/etc/passwd",
        "/proc/self/environ",
    ] {
        let out = w.cmd(&["run", "--rm", "hello:1", "cat", path]);
        assert!(
            !out.status.success(),
            "guest read host file {path}\n{}",
            describe(&out)
        );
        assert!(!stdout(&out).contains("TOP SECRET"));
        assert!(!stdout(&out).contains("root:"));
    }
}

#[test]
fn volume_is_readable_and_writable() {
    let w = Wharf::new();
    w.build_hello();
    let dir = w.scratch("vol");
    fs::write(dir.join("in.txt"), "from host\n").unwrap();
    let v = format!("{}:/data", dir.display());
    assert_eq!(
        w.ok(&["run", "--rm", "-v", &v, "hello:1", "cat", "/data/in.txt"]),
        "from host\n"
    );
    w.ok(&[
        "run",
        "--rm",
        "-v",
        &v,
        "hello:1",
        "write",
        "/data/out.txt",
        "from guest",
    ]);
    assert_eq!(
        fs::read_to_string(dir.join("out.txt")).unwrap(),
        "from guest"
    );
    let ls = lines(&w.ok(&["run", "--rm", "-v", &v, "hello:1", "ls", "/data"]));
    assert_eq!(ls, ["in.txt", "out.txt"]);
}

#[test]
fn a_volume_at_root_replaces_the_image_root() {
    // One `/` for the guest, the granted directory (not the image's files
    // first, as when both were preopened at `/`).
    let w = Wharf::new();
    w.build_hello();
    let dir = w.scratch("rootvol");
    fs::write(dir.join("mine.txt"), "granted root\n").unwrap();
    let v = format!("{}:/", dir.display());
    assert_eq!(
        w.ok(&["run", "--rm", "-v", &v, "hello:1", "cat", "/mine.txt"]),
        "granted root\n"
    );
    let out = w.cmd(&[
        "run",
        "--rm",
        "-v",
        &v,
        "hello:1",
        "cat",
        "/etc/greeting.txt",
    ]);
    assert!(!out.status.success(), "the image's file is still visible");
    w.ok(&[
        "run", "--rm", "-v", &v, "hello:1", "write", "/new.txt", "written",
    ]);
    assert_eq!(fs::read_to_string(dir.join("new.txt")).unwrap(), "written");
}

#[test]
fn readonly_volume_is_not_writable() {
    let w = Wharf::new();
    w.build_hello();
    let dir = w.scratch("vol");
    fs::write(dir.join("in.txt"), "keep me\n").unwrap();
    let v = format!("{}:/data:ro", dir.display());
    assert_eq!(
        w.ok(&["run", "--rm", "-v", &v, "hello:1", "cat", "/data/in.txt"]),
        "keep me\n"
    );
    for (path, text) in [("/data/in.txt", "changed"), ("/data/new.txt", "new")] {
        let out = w.cmd(&["run", "--rm", "-v", &v, "hello:1", "write", path, text]);
        assert!(
            !out.status.success(),
            "wrote {path} through a :ro volume\n{}",
            describe(&out)
        );
    }
    assert_eq!(fs::read_to_string(dir.join("in.txt")).unwrap(), "keep me\n");
    assert!(!dir.join("new.txt").exists());
}

#[test]
fn volume_symlinks_and_dotdot_do_not_escape() {
    let w = Wharf::new();
    w.build_hello();
    let base = w.scratch("escape");
    let vol = base.join("vol");
    fs::create_dir_all(&vol).unwrap();
    fs::write(base.join("secret.txt"), "TOP SECRET\n").unwrap();
    fs::write(vol.join("ok.txt"), "inside\n").unwrap();
    symlink("/etc", vol.join("etc-link")).unwrap();
    symlink("../secret.txt", vol.join("rel-link")).unwrap();
    symlink(base.join("secret.txt"), vol.join("abs-link")).unwrap();
    symlink("/", vol.join("root-link")).unwrap();
    let v = format!("{}:/data", vol.display());
    let via_root_link = format!("/data/root-link{}", base.join("secret.txt").display());

    let attempts: &[&[&str]] = &[
        &["cat", "/data/etc-link/passwd"],
        &["cat", "/data/etc-link/hostname"],
        &["cat", "/data/rel-link"],
        &["cat", "/data/abs-link"],
        &["cat", "/data/../secret.txt"],
        &["cat", "/data/../../../../etc/passwd"],
        &["cat", "/data/root-link/etc/passwd"],
        &["cat", &via_root_link],
    ];
    for a in attempts {
        let mut args = vec!["run", "--rm", "-v", &v, "hello:1"];
        args.extend_from_slice(a);
        let out = w.cmd(&args);
        let so = stdout(&out);
        assert!(
            !out.status.success() && !so.contains("TOP SECRET") && !so.contains("root:"),
            "escaped the volume with {a:?}\n{}",
            describe(&out)
        );
    }
    // Relative `..` from a workdir inside the volume.
    let out = w.cmd(&[
        "run",
        "--rm",
        "-v",
        &v,
        "-w",
        "/data",
        "hello:1",
        "cat",
        "../secret.txt",
    ]);
    assert!(
        !out.status.success() && !stdout(&out).contains("TOP SECRET"),
        "{}",
        describe(&out)
    );
    // Writes through the same paths are refused (an absolute symlink, as
    // in wasmtime's sandbox) or land in the container's own tree (`/data/..`
    // is its `/`), never on the host.
    let out = w.cmd(&[
        "run",
        "--rm",
        "-v",
        &v,
        "hello:1",
        "write",
        "/data/etc-link/wharf-e2e-pwned",
        "x",
    ]);
    assert!(!out.status.success(), "{}", describe(&out));
    w.ok(&[
        "run",
        "--rm",
        "-v",
        &v,
        "hello:1",
        "write",
        "/data/../pwned.txt",
        "x",
    ]);
    assert!(!std::path::Path::new("/etc/wharf-e2e-pwned").exists());
    assert!(!base.join("pwned.txt").exists());
    assert!(!vol.join("pwned.txt").exists());
    // The mount itself still works.
    assert_eq!(
        w.ok(&["run", "--rm", "-v", &v, "hello:1", "cat", "/data/ok.txt"]),
        "inside\n"
    );
}

#[test]
fn workdir_flag_sets_cwd() {
    let w = Wharf::new();
    w.build_hello();
    let dir = w.scratch("vol");
    fs::write(dir.join("file"), "relative works\n").unwrap();
    let v = format!("{}:/data", dir.display());
    assert_eq!(
        w.ok(&["run", "--rm", "-v", &v, "-w", "/data", "hello:1", "pwd"]),
        "/data\n"
    );
    assert_eq!(
        w.ok(&["run", "--rm", "-v", &v, "-w", "/data", "hello:1", "cat", "file"]),
        "relative works\n"
    );
    w.ok(&[
        "run", "--rm", "-v", &v, "-w", "/data", "hello:1", "write", "rel.txt", "yes",
    ]);
    assert_eq!(fs::read_to_string(dir.join("rel.txt")).unwrap(), "yes");
    // Default workdir is /.
    assert_eq!(w.ok(&["run", "--rm", "hello:1", "pwd"]), "/\n");
}

#[test]
fn interactive_wires_stdin() {
    let w = Wharf::new();
    w.build_hello();
    let input = b"line one\nline two\n\xffbinary\x00ok\n";
    let out = w.cmd_stdin(&["run", "--rm", "-i", "hello:1", "stdin"], input);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(out.stdout, input);
}

#[test]
fn without_interactive_stdin_is_empty() {
    let w = Wharf::new();
    w.build_hello();
    let out = w.cmd_stdin(&["run", "--rm", "hello:1", "stdin"], b"should not arrive\n");
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(stdout(&out), "");
}

#[test]
fn exit_code_is_propagated() {
    let w = Wharf::new();
    w.build_hello();
    // (WASI preview 1 exit codes are 0..126.)
    for n in [0, 1, 3, 42, 125] {
        let out = w.cmd(&["run", "--rm", "hello:1", "exit", &n.to_string()]);
        assert_eq!(out.status.code(), Some(n), "{}", describe(&out));
    }
    let out = w.cmd(&["run", "--rm", "hello:1", "cat", "/no/such/file"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(stderr(&out).contains("/no/such/file"), "{}", describe(&out));
}

#[test]
fn stdout_and_stderr_are_separate() {
    let w = Wharf::new();
    w.build_hello();
    let out = w.cmd(&["run", "--rm", "hello:1", "stderr", "to", "stderr"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(stdout(&out), "");
    assert!(stderr(&out).contains("to stderr"), "{}", describe(&out));
}

#[test]
fn trap_gives_nonzero_exit_and_message() {
    let w = Wharf::new();
    w.build_hello();
    let out = w.cmd(&["run", "--rm", "hello:1", "trap"]);
    let code = out.status.code();
    assert!(
        code.is_some() && code != Some(0),
        "a trap must give a non-zero exit code (not a signal death of wharf)\n{}",
        describe(&out)
    );
    let err = stderr(&out).to_lowercase();
    assert!(
        err.contains("trap") || err.contains("abort") || err.contains("unreachable"),
        "stderr should mention the trap\n{}",
        describe(&out)
    );
    // The engine is fine afterwards.
    assert_eq!(
        w.ok(&["run", "--rm", "hello:1"]),
        format!("{WASM_GREETING}\n")
    );
}

#[test]
fn stack_overflow_is_contained() {
    let w = Wharf::new();
    w.build_hello();
    let out = w.cmd(&["run", "--rm", "hello:1", "recurse"]);
    let code = out.status.code();
    assert!(
        code.is_some(),
        "wharf itself died from a signal on guest stack overflow\n{}",
        describe(&out)
    );
    assert_ne!(code, Some(0), "{}", describe(&out));
    let err = stderr(&out).to_lowercase();
    assert!(
        err.contains("stack overflow") || err.contains("call stack exhausted"),
        "stderr should mention the stack overflow\n{}",
        describe(&out)
    );
}

#[test]
fn memory_limit_stops_guest() {
    let w = Wharf::new();
    w.build_hello();
    // Within the limit: fine.
    assert_eq!(
        w.ok(&["run", "--rm", "--memory", "64m", "hello:1", "alloc", "16"]),
        "allocated 16 MiB\n"
    );
    // Without a limit: fine.
    assert_eq!(
        w.ok(&["run", "--rm", "hello:1", "alloc", "100"]),
        "allocated 100 MiB\n"
    );
    // Over it: stopped with a clear message.
    let out = w.cmd(&["run", "--rm", "--memory", "32m", "hello:1", "alloc", "100"]);
    let code = out.status.code();
    assert!(code.is_some() && code != Some(0), "{}", describe(&out));
    assert!(!stdout(&out).contains("allocated"), "{}", describe(&out));
    let err = stderr(&out).to_lowercase();
    assert!(
        err.contains("memory") && (err.contains("limit") || err.contains("--memory")),
        "stderr should mention the memory limit\n{}",
        describe(&out)
    );
}

#[test]
fn sigint_stops_foreground_guest_with_130() {
    let w = Wharf::new();
    w.build_hello();
    let mut c = w.command(&["run", "--rm", "--name", "spinner", "hello:1", "spin"]);
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    // Wait until the container is running (or give it a moment).
    let running = poll(Duration::from_secs(30), || {
        let out = w.cmd(&["ps", "--format", "json"]);
        let v = json_lines(&stdout(&out));
        v.iter()
            .any(|c| c["State"] == "running" && c["Names"].to_string().contains("spinner"))
            .then_some(())
    });
    assert!(
        running.is_some(),
        "spinner never showed up as running in ps"
    );
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    let status = wait_timeout(&mut child, Duration::from_secs(15));
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    let status = status.expect("wharf run did not stop within 15 s of SIGINT");
    assert_eq!(status.code(), Some(130), "stderr: {err}");
    assert!(t.elapsed() < Duration::from_secs(10));
    // --rm: gone afterwards.
    let gone = poll(Duration::from_secs(10), || {
        (!w.ok(&["ps", "-a"]).contains("spinner")).then_some(())
    });
    assert!(gone.is_some(), "--rm container still listed after SIGINT");
}

#[test]
fn rm_flag_removes_container_and_default_keeps_it() {
    let w = Wharf::new();
    w.build_hello();
    w.ok(&["run", "--rm", "--name", "gone", "hello:1"]);
    w.ok(&["run", "--name", "kept", "hello:1"]);
    let all = w.ok(&["ps", "-a"]);
    assert!(!all.contains("gone"), "{all}");
    assert!(all.contains("kept"), "{all}");
    let v = w.inspect("kept");
    assert_eq!(v["State"]["Status"], "exited");
    assert_eq!(v["State"]["ExitCode"], 0);
}

#[test]
fn wasip2_component_runs() {
    let w = Wharf::new();
    let ctx = hello_context();
    let df = ctx.join("Dockerfile.p2");
    w.ok(&[
        "build",
        "--platform",
        "wasip2/wasm",
        "-f",
        df.to_str().unwrap(),
        "-t",
        "hello:p2",
        ctx.to_str().unwrap(),
    ]);
    assert_eq!(
        w.ok(&["run", "--rm", "hello:p2", "a1", "a2"]),
        format!("{WASM_GREETING}\nargs: a1 a2\n")
    );
    assert_eq!(
        w.ok(&["run", "--rm", "hello:p2", "cat", "/etc/greeting.txt"]),
        GREETING_FILE
    );
    let env = lines(&w.ok(&["run", "--rm", "-e", "P2=yes", "hello:p2", "env"]));
    assert!(env.contains(&"P2=yes".to_string()), "{env:?}");
    // WASI p2's stable wasi:cli/exit carries only success or failure, and
    // Rust's std maps every non-zero code to failure, which is exit code 1.
    let out = w.cmd(&["run", "--rm", "hello:p2", "exit", "9"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
}

#[test]
fn cpu_sha256_matches_native() {
    let w = Wharf::new();
    let native = artifact("cpu/cpu");
    artifact("cpu/cpu.wasm");
    let ctx = examples_dir().join("cpu");
    w.ok(&[
        "build",
        "--platform",
        "wasi/wasm",
        "-t",
        "cpu:wasm",
        ctx.to_str().unwrap(),
    ]);
    let out = w.ok(&["run", "--rm", "cpu:wasm", "sha256", "4"]);
    let nat = std::process::Command::new(native)
        .args(["sha256", "4"])
        .output()
        .unwrap();
    let first = |s: &str| s.lines().next().unwrap_or("").to_string();
    assert_eq!(first(&out), first(&String::from_utf8_lossy(&nat.stdout)));
    assert!(is_hex(&first(&out), 64), "{out}");
    assert!(out.contains("elapsed_ms="), "{out}");
}

// --- compiled-code cache -------------------------------------------------------

fn cache_files(w: &Wharf) -> Vec<std::path::PathBuf> {
    fn walk(p: &std::path::Path, acc: &mut Vec<std::path::PathBuf>) {
        if let Ok(rd) = fs::read_dir(p) {
            for e in rd.flatten() {
                let ft = e.file_type().unwrap();
                if ft.is_dir() {
                    walk(&e.path(), acc);
                } else if ft.is_file() {
                    acc.push(e.path());
                }
            }
        }
    }
    let mut acc = Vec::new();
    walk(&w.root().join("cache/wasm"), &mut acc);
    acc
}

#[test]
fn build_fills_code_cache() {
    let w = Wharf::new();
    w.build_hello();
    assert!(
        !cache_files(&w).is_empty(),
        "no compiled code under {}/cache/wasm after build",
        w.root().display()
    );
}

#[test]
fn deleted_code_cache_is_recreated() {
    let w = Wharf::new();
    w.build_hello();
    fs::remove_dir_all(w.root().join("cache/wasm")).unwrap();
    assert_eq!(
        w.ok(&["run", "--rm", "hello:1"]),
        format!("{WASM_GREETING}\n")
    );
    assert!(
        !cache_files(&w).is_empty(),
        "cache/wasm not recreated by a run"
    );
    fs::remove_dir_all(w.root().join("cache")).unwrap();
    assert_eq!(
        w.ok(&["run", "--rm", "hello:1", "x"]),
        format!("{WASM_GREETING}\nargs: x\n")
    );
}

#[test]
fn corrupted_code_cache_is_not_trusted() {
    let w = Wharf::new();
    w.build_hello();
    w.ok(&["run", "--rm", "hello:1"]);
    let files = cache_files(&w);
    assert!(!files.is_empty());
    // Garbage of the same size.
    for f in &files {
        let len = fs::metadata(f).unwrap().len() as usize;
        let garbage: Vec<u8> = (0..len.max(64)).map(|i| (i * 7 + 13) as u8).collect();
        fs::write(f, garbage).unwrap();
    }
    assert_eq!(w.ok(&["run", "--rm", "hello:1", "echo", "a"]), "a\n");
    // Truncated.
    for f in &cache_files(&w) {
        let data = fs::read(f).unwrap();
        fs::write(f, &data[..data.len() / 3]).unwrap();
    }
    assert_eq!(w.ok(&["run", "--rm", "hello:1", "echo", "b"]), "b\n");
    // Empty.
    for f in &cache_files(&w) {
        fs::write(f, b"").unwrap();
    }
    assert_eq!(w.ok(&["run", "--rm", "hello:1", "echo", "c"]), "c\n");
}
