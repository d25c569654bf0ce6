//! Restart policies (`run -d --restart`), applied by a detached container's
//! monitor: on-failure with its retry limit for both kinds, the writable
//! layer kept across restarts, `always` after a kill, never after `stop`,
//! a restarted container back on its network with its published port, and
//! the flag's errors.

mod common;

use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use common::*;

/// Tests that compare the host before and after run one at a time.
static HOST: Mutex<()> = Mutex::new(());

fn restart_count(w: &Wharf, name: &str) -> i64 {
    w.inspect(name)["RestartCount"].as_i64().unwrap()
}

#[test]
fn on_failure_retries_up_to_its_limit_for_both_kinds() {
    let w = Wharf::new();
    w.build_hello();
    build_busybox(&w, "bb", "CMD [\"sh\"]\n");
    w.ok(&[
        "run",
        "-d",
        "--name",
        "wasm",
        "--restart",
        "on-failure:2",
        "hello:1",
        "exit",
        "3",
    ]);
    // The writable layer is the same container's: each run adds a line.
    w.ok(&[
        "run",
        "-d",
        "--name",
        "linux",
        "--restart",
        "on-failure:1",
        "bb",
        "sh",
        "-c",
        "echo run >> /runs; echo runs=$(wc -l < /runs); exit 1",
    ]);
    for (name, retries, code) in [("wasm", 2, 3), ("linux", 1, 1)] {
        let state = poll(Duration::from_secs(30), || {
            let v = w.inspect(name);
            (v["State"]["Status"] == "exited" && v["RestartCount"] == retries).then_some(v)
        })
        .unwrap_or_else(|| {
            panic!(
                "{name} did not end after {retries} restarts: {}",
                w.inspect(name)
            )
        });
        assert_eq!(state["State"]["ExitCode"], code, "{state}");
        assert_eq!(state["HostConfig"]["RestartPolicy"]["Name"], "on-failure");
        assert_eq!(
            state["HostConfig"]["RestartPolicy"]["MaximumRetryCount"],
            retries
        );
    }
    assert_eq!(w.ok(&["logs", "linux"]), "runs=1\nruns=2\n");
    // A zero exit is not a failure: no restart.
    w.ok(&[
        "run",
        "-d",
        "--name",
        "fine",
        "--restart",
        "on-failure",
        "hello:1",
        "exit",
        "0",
    ]);
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(restart_count(&w, "fine"), 0);
}

#[test]
fn always_restarts_after_the_guest_is_killed_but_not_after_stop() {
    let w = Wharf::new();
    w.build_hello();
    w.ok(&[
        "run",
        "-d",
        "--name",
        "t",
        "--restart",
        "always",
        "hello:1",
        "tick",
        "600",
    ]);
    poll(Duration::from_secs(10), || {
        (w.inspect("t")["State"]["Running"] == true).then_some(())
    })
    .expect("not running");
    // A Wasm guest runs inside its monitor, so SIGKILL would end the
    // monitor itself; a signal the guest gets ends only the guest.
    w.ok(&["kill", "-s", "SIGTERM", "t"]);
    let again = poll(Duration::from_secs(15), || {
        let v = w.inspect("t");
        (v["RestartCount"] == 1 && v["State"]["Running"] == true).then_some(())
    });
    assert!(
        again.is_some(),
        "not restarted after kill: {}",
        w.inspect("t")
    );
    w.ok(&["stop", "-t", "1", "t"]);
    std::thread::sleep(Duration::from_millis(1500));
    let v = w.inspect("t");
    assert_eq!(v["State"]["Running"], false, "{v}");
    assert_eq!(v["RestartCount"], 1, "restarted after stop: {v}");
    w.ok(&["rm", "t"]);
}

#[test]
fn a_restarted_container_is_back_on_its_network_and_port() {
    let _host = HOST.lock().unwrap_or_else(|e| e.into_inner());
    let w = Wharf::new();
    build_busybox(
        &w,
        "bbweb",
        "RUN mkdir -p /www && echo restarted-page > /www/index.html\nCMD [\"sh\"]\n",
    );
    let marks = ["10.231.75."];
    let before = host_state(&marks);
    w.ok(&["network", "create", "--subnet", "10.231.75.0/24", "rnet"]);
    w.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "rnet",
        "-p",
        "127.0.0.1::80",
        "--restart",
        "always",
        "bbweb",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/www",
    ]);
    let port = w
        .ok(&["port", "web", "80"])
        .trim()
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    let fetch = || {
        let out = Command::new("curl")
            .args(["-s", "-m", "2", &format!("http://127.0.0.1:{port}/")])
            .output()
            .ok()?;
        let body = String::from_utf8_lossy(&out.stdout).into_owned();
        (body == "restarted-page\n").then_some(body)
    };
    assert!(
        poll(Duration::from_secs(10), fetch).is_some(),
        "never served"
    );
    let ip = w.inspect("web")["NetworkSettings"]["Networks"]["rnet"]["IPAddress"].clone();
    w.ok(&["kill", "web"]);
    let back = poll(Duration::from_secs(20), || {
        (restart_count(&w, "web") == 1)
            .then_some(())
            .and_then(|()| fetch())
    });
    assert!(
        back.is_some(),
        "not serving after the restart: {}",
        w.inspect("web")
    );
    assert_eq!(
        w.inspect("web")["NetworkSettings"]["Networks"]["rnet"]["IPAddress"],
        ip
    );
    w.ok(&["rm", "-f", "web"]);
    w.ok(&["network", "rm", "rnet"]);
    assert_same_host(&before, &marks);
}

#[test]
fn restart_flag_errors() {
    let w = Wharf::new();
    w.build_hello();
    let out = w.cmd(&["run", "-d", "--restart", "sometimes", "hello:1"]);
    assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
    assert_error(&out, "on-failure[:MAX-RETRIES]");
    let out = w.cmd(&["run", "-d", "--rm", "--restart", "always", "hello:1"]);
    assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
    assert_error(&out, "--rm");
    let out = w.cmd(&["run", "--restart", "always", "hello:1"]);
    assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
    assert_error(&out, "-d");
    assert!(w.ps_all().is_empty(), "a container was made");
}
