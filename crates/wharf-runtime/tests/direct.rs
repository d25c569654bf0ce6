//! `wharf-runtime` driven directly, the way containerd's shim and people
//! call runc: run, the create/start/state/kill/delete lifecycle, exec, ps,
//! pause/resume, update, Wasm bundles, and bad input (runc's exit codes, a
//! clear message, nothing left behind). Needs root and scripts/setup.sh.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

struct Env {
    tmp: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        require_setup();
        Env {
            tmp: tempfile::tempdir().unwrap(),
        }
    }
    fn root(&self) -> std::path::PathBuf {
        self.tmp.path().join("state")
    }
    /// A busybox bundle under `name`.
    fn linux_bundle(&self, name: &str, args: &[&str]) -> std::path::PathBuf {
        let dir = self.tmp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        busybox_rootfs(&dir);
        write_config(&dir, args, &[]);
        dir
    }
    fn wasm_bundle(&self, name: &str, args: &[&str], ann: &[(&str, &str)]) -> std::path::PathBuf {
        let dir = self.tmp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        wasm_rootfs(&dir);
        write_config(&dir, args, ann);
        dir
    }
    fn rt(&self, args: &[&str]) -> std::process::Output {
        rt(&self.root(), args)
    }
    /// Containers left under the state root.
    fn leftovers(&self) -> Vec<String> {
        std::fs::read_dir(self.root())
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default()
    }
    fn state(&self, id: &str) -> serde_json::Value {
        let out = self.rt(&["state", id]);
        assert!(out.status.success(), "state {id}: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }
    /// Polls `state` (the container may not exist yet) until `want`.
    fn wait_status(&self, id: &str, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = self.rt(&["state", id]);
            let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            if s["status"] == want {
                return;
            }
            assert!(Instant::now() < deadline, "{id} never became {want}: {s}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    /// `create` with the container's stdout/stderr going to a file.
    fn create(&self, bundle: &Path, id: &str, extra: &[&str]) -> std::path::PathBuf {
        let out_path = self.tmp.path().join(format!("{id}.out"));
        let out = std::fs::File::create(&out_path).unwrap();
        let status = Command::new(runtime())
            .arg("--root")
            .arg(self.root())
            .args(["create", "--bundle"])
            .arg(bundle)
            .args(extra)
            .arg(id)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .status()
            .unwrap();
        assert!(
            status.success(),
            "create {id}: {}",
            std::fs::read_to_string(&out_path).unwrap_or_default()
        );
        out_path
    }
}

fn cgroup_file(pid: i64, controller: &str, file: &str) -> String {
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let line = cg
        .lines()
        .find(|l| {
            l.split(':')
                .nth(1)
                .is_some_and(|c| c.split(',').any(|c| c == controller))
        })
        .unwrap_or_else(|| panic!("no {controller} cgroup in {cg}"));
    let path = line.splitn(3, ':').nth(2).unwrap();
    std::fs::read_to_string(format!("/sys/fs/cgroup/{controller}{path}/{file}"))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn run_prints_and_propagates_the_exit_code() {
    let env = Env::new();
    let b = env.linux_bundle("b", &["sh", "-c", "echo hi from $(hostname); exit 3"]);
    // A cgroup path of this test's own, to see that `run` removes it.
    let cgroup = format!("/wharf-test-run-{}", std::process::id());
    let config = b.join("config.json");
    let mut c: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    c["linux"]["cgroupsPath"] = cgroup.clone().into();
    std::fs::write(&config, serde_json::to_vec(&c).unwrap()).unwrap();
    let out = env.rt(&["run", "--bundle", b.to_str().unwrap(), "r1"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hi from wharf\n");
    assert!(env.leftovers().is_empty(), "{:?}", env.leftovers());
    let left: Vec<String> = std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|ctrl| ctrl.path().join(cgroup.trim_start_matches('/')))
        .filter(|dir| dir.exists())
        .map(|dir| dir.display().to_string())
        .collect();
    assert!(left.is_empty(), "cgroups left behind: {left:?}");
}

#[test]
fn create_start_state_kill_delete() {
    let env = Env::new();
    let b = env.linux_bundle("b", &["sh", "-c", "echo started; exec sleep 100"]);
    let pid_file = env.tmp.path().join("pid");
    let out_path = env.create(&b, "c1", &["--pid-file", pid_file.to_str().unwrap()]);
    let s = env.state("c1");
    assert_eq!(s["status"], "created");
    assert_eq!(s["id"], "c1");
    assert_eq!(s["bundle"], b.to_str().unwrap());
    assert_eq!(s["rootfs"], b.join("rootfs").to_str().unwrap());
    let pid = s["pid"].as_i64().unwrap();
    assert!(pid > 0);
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap().trim(),
        pid.to_string()
    );
    // Not started yet: nothing printed.
    assert_eq!(std::fs::read_to_string(&out_path).unwrap(), "");

    let out = env.rt(&["start", "c1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    env.wait_status("c1", "running");
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_to_string(&out_path).unwrap() != "started\n" {
        assert!(Instant::now() < deadline, "no output from the container");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Starting twice is an error.
    let out = env.rt(&["start", "c1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("already running"), "{}", stderr(&out));
    // A running container is not deleted without --force.
    let out = env.rt(&["delete", "c1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("running"), "{}", stderr(&out));

    // Signal by number: harmless SIGCONT keeps it running.
    assert!(env.rt(&["kill", "c1", "18"]).status.success());
    env.wait_status("c1", "running");
    let out = env.rt(&["kill", "c1", "KILL"]);
    assert!(out.status.success(), "{}", stderr(&out));
    env.wait_status("c1", "stopped");
    assert_eq!(env.state("c1")["pid"], 0);
    // Signalling a stopped container: runc's "container not running".
    let out = env.rt(&["kill", "c1", "SIGTERM"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("container not running"),
        "{}",
        stderr(&out)
    );

    let out = env.rt(&["delete", "c1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(env.leftovers().is_empty());
    let out = env.rt(&["state", "c1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
    // containerd's shim follows `delete` with `delete --force`.
    assert!(env.rt(&["delete", "--force", "c1"]).status.success());
}

#[test]
fn a_created_container_can_be_deleted_and_killed_with_all() {
    let env = Env::new();
    let b = env.linux_bundle("b", &["sleep", "100"]);
    env.create(&b, "c2", &[]);
    let pid = env.state("c2")["pid"].as_i64().unwrap();
    let out = env.rt(&["delete", "c2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(env.leftovers().is_empty());
    let deadline = Instant::now() + Duration::from_secs(5);
    while Path::new(&format!("/proc/{pid}/cmdline")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z")
    {
        assert!(Instant::now() < deadline, "init {pid} survived delete");
        std::thread::sleep(Duration::from_millis(20));
    }

    env.create(&b, "c3", &[]);
    assert!(env.rt(&["start", "c3"]).status.success());
    let out = env.rt(&["kill", "--all", "c3", "KILL"]);
    assert!(out.status.success(), "{}", stderr(&out));
    env.wait_status("c3", "stopped");
    assert!(env.rt(&["delete", "c3"]).status.success());
}

#[test]
fn exec_ps_pause_resume_update() {
    let env = Env::new();
    let b = env.linux_bundle("b", &["sleep", "100"]);
    env.create(&b, "e1", &[]);
    assert!(env.rt(&["start", "e1"]).status.success());
    let init = env.state("e1")["pid"].as_i64().unwrap();

    // Inline form: the container's env plus -e, exit code propagated.
    let out = env.rt(&[
        "exec",
        "-e",
        "FOO=bar",
        "--cwd",
        "/tmp",
        "e1",
        "sh",
        "-c",
        "echo $FOO $PWD $PATH; exit 4",
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("bar /tmp /usr/local/sbin"),
        "{}",
        stdout(&out)
    );

    // --process FILE, detached, with a pid file (containerd's form).
    let proc_json = env.tmp.path().join("process.json");
    std::fs::write(
        &proc_json,
        serde_json::json!({
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": ["sleep", "50"],
            "env": ["PATH=/bin"],
            "cwd": "/",
        })
        .to_string(),
    )
    .unwrap();
    let pid_file = env.tmp.path().join("exec.pid");
    // The detached process keeps the fds it was given: a file, not a pipe
    // this test would wait on.
    let err_path = env.tmp.path().join("exec.err");
    let status = Command::new(runtime())
        .arg("--root")
        .arg(env.root())
        .args(["exec", "--detach", "--process"])
        .arg(&proc_json)
        .arg("--pid-file")
        .arg(&pid_file)
        .arg("e1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .status()
        .unwrap();
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&err_path).unwrap()
    );
    let exec_pid: i64 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();

    let out = env.rt(&["ps", "--format", "json", "e1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pids: Vec<i64> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(pids.contains(&init) && pids.contains(&exec_pid), "{pids:?}");
    let out = env.rt(&["ps", "e1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("sleep 50"), "{}", stdout(&out));

    assert!(env.rt(&["pause", "e1"]).status.success());
    assert_eq!(env.state("e1")["status"], "paused");
    assert_eq!(cgroup_file(init, "freezer", "freezer.state"), "FROZEN");
    let out = env.rt(&["pause", "e1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(env.rt(&["resume", "e1"]).status.success());
    assert_eq!(env.state("e1")["status"], "running");
    assert_eq!(cgroup_file(init, "freezer", "freezer.state"), "THAWED");

    let out = env.rt(&["update", "--memory", "64m", "--pids-limit", "33", "e1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        cgroup_file(init, "memory", "memory.limit_in_bytes"),
        (64 << 20).to_string()
    );
    assert_eq!(cgroup_file(init, "pids", "pids.max"), "33");
    let res = env.tmp.path().join("res.json");
    std::fs::write(&res, r#"{"pids":{"limit":44}}"#).unwrap();
    let out = env.rt(&["update", "-r", res.to_str().unwrap(), "e1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(cgroup_file(init, "pids", "pids.max"), "44");

    let out = env.rt(&["delete", "--force", "e1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(env.leftovers().is_empty());
}

#[test]
fn bad_input_fails_like_runc_and_leaves_nothing() {
    let env = Env::new();
    // Missing bundle.
    let out = env.rt(&["run", "--bundle", "/nonexistent/bundle", "x1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("/nonexistent/bundle"),
        "{}",
        stderr(&out)
    );
    assert!(env.leftovers().is_empty());

    // Invalid config.json.
    let b = env.linux_bundle("b", &["true"]);
    std::fs::write(b.join("config.json"), "{ not json").unwrap();
    let out = env.rt(&["create", "--bundle", b.to_str().unwrap(), "x2"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("config.json"), "{}", stderr(&out));
    assert!(env.leftovers().is_empty());

    // A program that does not exist in the rootfs.
    write_config(&b, &["/no/such/program"], &[]);
    let out = env.rt(&["create", "--bundle", b.to_str().unwrap(), "x3"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(env.leftovers().is_empty(), "{:?}", env.leftovers());

    // Unknown id.
    for cmd in [
        &["state", "nope"][..],
        &["start", "nope"],
        &["kill", "nope", "KILL"],
        &["delete", "nope"],
        &["pause", "nope"],
        &["ps", "nope"],
        &["exec", "nope", "true"],
    ] {
        let out = env.rt(cmd);
        assert_eq!(out.status.code(), Some(1), "{cmd:?}");
        assert!(
            stderr(&out).contains("does not exist"),
            "{cmd:?}: {}",
            stderr(&out)
        );
    }
    // Invalid id.
    let out = env.rt(&["state", "../etc"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("invalid container id"),
        "{}",
        stderr(&out)
    );

    // Duplicate id: refused, the first container untouched.
    write_config(&b, &["sleep", "100"], &[]);
    env.create(&b, "dup", &[]);
    let out = env.rt(&["create", "--bundle", b.to_str().unwrap(), "dup"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert_eq!(env.state("dup")["status"], "created");

    // Bad signal: refused, the container untouched.
    for sig in ["SIGNOPE", "0", "999", "-1"] {
        let out = env.rt(&["kill", "dup", sig]);
        assert_eq!(out.status.code(), Some(1), "{sig}");
        assert!(
            stderr(&out).contains("invalid signal"),
            "{sig}: {}",
            stderr(&out)
        );
    }
    assert_eq!(env.state("dup")["status"], "created");
    let out = env.rt(&["delete", "dup"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(env.leftovers().is_empty());
}

#[test]
fn errors_go_to_the_log_in_runc_json() {
    let env = Env::new();
    let log = env.tmp.path().join("log.json");
    let out = env.rt(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "state",
        "missing",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = std::fs::read_to_string(&log).unwrap();
    let line: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(line["level"], "error");
    assert!(
        line["msg"].as_str().unwrap().contains("does not exist"),
        "{line}"
    );
    assert!(line["time"].as_str().unwrap().ends_with('Z'), "{line}");
}

#[test]
fn wasm_bundles_run_inside_the_container() {
    let env = Env::new();
    // args[0] ending in .wasm.
    let b = env.wasm_bundle("w", &["/hello.wasm", "args", "x", "y"], &[]);
    let out = env.rt(&["run", "--bundle", b.to_str().unwrap(), "w1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("args\nx\ny\n"), "{}", stdout(&out));
    // The rootfs is the guest's /, the spec's env reaches it.
    write_config(&b, &["/hello.wasm", "ls", "/"], &[]);
    let out = env.rt(&["run", "--bundle", b.to_str().unwrap(), "w1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("hello.wasm"), "{}", stdout(&out));
    assert!(stdout(&out).contains("proc"), "{}", stdout(&out));
    // Handler annotation, no .wasm name; exit code propagated.
    let b2 = env.wasm_bundle("w2", &["/app", "exit", "7"], &[("run.oci.handler", "wasm")]);
    let out = env.rt(&["run", "--bundle", b2.to_str().unwrap(), "w2"]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    // The \0asm magic alone is enough.
    write_config(&b2, &["/app"], &[]);
    let out = env.rt(&["run", "--bundle", b2.to_str().unwrap(), "w2"]);
    assert!(
        stdout(&out).contains("Hello from WebAssembly!"),
        "{}",
        stdout(&out)
    );
    assert!(env.leftovers().is_empty());
}

#[test]
fn sigterm_and_sigkill_stop_a_spinning_wasm_guest() {
    let env = Env::new();
    let b = env.wasm_bundle("w", &["/hello.wasm", "spin"], &[]);
    for (sig, code) in [("TERM", 143), ("KILL", 137)] {
        let id = format!("spin{code}");
        let mut child = Command::new(runtime())
            .arg("--root")
            .arg(env.root())
            .args(["run", "--bundle"])
            .arg(&b)
            .arg(&id)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        env.wait_status(&id, "running");
        std::thread::sleep(Duration::from_millis(200));
        let out = env.rt(&["kill", &id, sig]);
        assert!(out.status.success(), "{}", stderr(&out));
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "SIG{sig} did not stop the guest");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(status.code(), Some(code), "SIG{sig}");
    }
    let left = env.leftovers();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn features_and_spec() {
    let env = Env::new();
    let out = env.rt(&["features"]);
    assert!(out.status.success());
    let f: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(f["ociVersionMin"], "1.0.0");
    assert!(f["linux"]["namespaces"].as_array().unwrap().len() >= 7);
    assert_eq!(f["linux"]["seccomp"]["enabled"], true);

    let dir = env.tmp.path().join("spec");
    std::fs::create_dir_all(&dir).unwrap();
    let out = env.rt(&["spec", "--bundle", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let c: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(c["root"]["path"], "rootfs");
    assert_eq!(c["process"]["args"][0], "sh");
    assert_eq!(c["process"]["terminal"], true);
    let out = env.rt(&["spec", "--bundle", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("exists"));
}

/// Hooks as the runtime spec says (issue 19): a failing poststart hook is a
/// warning and the container runs; a failing poststop hook fails `delete`
/// only after the container is gone; disableOOMKiller reaches the cgroup.
#[test]
fn failing_hooks_and_disable_oom_killer() {
    let env = Env::new();
    let b = env.linux_bundle(
        "h",
        &[
            "sh",
            "-c",
            "cat /sys/fs/cgroup/memory/memory.oom_control 2>/dev/null | head -1; echo ran",
        ],
    );
    let config = b.join("config.json");
    let mut c: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    let fail = serde_json::json!([{"path": "/bin/false"}]);
    c["hooks"] = serde_json::json!({"poststart": fail, "poststop": fail});
    c["linux"]["resources"]["memory"] =
        serde_json::json!({"limit": 64 << 20, "disableOOMKiller": true});
    std::fs::write(&config, serde_json::to_vec(&c).unwrap()).unwrap();

    // run: the poststart failure is a warning; the container ran.
    let out = env.rt(&["run", "--bundle", b.to_str().unwrap(), "h1"]);
    assert!(stdout(&out).contains("ran"), "{}", stderr(&out));
    assert!(stderr(&out).contains("poststart"), "{}", stderr(&out));
    if std::path::Path::new("/sys/fs/cgroup/memory/memory.oom_control").exists() {
        assert!(
            stdout(&out).contains("oom_kill_disable 1"),
            "{}",
            stdout(&out)
        );
    }
    let _ = env.rt(&["delete", "--force", "h1"]);

    // create, start, delete: delete reports the poststop failure, and the
    // container is gone all the same.
    env.create(&b, "h2", &[]);
    let out = env.rt(&["start", "h2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    env.wait_status("h2", "stopped");
    let out = env.rt(&["delete", "h2"]);
    assert!(
        !out.status.success(),
        "a failing poststop hook must be reported"
    );
    assert!(env.leftovers().is_empty(), "{:?}", env.leftovers());
    let out = env.rt(&["delete", "--force", "h2"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // A prestart hook is told the bundle containerd gave, not an internal copy.
    let b3 = env.linux_bundle("h3", &["true"]);
    let seen = env.tmp.path().join("prestart-state.json");
    let config = b3.join("config.json");
    let mut c: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    c["hooks"] = serde_json::json!({"prestart": [{
        "path": "/bin/sh",
        "args": ["sh", "-c", format!("cat > {}", seen.display())],
    }]});
    // A seccomp profile makes the runtime hand libcontainer an adapted copy
    // of the spec (its filter comes from the cache).
    c["linux"]["seccomp"] = serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["kexec_load"], "action": "SCMP_ACT_ERRNO"}],
    });
    std::fs::write(&config, serde_json::to_vec(&c).unwrap()).unwrap();
    let out = env.rt(&["run", "--bundle", b3.to_str().unwrap(), "h3"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let state: serde_json::Value = serde_json::from_slice(&std::fs::read(&seen).unwrap()).unwrap();
    assert_eq!(
        state["bundle"].as_str().unwrap(),
        std::fs::canonicalize(&b3).unwrap().to_str().unwrap()
    );
}

/// Poststart hooks run strictly after the container's process has started
/// (issue 19): `start` waits for the init to exec the payload. A slow
/// startContainer hook (in the init, before the exec) would otherwise let
/// the poststart hook see the init still running the runtime's code.
#[test]
fn poststart_hooks_run_after_the_process_started() {
    let env = Env::new();
    let b = env.linux_bundle("ps", &["/bin/busybox", "sleep", "30"]);
    let seen = env.tmp.path().join("poststart-exe");
    let config = b.join("config.json");
    let mut c: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    c["hooks"] = serde_json::json!({
        "startContainer": [{"path": "/bin/busybox", "args": ["busybox", "sleep", "1"]}],
        "poststart": [{
            "path": "/bin/sh",
            "args": ["sh", "-c", format!(
                "pid=$(sed -n 's/.*\"pid\":\\([0-9]*\\).*/\\1/p'); readlink /proc/$pid/exe > {}",
                seen.display()
            )],
        }],
    });
    std::fs::write(&config, serde_json::to_vec(&c).unwrap()).unwrap();
    env.create(&b, "ps1", &[]);
    let out = env.rt(&["start", "ps1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let exe = std::fs::read_to_string(&seen).unwrap();
    let _ = env.rt(&["delete", "--force", "ps1"]);
    assert_eq!(
        exe.trim(),
        "/bin/busybox",
        "the poststart hook ran before the container's process was exec'd"
    );
}
