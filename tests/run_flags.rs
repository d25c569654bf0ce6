//! `run`/`create` flags in Docker's spelling (issue 17): --stop-signal,
//! --stop-timeout, --cidfile, --pull, --ulimit, --privileged, --init,
//! --mount, --health-*, --runtime, and what a Wasm guest does with the
//! Linux-only ones.

mod common;

use std::time::Duration;

use common::*;

fn busybox(w: &Wharf) {
    build_busybox(w, "bb", "");
}

/// Polls `ps -a` until the container's STATUS contains `want`.
fn wait_status(w: &Wharf, name: &str, want: &str) -> String {
    let mut last = String::new();
    let found = poll(Duration::from_secs(60), || {
        last = w
            .ok(&[
                "ps",
                "-a",
                "--filter",
                &format!("name={name}"),
                "--format",
                "{{.Status}}",
            ])
            .trim()
            .to_string();
        last.contains(want).then(|| last.clone())
    });
    found.unwrap_or_else(|| panic!("{name} never showed {want:?}; last STATUS {last:?}"))
}

#[test]
fn stop_signal_and_stop_timeout_are_what_stop_uses() {
    let w = Wharf::new();
    busybox(&w);
    // The shell only ends on USR1: a SIGTERM stop would be ignored (PID 1
    // without a handler) and end in a SIGKILL, 137.
    w.ok(&[
        "run",
        "-d",
        "--name",
        "usr1",
        "--stop-signal",
        "SIGUSR1",
        "bb",
        "sh",
        "-c",
        "trap 'echo got-usr1; exit 3' USR1; while true; do sleep 0.1; done",
    ]);
    let inspected = w.inspect("usr1");
    assert_eq!(inspected["Config"]["StopSignal"], "SIGUSR1", "{inspected}");
    w.ok(&["stop", "usr1"]);
    assert_eq!(w.inspect("usr1")["State"]["ExitCode"], 3);
    assert!(w.ok(&["logs", "usr1"]).contains("got-usr1"));

    // STOPSIGNAL in the image is the default.
    build_busybox(&w, "bb-hup", "STOPSIGNAL SIGHUP\n");
    w.ok(&[
        "run",
        "-d",
        "--name",
        "hup",
        "bb-hup",
        "sh",
        "-c",
        "trap 'exit 7' HUP; while true; do sleep 0.1; done",
    ]);
    w.ok(&["stop", "hup"]);
    assert_eq!(w.inspect("hup")["State"]["ExitCode"], 7);

    // A container that ignores its stop signal is killed after
    // --stop-timeout: 1 s here, where the default would wait 10.
    w.ok(&[
        "run",
        "-d",
        "--name",
        "stubborn",
        "--stop-timeout",
        "1",
        "bb",
        "sh",
        "-c",
        "trap '' TERM; while true; do sleep 0.1; done",
    ]);
    assert_eq!(w.inspect("stubborn")["Config"]["StopTimeout"], 1);
    let out = run_with_timeout(
        w.command(&["stop", "stubborn"]),
        None,
        Duration::from_secs(8),
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(w.inspect("stubborn")["State"]["ExitCode"], 137);

    let out = w.fails(&["run", "--rm", "--stop-signal", "SIGNOPE", "bb", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("SIGNOPE"), "{}", describe(&out));
    w.ok(&["rm", "usr1", "hup", "stubborn"]);

    // A Wasm guest's owner turns the stop signal into an interruption: 128+10.
    w.build_hello();
    w.ok(&[
        "run",
        "-d",
        "--name",
        "wasm",
        "--stop-signal",
        "USR1",
        "hello:1",
        "spin",
    ]);
    w.ok(&["stop", "wasm"]);
    assert_eq!(w.inspect("wasm")["State"]["ExitCode"], 138);
}

#[test]
fn cidfile_is_written_and_never_overwritten() {
    let w = Wharf::new();
    w.build_hello();
    let cid = w.scratch("cid").join("id");
    let cid_s = cid.to_str().unwrap();
    w.ok(&[
        "run",
        "--name",
        "one",
        "--cidfile",
        cid_s,
        "hello:1",
        "echo",
        "hi",
    ]);
    let id = std::fs::read_to_string(&cid).unwrap();
    assert!(is_hex(&id, 64), "{id:?}");
    assert_eq!(w.inspect("one")["Id"], id.as_str());
    let before = w.ps_all().len();
    let out = w.fails(&[
        "run",
        "--name",
        "two",
        "--cidfile",
        cid_s,
        "hello:1",
        "echo",
        "hi",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains(
            "Container ID file found, make sure the other container isn't running or delete"
        ),
        "{}",
        describe(&out)
    );
    assert_eq!(w.ps_all().len(), before, "a refused run left a container");
    assert_eq!(
        std::fs::read_to_string(&cid).unwrap(),
        id,
        "the file was rewritten"
    );
    // `create` writes it too.
    let cid2 = w.scratch("cid").join("id2");
    let made = w.ok(&["create", "--cidfile", cid2.to_str().unwrap(), "hello:1"]);
    assert_eq!(std::fs::read_to_string(&cid2).unwrap(), made.trim());
}

#[test]
fn pull_never_refuses_a_missing_image_and_bad_policies_are_named() {
    let w = Wharf::new();
    w.build_hello();
    let out = w.fails(&["run", "--rm", "--pull", "never", "nothere:1"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("No such image: nothere:1"),
        "{}",
        describe(&out)
    );
    // A registry name is not pulled either.
    let out = w.fails(&["run", "--rm", "--pull", "never", "localhost:1/nothere:1"]);
    assert!(stderr(&out).contains("No such image"), "{}", describe(&out));
    assert!(
        !stderr(&out).contains("Unable to find image"),
        "{}",
        describe(&out)
    );
    // A present image runs.
    assert!(w
        .ok(&["run", "--rm", "--pull", "never", "hello:1", "echo", "x"])
        .contains('x'));
    let out = w.fails(&["run", "--rm", "--pull", "sometimes", "hello:1"]);
    assert!(
        stderr(&out).contains("invalid pull option: 'sometimes'"),
        "{}",
        describe(&out)
    );
    // always pulls first: here from a registry that is not there, so it fails
    // although the store has the image.
    w.ok(&["tag", "hello:1", "localhost:1/hello:1"]);
    let out = w.fails(&["run", "--rm", "--pull", "always", "localhost:1/hello:1"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(w
        .ok(&[
            "run",
            "--rm",
            "--pull",
            "missing",
            "localhost:1/hello:1",
            "echo",
            "y"
        ])
        .contains('y'));
}

#[test]
fn ulimit_lowers_limits_inside() {
    let w = Wharf::new();
    busybox(&w);
    let out = w.ok(&[
        "run",
        "--rm",
        "--ulimit",
        "nofile=256:256",
        "--ulimit",
        "nproc=100",
        "bb",
        "sh",
        "-c",
        "ulimit -n; ulimit -Hn; ulimit -u",
    ]);
    assert_eq!(lines(&out), ["256", "256", "100"]);
    let out = w.fails(&["run", "--rm", "--ulimit", "nofile=512:256", "bb", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("512 > 256"), "{}", describe(&out));
    // Above Wharf's own hard limit: fine with CAP_SYS_RESOURCE, else
    // refused before anything is made, naming the most it can give.
    let own_hard = String::from_utf8(
        std::process::Command::new("sh")
            .args(["-c", "ulimit -Hn"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let own_hard: u64 = own_hard.trim().parse().unwrap_or(u64::MAX);
    if own_hard < 100_000 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let eff = status
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .unwrap();
        let can_raise = u64::from_str_radix(eff.trim(), 16).unwrap() & (1 << 24) != 0;
        let out = w.cmd(&[
            "run",
            "--rm",
            "--ulimit",
            "nofile=100000",
            "bb",
            "sh",
            "-c",
            "ulimit -Hn",
        ]);
        if can_raise {
            assert_eq!(stdout(&out), "100000\n", "{}", describe(&out));
        } else {
            assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
            assert!(
                stderr(&out).contains(&format!("give at most {own_hard}")),
                "{}",
                describe(&out)
            );
        }
    }
    let out = w.fails(&["run", "--rm", "--ulimit", "files=1", "bb", "true"]);
    assert!(
        stderr(&out).contains("invalid ulimit type: files"),
        "{}",
        describe(&out)
    );
}

/// The bounding set of this (test) process: what "every capability" is here.
fn own_bounding_set() -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn privileged_lifts_caps_seccomp_masks_and_devices() {
    let w = Wharf::new();
    busybox(&w);
    assert!(
        std::path::Path::new("/dev/kmsg").exists(),
        "the host has no /dev/kmsg"
    );
    let probe = "grep -E '^(CapEff|Seccomp):' /proc/self/status; grep -c ' /proc/kcore ' /proc/mounts; test -c /dev/kmsg && echo kmsg; grep ' /sys ' /proc/mounts | cut -d' ' -f4 | cut -d, -f1";
    let plain = w.cmd(&["run", "--rm", "bb", "sh", "-c", probe]);
    let plain = stdout(&plain);
    assert!(plain.contains("00000000a80425fb"), "{plain}");
    assert!(plain.contains("Seccomp:\t2"), "{plain}");
    assert!(!plain.contains("kmsg"), "{plain}");
    let out = w.ok(&["run", "--rm", "--privileged", "bb", "sh", "-c", probe]);
    let l = lines(&out);
    assert_eq!(l[0], format!("CapEff:\t{}", own_bounding_set()), "{out}");
    assert_eq!(l[1], "Seccomp:\t0", "{out}");
    assert_eq!(l[2], "0", "/proc/kcore is still masked: {out}");
    assert_eq!(l[3], "kmsg", "{out}");
    assert_eq!(l[4], "rw", "/sys is not writable: {out}");
    assert_eq!(
        w.ok(&["run", "--privileged", "--name", "p", "bb", "true"]),
        ""
    );
    assert_eq!(w.inspect("p")["HostConfig"]["Privileged"], true);

    w.build_hello();
    let out = w.fails(&["run", "--rm", "--privileged", "hello:1"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("--privileged is for Linux containers"),
        "{}",
        describe(&out)
    );
}

#[test]
fn init_is_pid_1_forwards_signals_and_reaps() {
    let w = Wharf::new();
    busybox(&w);
    let out = w.ok(&["run", "--rm", "--init", "bb", "ps", "-o", "pid,comm"]);
    assert!(
        lines(&out)
            .iter()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["1", "docker-init"]),
        "{out}"
    );
    // Exit codes pass through.
    let out = w.cmd(&["run", "--rm", "--init", "bb", "sh", "-c", "exit 5"]);
    assert_eq!(out.status.code(), Some(5), "{}", describe(&out));
    // An orphan (the subshell's sleep) is reparented to PID 1. Without
    // --init PID 1 is `sleep`, which never reaps it: a zombie stays. With
    // --init the init reaps it and it is gone.
    let orphaning = "(sleep 0.2 &); exec sleep 300";
    let processes = |name: &str| w.ok(&["exec", name, "ps", "-o", "stat,args"]);
    w.ok(&[
        "run", "-d", "--name", "no-init", "bb", "sh", "-c", orphaning,
    ]);
    poll(Duration::from_secs(30), || {
        processes("no-init")
            .lines()
            .any(|l| l.starts_with('Z'))
            .then_some(())
    })
    .unwrap_or_else(|| panic!("no zombie without --init: {}", processes("no-init")));
    w.ok(&[
        "run",
        "-d",
        "--init",
        "--name",
        "with-init",
        "bb",
        "sh",
        "-c",
        orphaning,
    ]);
    poll(Duration::from_secs(30), || {
        let ps = processes("with-init");
        (!ps.lines()
            .any(|l| l.starts_with('Z') || (l.contains("sleep 0.2") && !l.contains("docker-init"))))
        .then_some(())
    })
    .unwrap_or_else(|| panic!("the orphan was not reaped: {}", processes("with-init")));
    w.ok(&["rm", "-f", "no-init", "with-init"]);
    // stop's SIGTERM reaches the shell through the init.
    w.ok(&[
        "run",
        "-d",
        "--init",
        "--name",
        "fwd",
        "bb",
        "sh",
        "-c",
        "trap 'exit 4' TERM; while true; do sleep 0.1; done",
    ]);
    w.ok(&["stop", "fwd"]);
    assert_eq!(w.inspect("fwd")["State"]["ExitCode"], 4);
    assert_eq!(w.inspect("fwd")["HostConfig"]["Init"], true);
    w.ok(&["rm", "fwd"]);
}

#[test]
fn mount_takes_dockers_syntax() {
    let w = Wharf::new();
    busybox(&w);
    let dir = w.scratch("m");
    std::fs::write(dir.join("in.txt"), "from the host\n").unwrap();
    let src = dir.to_str().unwrap();
    let out = w.cmd(&[
        "run",
        "--rm",
        "--mount",
        &format!("type=bind,source={src},target=/data,readonly"),
        "bb",
        "sh",
        "-c",
        "cat /data/in.txt; touch /data/x",
    ]);
    assert_eq!(stdout(&out), "from the host\n");
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        describe(&out)
    );
    assert!(!dir.join("x").exists());
    w.ok(&[
        "run",
        "--rm",
        "--mount",
        &format!("src={src},dst=/data,type=bind"),
        "bb",
        "touch",
        "/data/x",
    ]);
    assert!(dir.join("x").exists());
    // A named volume, made on first use and kept.
    w.ok(&[
        "run",
        "--rm",
        "--mount",
        "source=vol1,target=/v",
        "bb",
        "sh",
        "-c",
        "echo kept > /v/f",
    ]);
    let out = w.ok(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,source=vol1,target=/v",
        "bb",
        "cat",
        "/v/f",
    ]);
    assert_eq!(out, "kept\n");
    let out = w.ok(&[
        "run",
        "--rm",
        "--mount",
        "type=tmpfs,target=/scratch,tmpfs-size=1m",
        "bb",
        "grep",
        " /scratch ",
        "/proc/mounts",
    ]);
    assert!(
        out.starts_with("tmpfs /scratch tmpfs") && out.contains("size=1024k"),
        "{out}"
    );
    for (bad, says) in [
        (
            "type=bind,source=/nonexistent/wharf,target=/x",
            "bind source path does not exist: /nonexistent/wharf",
        ),
        (
            "type=tmpfs,source=x,target=/x",
            "source must not be specified",
        ),
        ("type=bind,source=/tmp", "target is required"),
        (
            "type=bind,source=/tmp,target=/x,colour=red",
            "unexpected key 'colour'",
        ),
    ] {
        let out = w.fails(&["run", "--rm", "--mount", bad, "bb", "true"]);
        assert_eq!(out.status.code(), Some(125));
        assert!(stderr(&out).contains(says), "{bad}: {}", describe(&out));
    }
}

#[test]
fn healthcheck_is_run_by_the_monitor() {
    let w = Wharf::new();
    busybox(&w);
    w.ok(&[
        "run",
        "-d",
        "--name",
        "doc",
        "--health-cmd",
        "test -e /ok",
        "--health-interval",
        "100ms",
        "--health-retries",
        "2",
        "bb",
        "sleep",
        "300",
    ]);
    wait_status(&w, "doc", "(unhealthy)");
    let health = &w.inspect("doc")["State"]["Health"];
    assert_eq!(health["Status"], "unhealthy", "{health}");
    assert!(health["FailingStreak"].as_u64().unwrap() >= 2, "{health}");
    assert_eq!(
        health["Log"].as_array().unwrap().last().unwrap()["ExitCode"],
        1
    );
    w.ok(&["exec", "doc", "touch", "/ok"]);
    wait_status(&w, "doc", "(healthy)");
    let inspected = w.inspect("doc");
    assert_eq!(inspected["State"]["Health"]["Status"], "healthy");
    assert_eq!(inspected["State"]["Health"]["FailingStreak"], 0);
    assert_eq!(
        inspected["Config"]["Healthcheck"]["Test"],
        serde_json::json!(["CMD-SHELL", "test -e /ok"])
    );
    w.ok(&["rm", "-f", "doc"]);

    let out = w.fails(&[
        "run",
        "--rm",
        "--no-healthcheck",
        "--health-cmd",
        "true",
        "bb",
        "true",
    ]);
    assert!(
        stderr(&out).contains("--no-healthcheck conflicts"),
        "{}",
        describe(&out)
    );
    let out = w.fails(&[
        "run",
        "--rm",
        "--health-cmd",
        "true",
        "--health-interval",
        "soon",
        "bb",
        "true",
    ]);
    assert!(
        stderr(&out).contains("invalid --health-interval \"soon\""),
        "{}",
        describe(&out)
    );
    w.build_hello();
    let out = w.fails(&["run", "--rm", "--health-cmd", "true", "hello:1"]);
    assert!(
        stderr(&out).contains("no health-check command can be exec'd"),
        "{}",
        describe(&out)
    );
}

#[test]
fn runtime_picks_the_matching_executor() {
    let w = Wharf::new();
    busybox(&w);
    w.build_hello();
    for rt in ["wharf", "runc", "crun", "io.containerd.runc.v2"] {
        let out = w.cmd(&["run", "--rm", "--runtime", rt, "bb", "echo", "linux"]);
        assert_eq!(stdout(&out), "linux\n", "{rt}: {}", describe(&out));
        let noted = stderr(&out).contains("the container runs on Wharf's own Linux");
        assert_eq!(noted, rt != "wharf", "{rt}: {}", describe(&out));
    }
    for rt in [
        "wharf",
        "io.containerd.wasmtime.v1",
        "io.containerd.wasmedge.v1",
        "io.containerd.spin.v2",
    ] {
        let out = w.cmd(&["run", "--rm", "--runtime", rt, "hello:1", "echo", "wasm"]);
        assert_eq!(stdout(&out), "wasm\n", "{rt}: {}", describe(&out));
        let noted = stderr(&out).contains("the container runs on Wharf's own wasmtime executor");
        assert_eq!(
            noted,
            rt.contains("wasmedge") || rt.contains("spin"),
            "{rt}: {}",
            describe(&out)
        );
    }
    let out = w.fails(&[
        "run",
        "--rm",
        "--runtime",
        "io.containerd.wasmtime.v1",
        "bb",
        "true",
    ]);
    assert!(
        stderr(&out).contains("bb is a Linux image"),
        "{}",
        describe(&out)
    );
    let out = w.fails(&["run", "--rm", "--runtime", "runc", "hello:1"]);
    assert!(
        stderr(&out).contains("hello:1 is a Wasm image"),
        "{}",
        describe(&out)
    );
    let out = w.fails(&["run", "--rm", "--runtime", "kata", "hello:1"]);
    assert!(
        stderr(&out).contains("unknown or invalid runtime name: kata"),
        "{}",
        describe(&out)
    );
    w.ok(&[
        "create",
        "--name",
        "rt",
        "--runtime",
        "io.containerd.wasmtime.v1",
        "hello:1",
    ]);
    assert_eq!(
        w.inspect("rt")["HostConfig"]["Runtime"],
        "io.containerd.wasmtime.v1"
    );
}

#[test]
fn wasm_guests_name_the_linux_flags_they_ignore() {
    let w = Wharf::new();
    w.build_hello();
    let out = w.cmd(&[
        "run",
        "--rm",
        "--pids-limit",
        "10",
        "-u",
        "1000",
        "--cap-drop",
        "ALL",
        "--tmpfs",
        "/run",
        "--security-opt",
        "no-new-privileges",
        "--ulimit",
        "nofile=64",
        "--init",
        "--read-only",
        "--cpus",
        "1",
        "--memory",
        "64m",
        "hello:1",
        "echo",
        "ran",
    ]);
    assert_eq!(stdout(&out), "ran\n", "{}", describe(&out));
    let err = stderr(&out);
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 1, "one warning expected: {err}");
    for flag in [
        "--user",
        "--cap-drop",
        "--security-opt",
        "--pids-limit",
        "--tmpfs",
        "--ulimit",
        "--init",
    ] {
        assert!(warnings[0].contains(flag), "{flag} not named: {err}");
    }
    for flag in ["--read-only", "--cpus", "--memory"] {
        assert!(
            !warnings[0].contains(flag),
            "{flag} has a Wasm meaning: {err}"
        );
    }
    let out = w.cmd(&["run", "--rm", "--read-only", "hello:1", "echo", "quiet"]);
    assert_eq!(stderr(&out), "", "{}", describe(&out));

    // --platform must match what the local image is.
    let out = w.fails(&["run", "--rm", "--platform", "linux/amd64", "hello:1"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("hello:1 is a Wasm (wasi/wasm) image with no linux/amd64 variant"),
        "{}",
        describe(&out)
    );
    busybox(&w);
    let out = w.fails(&["run", "--rm", "--platform", "wasi/wasm", "bb", "true"]);
    assert!(
        stderr(&out).contains("bb is a Linux image with no wasi/wasm variant"),
        "{}",
        describe(&out)
    );
}

/// Runs `wharf ARGS` with its stdout a pipe whose reading end is closed
/// before it writes (`| head` that already left).
fn with_closed_stdout(w: &Wharf, args: &[&str]) -> std::process::Output {
    let mut cmd = w.command(args);
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .stdin(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    drop(child.stdout.take());
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        std::io::Read::read_to_end(&mut err, &mut s).unwrap();
        s
    });
    let status = wait_timeout(&mut child, Duration::from_secs(60)).expect("it hung");
    std::process::Output {
        status,
        stdout: Vec::new(),
        stderr: reader.join().unwrap(),
    }
}

#[test]
fn closed_pipes_end_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let w = Wharf::new();
    w.build_hello();
    let dir = w.scratch("big");
    let text: String = (0..100_000).map(|i| format!("line {i}\n")).collect();
    std::fs::write(dir.join("f"), &text).unwrap();
    let v = format!("{}:/d", dir.display());
    w.ok(&["run", "--name", "big", "-v", &v, "hello:1", "cat", "/d/f"]);
    // `wharf logs big | head`: ended by SIGPIPE, as `cat | head`, no message.
    let out = with_closed_stdout(&w, &["logs", "big"]);
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "{}",
        describe(&out)
    );
    assert_eq!(stderr(&out), "", "{}", describe(&out));
    let out = with_closed_stdout(&w, &["ps", "-a"]);
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "{}",
        describe(&out)
    );

    // A guest whose print fails on the closed pipe (Rust's println! panics)
    // ends as a native process would, by SIGPIPE: 141, and Wharf prints no
    // trap or wasm backtrace of its own.
    let long = "x".repeat(100_000);
    let out = with_closed_stdout(&w, &["run", "--rm", "hello:1", "echo", &long]);
    assert_eq!(out.status.code(), Some(141), "{}", describe(&out));
    let err = stderr(&out);
    assert!(
        !err.contains("wasm backtrace") && !err.contains("trapped"),
        "{err}"
    );
}

#[test]
fn error_messages_name_each_cause_once() {
    let w = Wharf::new();
    // An io::Error that its context already printed.
    let missing = w.scratch("ctx").join("nothere");
    let out = w.fails(&["build", missing.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(err.matches("(os error 2)").count(), 1, "{err}");
    // The container's init failing: its cause, once, and no "error error".
    busybox(&w);
    let dir = w.scratch("d");
    let v = format!("{}:/etc/hosts", dir.display());
    let out = w.fails(&["run", "--rm", "-v", &v, "bb", "true"]);
    let err = stderr(&out);
    assert!(!err.contains("error error"), "{err}");
    assert!(
        err.contains("Not a directory"),
        "the cause is missing: {err}"
    );
    assert_eq!(err.matches("Not a directory").count(), 1, "{err}");
    // Malformed exec-form JSON in a Dockerfile is a syntax error at its line.
    let out = w.build_text(
        "FROM scratch\nCOPY hello.wasm /hello.wasm\nCMD [\"/hello.wasm\", ]\n",
        &["--platform", "wasi/wasm", "-t", "bad:1"],
    );
    assert_error(&out, "build with CMD [\"/hello.wasm\", ]");
    let err = stderr(&out);
    assert!(
        err.contains("Dockerfile line 3") && err.contains("malformed exec form"),
        "{err}"
    );
    assert!(
        !w.images_json().contains("bad"),
        "the image was made anyway"
    );
}

/// Debian's docker-registry on 127.0.0.1 with temporary storage, killed on drop.
struct Registry {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start() -> Registry {
        let bin = "/usr/bin/docker-registry";
        assert!(
            std::path::Path::new(bin).is_file(),
            "{bin} is missing: run `bash scripts/setup.sh`"
        );
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("storage").display()
            ),
        )
        .unwrap();
        let child = std::process::Command::new(bin)
            .arg("serve")
            .arg(&config)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        poll(Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        })
        .expect("docker-registry did not start");
        Registry {
            child,
            port,
            _dir: dir,
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn pull_always_replaces_the_local_image_first() {
    let w = Wharf::new();
    w.build_hello();
    busybox(&w);
    let reg = Registry::start();
    let name = format!("127.0.0.1:{}/hello:1", reg.port);
    w.ok(&["push", "hello:1", &name]);
    // Locally the name now means the Linux busybox image...
    w.ok(&["tag", "bb", &name]);
    w.ok(&["create", "--name", "local", &name, "true"]);
    assert_eq!(w.inspect("local")["Kind"], "linux");
    // ...which --pull missing (the default) keeps, and --pull always
    // replaces with the registry's Wasm image before running it.
    let out = w.cmd(&[
        "run",
        "--name",
        "pulled",
        "--pull",
        "always",
        &name,
        "echo",
        "from-registry",
    ]);
    assert_eq!(stdout(&out), "from-registry\n", "{}", describe(&out));
    assert_eq!(w.inspect("pulled")["Kind"], "wasm");
}

#[test]
fn a_missing_workdir_is_made_as_docker_does() {
    let w = Wharf::new();
    busybox(&w);
    assert_eq!(
        w.ok(&["run", "--rm", "-w", "/new/dir", "bb", "pwd"]),
        "/new/dir\n"
    );
    // Under a symlink, as the container resolves it (/bin/sh is busybox).
    let out = w.fails(&["run", "--rm", "-w", "/bin/sh/x", "bb", "pwd"]);
    assert!(
        stderr(&out).contains("the working directory /bin/sh/x in the container: Not a directory"),
        "{}",
        describe(&out)
    );
}
