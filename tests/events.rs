//! `wharf events`: what the engine's commands record, read back as a user
//! types it: a time window (`--since/--until`), filters, `--format`, and a
//! stream that follows new events.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use common::*;
use serde_json::Value;

fn now() -> String {
    humantime::format_rfc3339_nanos(SystemTime::now()).to_string()
}

/// The actions of `lines` (Docker's text form) about the container `name`, in order.
fn actions_of(lines: &[String], name: &str) -> Vec<String> {
    let mut actions = lines
        .iter()
        .filter(|l| l.contains(&format!("name={name})")) || l.contains(&format!("name={name},")))
        .filter(|l| l.split(' ').nth(1) == Some("container"))
        .map(|l| l.split(' ').nth(2).unwrap().to_string())
        .collect::<Vec<_>>();
    // `stop` sends SIGKILL after its timeout: Docker's second kill event.
    actions.dedup_by(|a, b| a == "kill" && b == "kill");
    actions
}

#[test]
fn events_record_containers_images_and_networks() {
    let w = Wharf::new();
    w.build_hello_as("hello:ev");
    build_busybox(&w, "bb", "");
    let since = now();

    let wasm = w.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "wweb",
        "hello:ev",
        "sleep",
        "60",
    ]);
    let wasm = wasm.trim();
    w.ok(&["stop", "wweb"]);
    w.ok(&["rm", "wweb"]);
    let linux = w.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "lweb",
        "bb",
        "sleep",
        "60",
    ]);
    let linux = linux.trim();
    w.ok(&["stop", "-t", "1", "lweb"]);
    w.ok(&["rm", "lweb"]);
    w.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--name",
        "once",
        "hello:ev",
    ]);
    w.ok(&["tag", "hello:ev", "hello:ev2"]);
    w.ok(&["rmi", "hello:ev2"]);
    w.ok(&["network", "create", "evnet"]);
    w.ok(&["network", "rm", "evnet"]);
    let until = now();

    let all = lines(&w.ok(&["events", "--since", &since, "--until", &until]));
    let lines = all;
    // Docker's line: time, type, action, id, sorted attributes.
    let start = lines
        .iter()
        .find(|l| l.contains(" container start ") && l.contains("name=wweb"))
        .unwrap_or_else(|| panic!("no start of wweb in\n{}", lines.join("\n")));
    let fields: Vec<&str> = start.splitn(5, ' ').collect();
    assert!(humantime::parse_rfc3339(fields[0]).is_ok(), "{start}");
    assert_eq!(fields[3], wasm, "{start}");
    assert_eq!(fields[4], "(image=hello:ev, name=wweb)", "{start}");
    for (name, id) in [("wweb", wasm), ("lweb", linux)] {
        assert_eq!(
            actions_of(&lines, name),
            ["create", "start", "kill", "die", "stop", "destroy"],
            "{name} ({id}) in\n{}",
            lines.join("\n")
        );
        assert!(lines
            .iter()
            .any(|l| l.contains(&format!("container die {id}")) && l.contains("exitCode=")));
    }
    assert_eq!(
        actions_of(&lines, "once"),
        ["create", "start", "die", "destroy"],
        "{}",
        lines.join("\n")
    );
    assert!(lines.iter().any(|l| l.contains(" container die ")
        && l.contains("exitCode=0")
        && l.contains("name=once")));

    // JSON, Docker's shape, filtered to images.
    let images = json_lines(&w.ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "type=image",
        "--format",
        "{{json .}}",
    ]));
    let actions: Vec<(&str, &str)> = images
        .iter()
        .map(|e| {
            (
                e["Action"].as_str().unwrap(),
                e["Actor"]["Attributes"]["name"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [("tag", "hello:ev2"), ("untag", "hello:ev2")],
        "{images:?}"
    );
    let tag = &images[0];
    assert_eq!(tag["Type"], "image");
    assert!(tag["Actor"]["ID"].as_str().unwrap().starts_with("sha256:"));
    assert!(tag["timeNano"].as_i64().unwrap() / 1_000_000_000 == tag["time"].as_i64().unwrap());

    // Networks, by a template; a filter by container name.
    let networks = w.ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "-f",
        "type=network",
        "-f",
        "network=evnet",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    ]);
    assert_eq!(lines_of(&networks), ["create evnet", "destroy evnet"]);
    let only = common::lines(&w.ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "-f",
        "container=lweb",
        "-f",
        "event=die",
    ]));
    assert_eq!(only.len(), 1, "{only:?}");
    assert!(
        only[0].contains(&format!("container die {linux}")),
        "{only:?}"
    );

    // A filter Wharf does not know is named.
    let bad = w.fails(&["events", "--until", &until, "-f", "colour=red"]);
    assert_error(&bad, "invalid filter 'colour'");
}

fn lines_of(s: &str) -> Vec<&str> {
    s.lines().collect()
}

/// The file position of `pid`'s descriptor on the store's event log, once
/// it has one.
fn log_position(pid: u32, log: &std::path::Path) -> Option<u64> {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    for fd in fds.flatten() {
        if std::fs::read_link(fd.path()).ok().as_deref() == Some(log) {
            let info =
                std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", fd.file_name().to_str()?))
                    .ok()?;
            let pos = info.lines().find_map(|l| l.strip_prefix("pos:"))?;
            return pos.trim().parse().ok();
        }
    }
    None
}

/// A failed assertion must not leave `wharf events` following the log.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn events_streams_new_events_until_killed() {
    let w = Wharf::new();
    w.build_hello_as("hello:ev");
    let log = w.root().join("events.jsonl");
    let size = std::fs::metadata(&log)
        .expect("the build's tag event")
        .len();
    assert!(size > 0);

    let mut events = KillOnDrop(
        w.command(&["events", "--filter", "type=container"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let events = &mut events.0;
    // It streams from the end of the log: wait until it is there, so the
    // run below is after its start.
    let pid = events.id();
    poll(Duration::from_secs(20), || {
        (log_position(pid, &log) == Some(size)).then_some(())
    })
    .expect("wharf events opened the log and went to its end");

    let (tx, rx) = mpsc::channel();
    let out = events.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let ran = w.cmd(&[
        "run",
        "--network",
        "none",
        "--name",
        "streamed",
        "hello:ev",
        "exit",
        "3",
    ]);
    assert_eq!(ran.status.code(), Some(3), "{}", describe(&ran));
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains(" container die ")) {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("no die event streamed; saw {seen:?}"),
        }
    }
    assert_eq!(
        actions_of(&seen, "streamed"),
        ["create", "start", "die"],
        "{seen:?}"
    );
    assert!(seen[2].contains("exitCode=3"), "{seen:?}");
    // Still following: it has not exited on its own.
    assert!(events.try_wait().unwrap().is_none());
    events.kill().unwrap();
    events.wait().unwrap();
    reader.join().unwrap();
    w.ok(&["rm", "streamed"]);
}

#[test]
fn events_json_format_is_dockers() {
    let w = Wharf::new();
    w.build_hello_as("hello:ev");
    let since = now();
    w.ok(&["volume", "create", "evvol"]);
    w.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "evvol:/data",
        "hello:ev",
    ]);
    w.ok(&["volume", "rm", "evvol"]);
    let until = now();
    let all: Vec<Value> = json_lines(&w.ok(&[
        "events", "--since", &since, "--until", &until, "--format", "json",
    ]));
    let volume: Vec<&str> = all
        .iter()
        .filter(|e| e["Type"] == "volume")
        .map(|e| e["Action"].as_str().unwrap())
        .collect();
    assert_eq!(volume, ["create", "mount", "destroy"], "{all:?}");
    let start = all.iter().find(|e| e["Action"] == "start").unwrap();
    assert_eq!(start["status"], "start");
    assert_eq!(start["from"], "hello:ev");
    assert_eq!(start["scope"], "local");
    assert_eq!(start["id"], start["Actor"]["ID"]);
}
