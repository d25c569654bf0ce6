//! Container lifecycle: detached runs, ps, logs, stop, kill, rm, inspect,
//! names, and the per-container monitor.

mod common;

use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// `wharf run -d ARGS`, asserting it prints a 64-hex container id.
fn run_detached(w: &Wharf, args: &[&str]) -> String {
    let mut a = vec!["run", "-d"];
    a.extend_from_slice(args);
    let out = w.ok(&a);
    let id = out.trim().to_string();
    assert!(
        is_hex(&id, 64),
        "run -d should print a 64-hex id, got {out:?}"
    );
    id
}

fn ps_entry(w: &Wharf, name: &str) -> Option<Value> {
    w.ps_all()
        .into_iter()
        .find(|c| names_of(c).contains(&name.to_string()))
}

/// The names of a `ps --format json` object (Docker prints a string; a list
/// is accepted too), without leading slashes.
fn names_of(c: &Value) -> Vec<String> {
    match &c["Names"] {
        Value::String(s) => s
            .split(',')
            .map(|n| n.trim_start_matches('/').to_string())
            .collect(),
        Value::Array(a) => a
            .iter()
            .filter_map(|n| n.as_str())
            .map(|n| n.trim_start_matches('/').to_string())
            .collect(),
        _ => vec![],
    }
}

#[test]
fn detached_run_shows_in_ps() {
    let w = Wharf::new();
    w.build_hello();
    let id = run_detached(&w, &["--name", "sleepy", "hello:1", "sleep", "30"]);

    let table = w.ok(&["ps"]);
    let header = table.lines().next().unwrap_or("");
    let cols: Vec<&str> = header
        .split("  ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(
        cols,
        [
            "CONTAINER ID",
            "IMAGE",
            "COMMAND",
            "CREATED",
            "STATUS",
            "PORTS",
            "NAMES"
        ],
        "ps header: {table}"
    );
    let row = table
        .lines()
        .find(|l| l.contains("sleepy"))
        .unwrap_or_else(|| panic!("sleepy not in ps:\n{table}"));
    assert!(
        row.starts_with(&id[..12]),
        "row should start with the short id: {row}"
    );
    assert!(row.contains("hello:1"), "{row}");
    assert!(
        row.contains("Up"),
        "running containers show `Up ...`: {row}"
    );

    let q = w.ok(&["ps", "-q"]);
    assert_eq!(lines(&q), [id[..12].to_string()]);

    let v = json_lines(&w.ok(&["ps", "--format", "json"]));
    assert_eq!(v.len(), 1, "{v:?}");
    let c = &v[0];
    for key in [
        "ID",
        "Names",
        "Image",
        "Command",
        "CreatedAt",
        "Status",
        "State",
        "Kind",
    ] {
        assert!(c.get(key).is_some(), "ps json lacks {key}: {c}");
    }
    assert!(id.starts_with(c["ID"].as_str().unwrap()), "{c}");
    assert_eq!(names_of(c), ["sleepy"]);
    assert_eq!(c["Image"], "hello:1");
    assert_eq!(c["State"], "running");
    assert_eq!(c["Kind"], "wasm");

    w.ok(&["kill", "sleepy"]);
    w.wait_exited("sleepy", Duration::from_secs(10));
    assert_eq!(
        w.ok(&["ps", "-q"]).trim(),
        "",
        "exited containers are hidden without -a"
    );
    let c = ps_entry(&w, "sleepy").expect("ps -a lists exited containers");
    assert_eq!(c["State"], "exited");
    assert!(
        w.ok(&["ps", "-a"]).contains("Exited"),
        "status column says Exited"
    );
}

#[test]
fn exited_container_keeps_exit_code() {
    let w = Wharf::new();
    w.build_hello();
    let out = w.cmd(&["run", "--name", "ex", "hello:1", "exit", "7"]);
    assert_eq!(out.status.code(), Some(7), "{}", describe(&out));
    let v = w.inspect("ex");
    assert_eq!(v["State"]["Status"], "exited");
    assert_eq!(v["State"]["ExitCode"], 7);
    assert_eq!(v["State"]["Running"], false);
    let c = ps_entry(&w, "ex").unwrap();
    assert!(c["Status"].as_str().unwrap().contains("Exited (7)"), "{c}");
}

#[test]
fn logs_separate_stdout_and_stderr() {
    let w = Wharf::new();
    w.build_hello();
    run_detached(&w, &["--name", "out", "hello:1", "echo", "to", "stdout"]);
    run_detached(&w, &["--name", "err", "hello:1", "stderr", "to", "stderr"]);
    w.wait_exited("out", Duration::from_secs(20));
    w.wait_exited("err", Duration::from_secs(20));

    let o = w.cmd(&["logs", "out"]);
    assert!(o.status.success(), "{}", describe(&o));
    assert_eq!(stdout(&o), "to stdout\n");
    assert_eq!(stderr(&o), "");

    let e = w.cmd(&["logs", "err"]);
    assert!(e.status.success(), "{}", describe(&e));
    assert_eq!(stdout(&e), "");
    assert_eq!(stderr(&e), "to stderr\n");
}

#[test]
fn logs_tail_since_and_until() {
    let w = Wharf::new();
    build_busybox(&w, "bb", "CMD [\"sh\"]\n");
    run_detached(
        &w,
        &[
            "--name",
            "l",
            "bb",
            "sh",
            "-c",
            "echo one; echo two; sleep 3; echo three",
        ],
    );
    w.wait_exited("l", Duration::from_secs(20));
    // Right after the exit: "three" is a moment old, the others ~3 s.
    assert_eq!(w.ok(&["logs", "--since", "2s", "l"]), "three\n");
    assert_eq!(w.ok(&["logs", "--until", "2s", "l"]), "one\ntwo\n");
    assert_eq!(w.ok(&["logs", "--tail", "2", "l"]), "two\nthree\n");
    assert_eq!(w.ok(&["logs", "-n", "0", "l"]), "");
    assert_eq!(w.ok(&["logs", "--tail", "all", "l"]), "one\ntwo\nthree\n");
    let bad = w.cmd(&["logs", "--tail", "many", "l"]);
    assert!(!bad.status.success());
    assert_error(&bad, "--tail");
    let bad = w.cmd(&["logs", "--since", "yesterday-ish", "l"]);
    assert_error(&bad, "RFC 3339");
}

#[test]
fn foreground_run_is_logged_too() {
    let w = Wharf::new();
    w.build_hello();
    assert_eq!(
        w.ok(&["run", "--name", "fg", "hello:1", "echo", "hi"]),
        "hi\n"
    );
    assert_eq!(w.ok(&["logs", "fg"]), "hi\n");
}

#[test]
fn log_file_is_docker_json_file_format() {
    let w = Wharf::new();
    w.build_hello();
    let id = run_detached(&w, &["--name", "j", "hello:1", "tick", "3"]);
    let v = w.wait_exited("j", Duration::from_secs(20));
    let path = w.root().join(format!("containers/{id}/{id}-json.log"));
    assert!(path.is_file(), "no log file at {}", path.display());
    assert_eq!(
        fs::canonicalize(v["LogPath"].as_str().unwrap()).unwrap(),
        fs::canonicalize(&path).unwrap(),
        "inspect LogPath"
    );
    let text = fs::read_to_string(&path).unwrap();
    let entries = json_lines(&text);
    assert_eq!(entries.len(), 3, "{text}");
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e["log"], format!("tick {}\n", i + 1), "{text}");
        assert_eq!(e["stream"], "stdout");
        let t = e["time"].as_str().expect("time is a string");
        // RFC 3339, UTC, like Docker: 2024-05-01T12:34:56.123456789Z
        assert!(
            t.len() >= 20 && &t[4..5] == "-" && &t[10..11] == "T" && t.ends_with('Z'),
            "time {t:?} is not RFC 3339 UTC"
        );
    }
}

#[test]
fn logs_timestamps_flag() {
    let w = Wharf::new();
    w.build_hello();
    w.ok(&["run", "--name", "ts", "hello:1", "tick", "2"]);
    let out = w.ok(&["logs", "-t", "ts"]);
    let ls = lines(&out);
    assert_eq!(ls.len(), 2, "{out}");
    for (i, l) in ls.iter().enumerate() {
        let (ts, rest) = l.split_once(' ').unwrap_or(("", ""));
        assert!(
            ts.contains('T') && ts.ends_with('Z'),
            "no timestamp in {l:?}"
        );
        assert_eq!(rest, format!("tick {}", i + 1));
    }
}

#[test]
fn logs_follow_until_exit() {
    let w = Wharf::new();
    w.build_hello();
    run_detached(&w, &["--name", "ticker", "hello:1", "tick", "10"]);
    let t = Instant::now();
    let out = w.ok(&["logs", "-f", "ticker"]);
    let expect: Vec<String> = (1..=10).map(|i| format!("tick {i}")).collect();
    assert_eq!(
        lines(&out),
        expect,
        "logs -f must stream until the container exits"
    );
    assert!(t.elapsed() < Duration::from_secs(60));
    let v = w.inspect("ticker");
    assert_eq!(v["State"]["Running"], false, "logs -f returned before exit");
}

#[test]
fn stop_running_spinner() {
    let w = Wharf::new();
    w.build_hello();
    run_detached(&w, &["--name", "spin", "hello:1", "spin"]);
    assert_eq!(w.inspect("spin")["State"]["Running"], true);
    let t = Instant::now();
    w.ok(&["stop", "-t", "1", "spin"]);
    assert!(
        t.elapsed() < Duration::from_secs(8),
        "stop -t 1 took {:?}",
        t.elapsed()
    );
    let v = w.wait_exited("spin", Duration::from_secs(5));
    let code = v["State"]["ExitCode"].as_i64().unwrap();
    assert!(code == 143 || code == 137, "exit code {code}: {v:#}");
    assert_eq!(v["State"]["Status"], "exited");
    // The monitor is gone as well.
    let pid = v["State"]["Pid"].as_i64().unwrap_or(0);
    if pid > 0 {
        assert!(
            poll(Duration::from_secs(5), || (unsafe {
                libc::kill(pid as i32, 0)
            } != 0)
                .then_some(()))
            .is_some(),
            "monitor pid {pid} still alive after stop"
        );
    }
}

#[test]
fn stop_several_at_once() {
    let w = Wharf::new();
    w.build_hello();
    run_detached(&w, &["--name", "a", "hello:1", "sleep", "30"]);
    run_detached(&w, &["--name", "b", "hello:1", "sleep", "30"]);
    w.ok(&["stop", "-t", "1", "a", "b"]);
    for n in ["a", "b"] {
        let v = w.wait_exited(n, Duration::from_secs(5));
        assert_eq!(v["State"]["Status"], "exited");
    }
}

#[test]
fn kill_defaults_to_sigkill_and_takes_signal() {
    let w = Wharf::new();
    w.build_hello();
    run_detached(&w, &["--name", "k9", "hello:1", "sleep", "30"]);
    w.ok(&["kill", "k9"]);
    let v = w.wait_exited("k9", Duration::from_secs(10));
    assert_eq!(v["State"]["ExitCode"], 137, "{v:#}");

    run_detached(&w, &["--name", "kterm", "hello:1", "sleep", "30"]);
    w.ok(&["kill", "-s", "SIGTERM", "kterm"]);
    let v = w.wait_exited("kterm", Duration::from_secs(10));
    assert_eq!(v["State"]["ExitCode"], 143, "{v:#}");

    // Killing a container that is not running is an error.
    let out = w.fails(&["kill", "k9"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
}

#[test]
fn rm_running_needs_force() {
    let w = Wharf::new();
    w.build_hello();
    let id = run_detached(&w, &["--name", "busy", "hello:1", "sleep", "30"]);
    let out = w.fails(&["rm", "busy"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).to_lowercase().contains("running"),
        "{}",
        describe(&out)
    );
    assert_eq!(
        w.inspect("busy")["State"]["Running"],
        true,
        "failed rm must not stop it"
    );

    w.ok(&["rm", "-f", "busy"]);
    assert!(ps_entry(&w, "busy").is_none(), "rm -f left it listed");
    assert!(
        !w.root().join("containers").join(&id).exists(),
        "rm -f left its directory"
    );
    w.fails(&["inspect", "busy"]);
}

#[test]
fn rm_exited_container() {
    let w = Wharf::new();
    w.build_hello();
    w.ok(&["run", "--name", "done1", "hello:1"]);
    let id = w.inspect("done1")["Id"].as_str().unwrap().to_string();
    assert!(w.root().join("containers").join(&id).is_dir());
    // By id prefix.
    w.ok(&["rm", &id[..12]]);
    assert!(ps_entry(&w, "done1").is_none());
    assert!(!w.root().join("containers").join(&id).exists());
    let out = w.fails(&["rm", "done1"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn inspect_container() {
    let w = Wharf::new();
    w.build_hello();
    let vol = w.scratch("vol");
    let v = format!("{}:/data", vol.display());
    let id = run_detached(
        &w,
        &[
            "--name", "insp", "-e", "FOO=bar", "-v", &v, "-w", "/data", "hello:1", "sleep", "30",
        ],
    );
    let c = w.inspect("insp");
    assert_eq!(c["Id"], id.as_str());
    assert_eq!(c["Name"], "/insp");
    assert_eq!(c["Path"], "/hello.wasm");
    assert_eq!(c["Args"], serde_json::json!(["sleep", "30"]));
    assert_eq!(c["Kind"], "wasm");
    assert!(
        c["Created"].as_str().is_some_and(|s| s.contains('T')),
        "{c:#}"
    );
    assert!(c["Image"].as_str().is_some_and(|s| !s.is_empty()), "{c:#}");

    let st = &c["State"];
    assert_eq!(st["Status"], "running");
    assert_eq!(st["Running"], true);
    assert!(st["Pid"].as_i64().unwrap() > 0);
    assert_eq!(st["OOMKilled"], false);
    assert!(st.get("ExitCode").is_some() && st.get("Error").is_some());
    assert!(
        st["StartedAt"].as_str().is_some_and(|s| s.contains('T')),
        "{st:#}"
    );
    assert!(st.get("FinishedAt").is_some());

    let cfg = &c["Config"];
    assert_eq!(cfg["Image"], "hello:1");
    assert_eq!(cfg["Entrypoint"], serde_json::json!(["/hello.wasm"]));
    assert_eq!(cfg["Cmd"], serde_json::json!(["sleep", "30"]));
    assert_eq!(cfg["WorkingDir"], "/data");
    assert!(
        cfg["Env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "FOO=bar"),
        "{cfg:#}"
    );

    let m = c["Mounts"].as_array().expect("Mounts is an array");
    assert_eq!(m.len(), 1, "{c:#}");
    assert_eq!(
        fs::canonicalize(m[0]["Source"].as_str().unwrap()).unwrap(),
        fs::canonicalize(&vol).unwrap()
    );
    assert_eq!(m[0]["Destination"], "/data");
    assert_eq!(m[0]["RW"], true);
    assert!(c["LogPath"]
        .as_str()
        .unwrap()
        .ends_with(&format!("{id}-json.log")));

    // By id and id prefix too; several at once give several objects.
    assert_eq!(w.inspect(&id)["Id"], id.as_str());
    assert_eq!(w.inspect(&id[..12])["Id"], id.as_str());
    let both: Value = serde_json::from_str(&w.ok(&["inspect", "insp", "hello:1"])).unwrap();
    assert_eq!(both.as_array().unwrap().len(), 2);

    w.ok(&["stop", "-t", "1", "insp"]);
    let c = w.wait_exited("insp", Duration::from_secs(5));
    assert_eq!(c["State"]["Status"], "exited");
    assert!(c["State"]["FinishedAt"]
        .as_str()
        .is_some_and(|s| s.contains('T')));
}

#[test]
fn readonly_mount_shows_in_inspect() {
    let w = Wharf::new();
    w.build_hello();
    let vol = w.scratch("vol");
    let v = format!("{}:/ro:ro", vol.display());
    w.ok(&["run", "--name", "rom", "-v", &v, "hello:1"]);
    let m = &w.inspect("rom")["Mounts"][0];
    assert_eq!(m["Destination"], "/ro");
    assert_eq!(m["RW"], false);
}

#[test]
fn names_are_unique() {
    let w = Wharf::new();
    w.build_hello();
    w.ok(&["run", "--name", "h", "hello:1"]);
    let out = w.cmd(&["run", "--name", "h", "hello:1"]);
    assert_error(&out, "second run --name h");
    assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
    assert!(stdout(&out).is_empty(), "the second container must not run");
    let n = w
        .ps_all()
        .iter()
        .filter(|c| names_of(c).contains(&"h".to_string()))
        .count();
    assert_eq!(n, 1);
}

#[test]
fn unnamed_containers_get_generated_names() {
    let w = Wharf::new();
    w.build_hello();
    w.ok(&["run", "hello:1"]);
    w.ok(&["run", "hello:1"]);
    let all = w.ps_all();
    assert_eq!(all.len(), 2);
    let a = names_of(&all[0]);
    let b = names_of(&all[1]);
    assert!(!a.is_empty() && !a[0].is_empty());
    assert_ne!(a, b);
}

#[test]
fn ps_tells_the_truth_after_monitor_is_killed() {
    let w = Wharf::new();
    w.build_hello();
    run_detached(&w, &["--name", "orphan", "hello:1", "sleep", "30"]);
    let pid = w.inspect("orphan")["State"]["Pid"].as_i64().unwrap();
    assert!(pid > 0);
    assert_eq!(
        unsafe { libc::kill(pid as i32, libc::SIGKILL) },
        0,
        "kill -9 {pid}"
    );
    let seen = poll(Duration::from_secs(10), || {
        let c = ps_entry(&w, "orphan")?;
        (c["State"] == "exited").then_some(c)
    });
    assert!(
        seen.is_some(),
        "ps -a still does not show `exited` after the monitor died: {:?}",
        ps_entry(&w, "orphan")
    );
    let v = w.inspect("orphan");
    assert_eq!(v["State"]["Running"], false);
    // And it can be removed without -f.
    w.ok(&["rm", "orphan"]);
}

#[test]
fn unknown_container_errors() {
    let w = Wharf::new();
    for args in [
        &["logs", "nosuch"][..],
        &["stop", "nosuch"],
        &["kill", "nosuch"],
        &["rm", "nosuch"],
        &["inspect", "nosuch"],
    ] {
        let out = w.fails(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}\n{}", describe(&out));
        assert!(
            stderr(&out).contains("nosuch"),
            "{args:?}\n{}",
            describe(&out)
        );
    }
}

/// The store is its owner's alone (issue 19): images' setuid binaries and
/// containers' specs with their `-e` secrets are out of other users' reach,
/// even when the store's directory was made open before.
#[test]
fn the_store_is_closed_to_other_users() {
    use std::os::unix::fs::PermissionsExt;
    let w = Wharf::new();
    std::fs::set_permissions(w.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
    w.build_hello_as("hello:1");
    w.ok(&[
        "run",
        "--name",
        "secret",
        "-e",
        "DB_PASSWORD=hunter2",
        "hello:1",
    ]);
    let mode = std::fs::metadata(w.root()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "store mode {mode:o}");
    let id = w.inspect("secret")["Id"].as_str().unwrap().to_string();
    let config = w.root().join("containers").join(&id).join("config.json");
    assert!(std::fs::read_to_string(&config)
        .unwrap()
        .contains("hunter2"));
    // As `nobody`, the file cannot be read.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "cat"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("hunter2"));
}

/// A foreground `run --rm` killed with SIGKILL cannot remove its container;
/// the next command that comes across it does (issue 19).
#[test]
fn a_killed_run_rm_leaves_no_container() {
    let w = Wharf::new();
    w.build_hello_as("hello:1");
    let mut child = w
        .command(&["run", "--rm", "--name", "doomed", "hello:1", "sleep", "30"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let up = poll(Duration::from_secs(10), || {
        w.ps_all()
            .iter()
            .any(|c| c["Names"] == "doomed" && c["State"] == "running")
            .then_some(())
    });
    assert!(up.is_some(), "{:?}", w.ps_all());
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(w.ps_all().is_empty(), "{:?}", w.ps_all());
    let out = w.fails(&["inspect", "doomed"]);
    assert_error(&out, "doomed");
    // The name is free again.
    w.ok(&["run", "--rm", "--name", "doomed", "hello:1"]);
}
