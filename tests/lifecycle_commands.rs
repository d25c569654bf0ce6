//! Docker's container lifecycle commands beyond run/stop/rm, typed as a
//! user types them, for Wasm and Linux containers: create, start, restart,
//! wait, rename, pause/unpause, top, stats, cp, export.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

fn state(w: &Wharf, name: &str) -> Value {
    w.inspect(name)["State"].clone()
}

fn ps_row(w: &Wharf, name: &str) -> Value {
    w.ps_all()
        .into_iter()
        .find(|c| c["Names"] == name)
        .unwrap_or_else(|| panic!("{name} not in ps -a"))
}

/// create makes a container that does not run; start runs it (attached:
/// its output and exit code; detached: under its monitor, again after it
/// exited); wait prints exit codes; restart runs it anew; rename moves the
/// name and refuses one in use.
fn create_start_wait_rename(w: &Wharf, image: &str, echo: &[&str], exit3: &[&str], sleep: &[&str]) {
    // create: the full id, state created, nothing run.
    let mut args = vec!["create", "--name", "made", image];
    args.extend_from_slice(echo);
    let id = w.ok(&args).trim().to_string();
    assert!(is_hex(&id, 64), "create prints the full id: {id:?}");
    let s = state(w, "made");
    assert_eq!(s["Status"], "created", "{s:#}");
    assert_eq!(s["Running"], false);
    assert_eq!(s["StartedAt"], "0001-01-01T00:00:00Z");
    let row = ps_row(w, "made");
    assert_eq!(row["State"], "created");
    assert_eq!(row["Status"], "Created");
    assert!(
        !w.ok(&["ps"]).contains("made"),
        "ps without -a lists only running containers"
    );
    assert_eq!(
        w.ok(&["logs", "made"]),
        "",
        "a created container ran nothing"
    );

    // start -a: the output here, the container's exit code.
    let out = w.cmd(&["start", "-a", "made"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(stdout(&out), "created then started\n");
    assert_eq!(state(w, "made")["Status"], "exited");

    // start (detached) an exited container; wait prints its exit code.
    assert_eq!(w.ok(&["start", "made"]), "made\n");
    assert_eq!(w.ok(&["wait", "made"]), "0\n");
    assert_eq!(
        w.ok(&["logs", "made"]),
        "created then started\ncreated then started\n",
        "each start ran it once more, logged"
    );

    // A failing container: wait prints its code, start -a exits with it.
    let mut args = vec!["create", "--name", "fails", image];
    args.extend_from_slice(exit3);
    w.ok(&args);
    let out = w.cmd(&["start", "-a", "fails"]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    assert_eq!(w.ok(&["wait", "fails", "made"]), "3\n0\n");

    // restart a running container: a new run (a new start time), still running.
    let mut args = vec!["run", "-d", "--name", "long", image];
    args.extend_from_slice(sleep);
    w.ok(&args);
    let first = state(w, "long")["StartedAt"].clone();
    assert_eq!(w.ok(&["restart", "-t", "1", "long"]), "long\n");
    let s = state(w, "long");
    assert_eq!(s["Status"], "running", "{s:#}");
    assert_ne!(s["StartedAt"], first, "restart ran it anew");
    // wait blocks until the run ends (a kill from elsewhere ends it).
    let killer = {
        let mut c = w.command(&["kill", "long"]);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            c.output().unwrap()
        })
    };
    assert_eq!(w.ok(&["wait", "long"]), "137\n");
    assert!(killer.join().unwrap().status.success());

    // rename: the new name finds it, the old one is free; a name in use is refused, naming its holder.
    assert_eq!(w.ok(&["rename", "made", "renamed"]), "");
    assert_eq!(w.inspect("renamed")["Id"], id.as_str());
    assert_eq!(w.inspect("renamed")["Name"], "/renamed");
    let out = w.fails(&["inspect", "made"]);
    assert!(stderr(&out).contains("made"), "{}", describe(&out));
    let fails_id = w.inspect("fails")["Id"].as_str().unwrap().to_string();
    let out = w.fails(&["rename", "renamed", "fails"]);
    assert_error(&out, "already in use");
    assert!(stderr(&out).contains(&fails_id[..12]), "{}", describe(&out));
    // The name survives the container's next run (its monitor records the exit).
    w.ok(&["start", "renamed"]);
    assert_eq!(w.ok(&["wait", "renamed"]), "0\n");
    assert_eq!(ps_row(w, "renamed")["State"], "exited");

    // Unknown containers: Docker's message and a failing exit.
    for cmd in ["start", "wait", "restart"] {
        let out = w.fails(&[cmd, "nosuch"]);
        assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
        assert_error(&out, "No such container: nosuch");
    }
    let out = w.fails(&["start", "-a", "nosuch"]);
    assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
    let out = w.fails(&["create", "nosuch-image:1"]);
    assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
    let out = w.fails(&["rename", "nosuch", "x"]);
    assert_error(&out, "No such container: nosuch");

    // A container removed before it ever ran leaves nothing mounted.
    let mut args = vec!["create", image];
    args.extend_from_slice(echo);
    let unstarted = w.ok(&args).trim().to_string();
    w.ok(&["rm", &unstarted]);
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(!mounts.contains(&unstarted), "{mounts}");

    for name in ["renamed", "fails", "long"] {
        w.ok(&["rm", "-f", name]);
    }
    assert!(w.ps_all().is_empty());
}

#[test]
fn wasm_create_start_wait_restart_rename() {
    let w = Wharf::new();
    w.build_hello();
    create_start_wait_rename(
        &w,
        "hello:1",
        &["echo", "created", "then", "started"],
        &["exit", "3"],
        &["sleep", "60"],
    );
}

#[test]
fn linux_create_start_wait_restart_rename() {
    let w = Wharf::new();
    build_busybox(&w, "bb", "");
    create_start_wait_rename(
        &w,
        "bb",
        &["sh", "-c", "echo created then started"],
        &["sh", "-c", "exit 3"],
        &["sleep", "60"],
    );
}

fn log_lines(w: &Wharf, name: &str) -> usize {
    w.ok(&["logs", name]).lines().count()
}

/// Whether the container's processes are frozen, as the kernel says: a
/// Linux container's cgroup freezer (v1 or v2), a Wasm guest's owner
/// process stopped (state T).
fn frozen(w: &Wharf, name: &str) -> bool {
    let c = w.inspect(name);
    let id = c["Id"].as_str().unwrap();
    if c["Kind"] == "linux" {
        let v1 = format!("/sys/fs/cgroup/freezer/wharf/{id}/freezer.state");
        let v2 = format!("/sys/fs/cgroup/wharf/{id}/cgroup.freeze");
        return match std::fs::read_to_string(&v1) {
            Ok(state) => state.trim() == "FROZEN",
            Err(_) => std::fs::read_to_string(&v2).unwrap().trim() == "1",
        };
    }
    let pid = c["State"]["Pid"].as_i64().unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    stat[stat.rfind(')').unwrap() + 2..].starts_with('T')
}

/// pause freezes a running container (ps and inspect say paused), unpause
/// lets it go on; stop still ends a paused container.
fn pause_unpause_stop(w: &Wharf, image: &str, ticker: &[&str]) {
    let mut args = vec!["run", "-d", "--name", "ticker", image];
    args.extend_from_slice(ticker);
    w.ok(&args);
    poll(Duration::from_secs(30), || {
        (log_lines(w, "ticker") > 0).then_some(())
    })
    .expect("the ticker writes");

    assert_eq!(w.ok(&["pause", "ticker"]), "ticker\n");
    assert!(frozen(w, "ticker"), "the kernel shows it frozen");
    let s = state(w, "ticker");
    assert_eq!(s["Status"], "paused", "{s:#}");
    assert_eq!(s["Running"], true);
    assert_eq!(s["Paused"], true);
    let row = ps_row(w, "ticker");
    assert_eq!(row["State"], "paused");
    assert!(
        row["Status"].as_str().unwrap().ends_with("(Paused)"),
        "{row}"
    );
    assert_error(&w.fails(&["pause", "ticker"]), "already paused");
    if image == "bb" {
        assert_error(&w.fails(&["exec", "ticker", "true"]), "is paused");
    }
    let paused = w.ok(&["ps", "-q", "--filter", "status=paused"]);
    assert_eq!(
        paused.trim(),
        &w.inspect("ticker")["Id"].as_str().unwrap()[..12]
    );
    assert_eq!(w.ok(&["ps", "-q", "--filter", "status=running"]), "");

    assert_eq!(w.ok(&["unpause", "ticker"]), "ticker\n");
    assert!(!frozen(w, "ticker"));
    assert_eq!(state(w, "ticker")["Status"], "running");
    let seen = log_lines(w, "ticker");
    poll(Duration::from_secs(30), || {
        (log_lines(w, "ticker") > seen).then_some(())
    })
    .expect("it writes again once unpaused");
    assert_error(&w.fails(&["unpause", "ticker"]), "not paused");

    // Paused, then stopped: it ends, and is no longer paused.
    w.ok(&["pause", "ticker"]);
    assert_eq!(w.ok(&["stop", "-t", "1", "ticker"]), "ticker\n");
    let s = state(w, "ticker");
    assert_eq!(s["Status"], "exited", "{s:#}");
    assert_eq!(s["Paused"], false);
    assert_error(&w.fails(&["pause", "ticker"]), "not running");
    assert_error(&w.fails(&["pause", "nosuch"]), "No such container: nosuch");
    w.ok(&["rm", "ticker"]);
}

#[test]
fn wasm_pause_unpause() {
    let w = Wharf::new();
    w.build_hello();
    pause_unpause_stop(&w, "hello:1", &["tick", "100000"]);
}

#[test]
fn linux_pause_unpause() {
    let w = Wharf::new();
    build_busybox(&w, "bb", "");
    pause_unpause_stop(
        &w,
        "bb",
        &["sh", "-c", "while true; do echo tick; sleep 0.1; done"],
    );
}

/// The column titles of a table's first line.
fn titles(table: &str) -> Vec<String> {
    table
        .lines()
        .next()
        .unwrap_or_default()
        .split("   ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

const STATS_TITLES: [&str; 8] = [
    "CONTAINER ID",
    "NAME",
    "CPU %",
    "MEM USAGE / LIMIT",
    "MEM %",
    "NET I/O",
    "BLOCK I/O",
    "PIDS",
];

/// The stats row of `name`, split into its columns.
fn stats_row(table: &str, name: &str) -> Vec<String> {
    table
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(name))
        .unwrap_or_else(|| panic!("{name} not in stats:\n{table}"))
        .split("   ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn wasm_top_and_stats() {
    let w = Wharf::new();
    w.build_hello();
    w.ok(&[
        "run", "-d", "--name", "spin", "--memory", "32m", "hello:1", "spin",
    ]);
    let id = w.inspect("spin")["Id"].as_str().unwrap().to_string();
    let pid = w.inspect("spin")["State"]["Pid"].as_i64().unwrap();

    // top: the monitor process it runs in, and a note saying so.
    let out = w.cmd(&["top", "spin"]);
    assert!(out.status.success(), "{}", describe(&out));
    let table = stdout(&out);
    assert_eq!(
        titles(&table),
        ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    );
    let rows: Vec<&str> = table.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{table}");
    assert_eq!(
        rows[0].split_whitespace().nth(1),
        Some(pid.to_string().as_str())
    );
    assert!(rows[0].contains(&format!("__monitor {id}")), "{table}");
    assert!(stderr(&out).contains("runs in"), "{}", describe(&out));

    // stats: its limit is --memory, it uses CPU, its threads are PIDS.
    let table = w.ok(&["stats", "--no-stream", "spin"]);
    assert_eq!(titles(&table), STATS_TITLES, "{table}");
    let row = stats_row(&table, "spin");
    assert_eq!(row[0], &id[..12]);
    let cpu: f64 = row[2].trim_end_matches('%').parse().unwrap();
    assert!(cpu > 0.0, "a spinning guest uses CPU: {table}");
    assert!(row[3].ends_with(" / 32MiB"), "{table}");
    assert_eq!(row[5], "0B / 0B", "no network: {table}");
    assert!(row[7].parse::<u32>().unwrap() >= 1, "{table}");
    w.ok(&["rm", "-f", "spin"]);

    assert_error(&w.fails(&["top", "spin"]), "No such container: spin");
    assert_error(
        &w.fails(&["stats", "--no-stream", "spin"]),
        "No such container: spin",
    );
}

#[test]
fn linux_top_and_stats() {
    let w = Wharf::new();
    build_busybox(&w, "bb", "");
    w.ok(&[
        "run",
        "-d",
        "--name",
        "two",
        "--memory",
        "64m",
        "bb",
        "sh",
        "-c",
        "sleep 1001 & sleep 1002 & while true; do :; done",
    ]);
    // top: every process of its cgroup, as ps -ef prints them.
    let table = poll(Duration::from_secs(30), || {
        let t = w.ok(&["top", "two"]);
        (t.contains("sleep 1001") && t.contains("sleep 1002")).then_some(t)
    })
    .expect("top lists the container's processes");
    assert_eq!(
        titles(&table),
        ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    );
    assert_eq!(table.lines().count(), 4, "sh and its two sleeps: {table}");
    let init = w.inspect("two")["State"]["Pid"]
        .as_i64()
        .unwrap()
        .to_string();
    assert!(
        table
            .lines()
            .any(|l| l.split_whitespace().nth(1) == Some(init.as_str())),
        "{table}"
    );
    // ps options after the name; ps's own columns.
    let table = w.ok(&["top", "two", "-o", "pid,args"]);
    assert_eq!(titles(&table), ["PID", "COMMAND"], "{table}");
    assert!(table.contains("sleep 1001"), "{table}");
    assert_error(&w.fails(&["top", "two", "-o", "args"]), "PID");

    // stats: from its cgroup.
    let table = w.ok(&["stats", "--no-stream"]);
    assert_eq!(titles(&table), STATS_TITLES, "{table}");
    let row = stats_row(&table, "two");
    let cpu: f64 = row[2].trim_end_matches('%').parse().unwrap();
    assert!(cpu > 0.0, "a busy loop uses CPU: {table}");
    assert!(row[3].ends_with(" / 64MiB"), "{table}");
    assert_eq!(row[7], "3", "{table}");

    // Without --no-stream it refreshes until interrupted.
    let mut child = w
        .command(&["stats", "two"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = std::io::Read::read(&mut out, &mut buf) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
            if String::from_utf8_lossy(&seen).matches(" two ").count() >= 2 {
                break;
            }
        }
        String::from_utf8_lossy(&seen).into_owned()
    });
    let streamed = reader.join().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        streamed.matches("\x1b[2J").count() >= 2 && streamed.matches(" two ").count() >= 2,
        "two refreshed tables: {streamed:?}"
    );

    w.ok(&["stop", "-t", "1", "two"]);
    assert_error(&w.fails(&["top", "two"]), "not running");
    w.ok(&["rm", "two"]);
}

/// Entries of a tar archive: path → contents (empty for non-files).
fn tar_entries(bytes: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut archive = tar::Archive::new(bytes);
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        out.insert(path, data);
    }
    out
}

/// A host tree: d/a.txt ("hi"), d/sub/b.txt ("deep").
fn host_tree(w: &Wharf) -> std::path::PathBuf {
    let d = w.scratch("src").join("d");
    std::fs::create_dir_all(d.join("sub")).unwrap();
    std::fs::write(d.join("a.txt"), "hi\n").unwrap();
    std::fs::write(d.join("sub/b.txt"), "deep\n").unwrap();
    d
}

#[test]
fn linux_cp_both_ways() {
    let w = Wharf::new();
    build_busybox(&w, "bb", "");
    let d = host_tree(&w);
    let d_str = d.to_str().unwrap();

    // Into a created container (not yet started): a new directory from a host one.
    w.ok(&[
        "create",
        "--name",
        "box",
        "bb",
        "sh",
        "-c",
        "cat /copied/a.txt /copied/sub/b.txt /t.txt; echo made > /out.txt",
    ]);
    assert_eq!(w.ok(&["cp", d_str, "box:/copied"]), "");
    // A tar stream on stdin, unpacked into a directory.
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(7);
    h.set_mode(0o644);
    h.set_cksum();
    tar.append_data(&mut h, "t.txt", &b"tarred\n"[..]).unwrap();
    let out = w.cmd_stdin(&["cp", "-", "box:/"], &tar.into_inner().unwrap());
    assert!(out.status.success(), "{}", describe(&out));
    let out = w.cmd(&["start", "-a", "box"]);
    assert_eq!(stdout(&out), "hi\ndeep\ntarred\n", "{}", describe(&out));

    // Out of the exited container (its overlay not mounted): what it wrote.
    let host = w.scratch("host");
    let got = host.join("out.txt");
    w.ok(&["cp", "box:/out.txt", got.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&got).unwrap(), "made\n");
    // A directory into an existing one goes inside it; DIR/. copies its contents.
    w.ok(&["cp", "box:/copied", host.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(host.join("copied/sub/b.txt")).unwrap(),
        "deep\n"
    );
    let contents = w.scratch("contents");
    w.ok(&["cp", "box:/copied/.", contents.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(contents.join("a.txt")).unwrap(),
        "hi\n"
    );
    // To stdout: a tar with the file's name at the top.
    let out = w.cmd(&["cp", "box:/copied/a.txt", "-"]);
    assert!(out.status.success(), "{}", describe(&out));
    let entries = tar_entries(&out.stdout);
    assert_eq!(entries.keys().collect::<Vec<_>>(), ["a.txt"]);
    assert_eq!(entries["a.txt"], b"hi\n");

    // Symlinks resolve inside the container's root, never the host's.
    let secret = w.scratch("secret");
    std::fs::write(secret.join("key"), "host only").unwrap();
    let mark = format!("wharf-cp-test-{}", std::process::id());
    w.ok(&[
        "run",
        "--name",
        "links",
        "bb",
        "sh",
        "-c",
        &format!(
            "mkdir /tmp && ln -s ../../../../../../../ /up && ln -s {} /hostdir",
            secret.display()
        ),
    ]);
    let a_txt = d.join("a.txt");
    w.ok(&[
        "cp",
        a_txt.to_str().unwrap(),
        &format!("links:/up/tmp/{mark}"),
    ]);
    assert!(
        !std::path::Path::new("/tmp").join(&mark).exists(),
        "wrote outside the container"
    );
    let back = host.join("back.txt");
    w.ok(&["cp", &format!("links:/tmp/{mark}"), back.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(&back).unwrap(),
        "hi\n",
        "it landed in the container's /tmp"
    );
    assert_error(
        &w.fails(&["cp", "links:/hostdir/key", "-"]),
        "could not find the file /hostdir/key",
    );
    // The link itself is copied as a link, as Docker does.
    let out = w.cmd(&["cp", "links:/hostdir", "-"]);
    let mut archive = tar::Archive::new(&out.stdout[..]);
    let e = archive.entries().unwrap().next().unwrap().unwrap();
    assert_eq!(e.header().entry_type(), tar::EntryType::Symlink);

    // Paths under a -v mount are the mount's, as the container sees them;
    // a read-only root or mount is not written.
    let vol = w.scratch("vol");
    let vol_mount = format!("{}:/data", vol.display());
    w.ok(&[
        "create",
        "--name",
        "mounted",
        "--read-only",
        "-v",
        &vol_mount,
        "bb",
        "true",
    ]);
    w.ok(&["cp", a_txt.to_str().unwrap(), "mounted:/data/in-volume.txt"]);
    assert_eq!(
        std::fs::read_to_string(vol.join("in-volume.txt")).unwrap(),
        "hi\n"
    );
    let out = w.cmd(&["cp", "mounted:/data/in-volume.txt", "-"]);
    assert_eq!(tar_entries(&out.stdout)["in-volume.txt"], b"hi\n");
    assert_error(
        &w.fails(&["cp", a_txt.to_str().unwrap(), "mounted:/a.txt"]),
        "read-only",
    );
    w.ok(&["rm", "mounted"]);

    assert_error(
        &w.fails(&["cp", "box:/nope", "-"]),
        "could not find the file /nope in container box",
    );
    assert_error(
        &w.fails(&["cp", d_str, "nosuch:/x"]),
        "No such container: nosuch",
    );
    assert_error(
        &w.fails(&["cp", d_str, host.to_str().unwrap()]),
        "CONTAINER:PATH",
    );
    w.ok(&["rm", "box", "links"]);
}

#[test]
fn wasm_cp_both_ways() {
    let w = Wharf::new();
    w.build_hello();
    w.ok(&["run", "--name", "w", "hello:1"]);
    let host = w.scratch("host");
    let got = host.join("greeting.txt");
    w.ok(&["cp", "w:/etc/greeting.txt", got.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&got).unwrap(), GREETING_FILE);
    let out = w.cmd(&["cp", "w:/hello.wasm", "-"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(tar_entries(&out.stdout)["hello.wasm"], hello_wasm_bytes());
    // Copies go into its own layer, never into the image.
    w.ok(&["create", "--name", "c", "hello:1", "cat", "/etc/new.txt"]);
    w.ok(&["cp", got.to_str().unwrap(), "c:/etc/new.txt"]);
    assert_eq!(w.ok(&["start", "-a", "c"]), GREETING_FILE);
    assert!(!w
        .cmd(&["run", "--rm", "hello:1", "cat", "/etc/new.txt"])
        .status
        .success());
    // And into a running one, through its guest's own view of its tree.
    w.ok(&["run", "-d", "--name", "s", "hello:1", "sleep", "60"]);
    w.ok(&["cp", got.to_str().unwrap(), "s:/live.txt"]);
    let out = w.cmd(&["cp", "s:/live.txt", "-"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        tar_entries(&out.stdout)["live.txt"],
        GREETING_FILE.as_bytes()
    );
    w.ok(&["rm", "-f", "s", "c"]);
    assert_error(
        &w.fails(&["cp", "w:/../../etc/passwd", "-"]),
        "could not find the file",
    );
    // Its -v directories are its own: copies go there (and not into a read-only one).
    let rw = w.scratch("rw");
    let ro = w.scratch("ro");
    w.ok(&[
        "create",
        "--name",
        "v",
        "-v",
        &format!("{}:/data", rw.display()),
        "-v",
        &format!("{}:/ro:ro", ro.display()),
        "hello:1",
        "cat",
        "/data/greeting.txt",
    ]);
    w.ok(&["cp", got.to_str().unwrap(), "v:/data/"]);
    assert_eq!(w.ok(&["start", "-a", "v"]), GREETING_FILE);
    assert_error(
        &w.fails(&["cp", got.to_str().unwrap(), "v:/ro/x"]),
        "read-only mount (/ro)",
    );
    assert_eq!(std::fs::read_dir(&ro).unwrap().count(), 0);
    w.ok(&["rm", "w", "v"]);
}

#[test]
fn export_both_kinds() {
    let w = Wharf::new();
    build_busybox(&w, "bb", "");
    w.build_hello();
    w.ok(&[
        "run",
        "--name",
        "l",
        "bb",
        "sh",
        "-c",
        "echo changed > /made.txt; rm /bin/ls",
    ]);
    w.ok(&["run", "--name", "w", "hello:1"]);

    // -o FILE: the container's filesystem, its changes included.
    let file = w.scratch("out").join("l.tar");
    assert_eq!(w.ok(&["export", "-o", file.to_str().unwrap(), "l"]), "");
    let entries = tar_entries(&std::fs::read(&file).unwrap());
    assert_eq!(entries["made.txt"], b"changed\n");
    assert_eq!(
        entries["bin/busybox"],
        std::fs::read("/bin/busybox").unwrap()
    );
    assert!(
        entries.contains_key("bin/sh") && !entries.contains_key("bin/ls"),
        "deleted files are gone"
    );
    assert!(
        entries
            .keys()
            .all(|k| !k.starts_with('/') && !k.starts_with("./")),
        "relative names"
    );

    // Stdout, for a Wasm container: its image's tree.
    let out = w.cmd(&["export", "w"]);
    assert!(out.status.success(), "{}", describe(&out));
    let entries = tar_entries(&out.stdout);
    assert_eq!(entries["hello.wasm"], hello_wasm_bytes());
    assert_eq!(entries["etc/greeting.txt"], GREETING_FILE.as_bytes());

    // An unknown container: an error, and no file.
    let missing = w.scratch("out").join("none.tar");
    let out = w.fails(&["export", "-o", missing.to_str().unwrap(), "nosuch"]);
    assert_error(&out, "No such container: nosuch");
    assert!(!missing.exists());
    assert_eq!(
        std::fs::read_dir(w.scratch("out")).unwrap().count(),
        1,
        "no temp file left"
    );
    w.ok(&["rm", "l", "w"]);
}
