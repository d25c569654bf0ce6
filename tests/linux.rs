//! Linux containers end to end, as root: images built by Wharf (busybox-static
//! with RUN steps) and packaged by umoci, Docker's defaults checked from inside
//! the container, every `run` flag, cgroup limits, exec, the detached
//! lifecycle, and that nothing (mounts, cgroups) is left behind.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

/// busybox with users, groups and a whiteout made by a later RUN step.
fn busybox(w: &Wharf) {
    build_busybox(
        w,
        "bb",
        r#"RUN mkdir -p /etc /tmp /root /home/app && chmod 1777 /tmp \
 && echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd \
 && echo 'app:x:1000:1000:app:/home/app:/bin/sh' >> /etc/passwd \
 && printf 'root:x:0:\napp:x:1000:\nstaff:x:50:app\n' > /etc/group \
 && echo doomed > /etc/doomed
RUN rm /etc/doomed
ENV GREETING=hello-from-image
CMD ["sh"]
"#,
    );
}

/// `wharf run --rm bb sh -c SCRIPT` with extra flags; must succeed.
fn sh(w: &Wharf, flags: &[&str], script: &str) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["bb", "sh", "-c", script]);
    w.ok(&args)
}

fn status_field(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key} in {status}"))
        .trim()
        .to_string()
}

fn host_mounts_mention(id: &str) -> bool {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .contains(id)
}

fn cgroup_dirs_of(id: &str) -> Vec<String> {
    let mut left = Vec::new();
    for ctrl in [
        "memory", "pids", "cpu", "cpuacct", "cpuset", "devices", "freezer", "blkio", "systemd",
        "unified",
    ] {
        let p = format!("/sys/fs/cgroup/{ctrl}/wharf/{id}");
        if Path::new(&p).exists() {
            left.push(p);
        }
    }
    left
}

#[test]
fn runs_with_docker_defaults() {
    let w = Wharf::new();
    busybox(&w);
    assert_eq!(w.ok(&["run", "--rm", "bb", "echo", "hi"]), "hi\n");
    let out = w.cmd(&["run", "--rm", "bb", "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    // Nothing of either container is left in the runtime's state (hidden
    // entries are shared caches; `net` is the networks' own state, where
    // the namespace they left waits for the next container; cgroups are
    // checked by the limits tests).
    let runtime_state: Vec<_> = fs::read_dir(w.state_root())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.') && n != "net")
        .collect();
    assert!(runtime_state.is_empty(), "{runtime_state:?}");
    let bundles = fs::read_dir(w.state_root().join(".bundles")).map(|d| d.count());
    assert!(bundles.unwrap_or(0) == 0, "shadow bundles left behind");

    let status = sh(&w, &[], "cat /proc/self/status");
    assert_eq!(status_field(&status, "CapEff"), "00000000a80425fb");
    assert_eq!(status_field(&status, "CapBnd"), "00000000a80425fb");
    assert_eq!(status_field(&status, "Seccomp"), "2");
    assert_eq!(status_field(&status, "NoNewPrivs"), "0");
    // The profile is really in force (it is loaded from the compiled-filter
    // cache after the first start): a user namespace needs no capability, but
    // Docker's profile refuses it.
    for _ in 0..2 {
        let out = w.cmd(&["run", "--rm", "bb", "unshare", "-U", "true"]);
        assert!(!out.status.success(), "{}", describe(&out));
        assert!(
            stderr(&out).contains("Operation not permitted"),
            "{}",
            describe(&out)
        );
    }
    let out = w.cmd(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=unconfined",
        "bb",
        "unshare",
        "-U",
        "true",
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    // pid 1 in its own pid namespace.
    assert_eq!(sh(&w, &[], "echo $$"), "1\n");
    // Every namespace Docker creates differs from the host's.
    for ns in ["pid", "mnt", "uts", "ipc", "net", "cgroup"] {
        let host = fs::read_link(format!("/proc/self/ns/{ns}")).unwrap();
        let inside = sh(&w, &[], &format!("readlink /proc/self/ns/{ns}"));
        assert_ne!(
            inside.trim(),
            host.to_str().unwrap(),
            "{ns} namespace is shared with the host"
        );
    }
    // Image ENV reaches the process; the host's does not.
    let env = sh(&w, &[], "env");
    assert!(env.contains("GREETING=hello-from-image"), "{env}");
    assert!(env.contains("PATH="), "{env}");
}

#[test]
fn masked_paths_dev_sys_and_etc_files() {
    let w = Wharf::new();
    busybox(&w);
    for masked in ["/proc/keys", "/proc/timer_list"] {
        assert_eq!(
            sh(&w, &[], &format!("cat {masked} | wc -c")).trim(),
            "0",
            "{masked} is readable"
        );
    }
    assert_eq!(sh(&w, &[], "ls /sys/firmware | wc -l").trim(), "0");
    let out = w.cmd(&[
        "run",
        "--rm",
        "bb",
        "sh",
        "-c",
        "echo 1 > /proc/sys/kernel/domainname",
    ]);
    assert!(
        !out.status.success(),
        "/proc/sys is writable\n{}",
        describe(&out)
    );
    let out = w.cmd(&[
        "run",
        "--rm",
        "bb",
        "sh",
        "-c",
        "echo 1 > /proc/sysrq-trigger",
    ]);
    assert!(!out.status.success(), "/proc/sysrq-trigger is writable");
    let out = w.cmd(&["run", "--rm", "bb", "touch", "/sys/x"]);
    assert!(!out.status.success(), "/sys is writable");

    let mounts = sh(&w, &[], "cat /proc/mounts");
    for m in [
        " /proc proc",
        " /dev tmpfs",
        " /dev/pts devpts",
        " /dev/shm tmpfs",
        " /dev/mqueue mqueue",
        " /sys sysfs ro",
    ] {
        assert!(mounts.contains(m), "missing mount `{m}` in\n{mounts}");
    }
    let dev = sh(&w, &[], "ls /dev");
    for d in [
        "null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm",
    ] {
        assert!(
            lines(&dev).contains(&d.to_string()),
            "/dev/{d} missing: {dev}"
        );
    }
    assert!(
        !lines(&dev)
            .iter()
            .any(|d| d.starts_with("sd") || d.starts_with("vd")),
        "host disks in /dev: {dev}"
    );

    // hostname = short id; /etc/hosts and /etc/hostname agree; resolv.conf exists.
    let id = w
        .ok(&["run", "-d", "--name", "h", "bb", "sleep", "30"])
        .trim()
        .to_string();
    let short = &id[..12];
    assert_eq!(w.ok(&["exec", "h", "hostname"]).trim(), short);
    assert_eq!(w.ok(&["exec", "h", "cat", "/etc/hostname"]).trim(), short);
    assert!(w.ok(&["exec", "h", "cat", "/etc/hosts"]).contains(short));
    w.ok(&["exec", "h", "test", "-f", "/etc/resolv.conf"]);
    w.ok(&["rm", "-f", "h"]);
    assert_eq!(
        sh(&w, &["--hostname", "custom"], "hostname").trim(),
        "custom"
    );
}

#[test]
fn security_flags() {
    let w = Wharf::new();
    busybox(&w);
    let s = sh(
        &w,
        &["--cap-drop", "ALL", "--security-opt", "no-new-privileges"],
        "cat /proc/self/status",
    );
    assert_eq!(status_field(&s, "CapEff"), "0000000000000000");
    assert_eq!(status_field(&s, "NoNewPrivs"), "1");
    let s = sh(&w, &["--cap-add", "NET_ADMIN"], "cat /proc/self/status");
    assert_eq!(status_field(&s, "CapEff"), "00000000a80435fb");
    let s = sh(&w, &["--cap-drop", "NET_RAW"], "cat /proc/self/status");
    assert_eq!(status_field(&s, "CapEff"), "00000000a80405fb");
    let s = sh(
        &w,
        &["--security-opt", "seccomp=unconfined"],
        "cat /proc/self/status",
    );
    assert_eq!(status_field(&s, "Seccomp"), "0");
    // A profile file in Docker's format: deny mkdir with EPERM, allow the rest.
    let profile = w.scratch_file(
        "deny-mkdir.json",
        br#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#,
    );
    let opt = format!("seccomp={}", profile.display());
    let out = w.cmd(&["run", "--rm", "--security-opt", &opt, "bb", "mkdir", "/x"]);
    assert!(
        !out.status.success(),
        "mkdir allowed under a profile denying it\n{}",
        describe(&out)
    );
    assert!(
        stderr(&out).contains("Operation not permitted"),
        "{}",
        describe(&out)
    );

    // Users from the image's /etc/passwd and /etc/group.
    assert_eq!(
        sh(&w, &["-u", "app"], "id"),
        "uid=1000(app) gid=1000(app) groups=50(staff)\n"
    );
    assert_eq!(sh(&w, &["-u", "1000:50"], "id -u; id -g"), "1000\n50\n");
    let s = sh(&w, &["-u", "app"], "cat /proc/self/status");
    assert_eq!(
        status_field(&s, "CapEff"),
        "0000000000000000",
        "a non-root user keeps no effective caps"
    );
    let out = w.cmd(&["run", "--rm", "-u", "nobody-here", "bb", "id"]);
    assert_error(&out, "nobody-here");
}

#[test]
fn filesystem_flags_volumes_env_and_network() {
    let w = Wharf::new();
    busybox(&w);
    // --read-only root, with a writable --tmpfs.
    let out = w.cmd(&["run", "--rm", "--read-only", "bb", "touch", "/x"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        describe(&out)
    );
    assert_eq!(
        sh(
            &w,
            &["--read-only", "--tmpfs", "/tmp"],
            "echo ok > /tmp/f && cat /tmp/f"
        ),
        "ok\n"
    );
    // Volumes: rw and ro.
    let data = w.scratch("data");
    fs::write(data.join("in.txt"), "from host\n").unwrap();
    let rw = format!("{}:/data", data.display());
    let ro = format!("{}:/data:ro", data.display());
    assert_eq!(
        sh(
            &w,
            &["-v", &rw],
            "cat /data/in.txt && echo back > /data/out.txt"
        ),
        "from host\n"
    );
    assert_eq!(fs::read_to_string(data.join("out.txt")).unwrap(), "back\n");
    let out = w.cmd(&["run", "--rm", "-v", &ro, "bb", "touch", "/data/nope"]);
    assert!(!out.status.success(), "ro volume is writable");
    assert!(!data.join("nope").exists());
    // -w, -e, --env-file.
    let envf = w.scratch_file("env.list", b"# comment\nFROM_FILE=1\n\nOVERRIDE=file\n");
    let out = sh(
        &w,
        &[
            "-w",
            "/data",
            "-v",
            &rw,
            "--env-file",
            envf.to_str().unwrap(),
            "-e",
            "OVERRIDE=flag",
        ],
        "pwd; echo $FROM_FILE $OVERRIDE",
    );
    assert_eq!(out, "/data\n1 flag\n");
    // --network none: only loopback, and it is up; host: the host's interfaces.
    let ifs = sh(&w, &["--network", "none"], "ls /sys/class/net");
    assert_eq!(lines(&ifs), ["lo"]);
    assert!(sh(&w, &["--network", "none"], "ip link show lo").contains("UP"));
    // Without a flag: the default network too (tests/network.rs has more).
    assert_eq!(lines(&sh(&w, &[], "ls /sys/class/net")), ["eth0", "lo"]);
    let host_ifs: Vec<String> = fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let inside = lines(&sh(&w, &["--network", "host"], "ls /sys/class/net"));
    for i in &host_ifs {
        assert!(
            inside.contains(i),
            "host interface {i} missing with --network host: {inside:?}"
        );
    }
    // --add-host and --dns write the container's /etc files.
    let etc = sh(
        &w,
        &["--add-host", "db:10.1.2.3", "--dns", "10.9.9.9"],
        "cat /etc/hosts /etc/resolv.conf",
    );
    assert!(etc.contains("10.1.2.3\tdb\n"), "{etc}");
    assert!(etc.contains("nameserver 10.9.9.9\n"), "{etc}");
    assert_eq!(etc.matches("nameserver").count(), 1, "{etc}");
    let bad = w.fails(&["run", "--rm", "--add-host", "db", "bb", "true"]);
    assert_error(&bad, "--add-host");
    // bridge: the default network, loopback and eth0 on its subnet.
    let (net, _) = w.default_net();
    let inside = sh(
        &w,
        &["--network", "bridge"],
        "ls /sys/class/net; ip -o -4 addr show eth0",
    );
    assert!(inside.starts_with("eth0\nlo\n"), "{inside}");
    assert!(inside.contains(&format!("inet {net}")), "{inside}");
}

#[test]
fn whiteouts_from_run_steps_hide_lower_files() {
    let w = Wharf::new();
    busybox(&w);
    // /etc/doomed was created by one RUN step and deleted by the next.
    let out = w.cmd(&["run", "--rm", "bb", "cat", "/etc/doomed"]);
    assert!(
        !out.status.success(),
        "a file deleted in a later layer is visible"
    );
    // A further build on top: deleting a whole directory and making it opaque.
    let ctx = w.scratch("wh");
    fs::write(
        ctx.join("Dockerfile"),
        "FROM bb\nRUN mkdir -p /opt/d && echo a > /opt/d/a && echo keep > /opt/keep\nRUN rm -rf /opt/d && mkdir /opt/d && echo b > /opt/d/b\n",
    )
    .unwrap();
    w.ok(&[
        "build",
        "-q",
        "--platform",
        "linux/amd64",
        "-t",
        "wh",
        ctx.to_str().unwrap(),
    ]);
    assert_eq!(w.ok(&["run", "--rm", "wh", "ls", "/opt/d"]), "b\n");
    assert_eq!(w.ok(&["run", "--rm", "wh", "cat", "/opt/keep"]), "keep\n");
    // Changes in a container never reach the image.
    w.ok(&["run", "--rm", "wh", "rm", "/opt/keep"]);
    assert_eq!(w.ok(&["run", "--rm", "wh", "cat", "/opt/keep"]), "keep\n");
}

#[test]
fn cgroup_limits_oom_and_pids() {
    let w = Wharf::new();
    busybox(&w);
    let out = w.cmd(&[
        "run",
        "--name",
        "oom",
        "--memory",
        "32m",
        "bb",
        "sh",
        "-c",
        "head -c 200000000 /dev/zero | sort > /dev/null",
    ]);
    assert_eq!(out.status.code(), Some(137), "{}", describe(&out));
    let state = &w.inspect("oom")["State"];
    assert_eq!(state["OOMKilled"], true, "{state}");
    assert_eq!(state["ExitCode"], 137);
    let id = w.inspect("oom")["Id"].as_str().unwrap().to_string();
    w.ok(&["rm", "oom"]);
    assert!(
        cgroup_dirs_of(&id).is_empty(),
        "cgroups left: {:?}",
        cgroup_dirs_of(&id)
    );

    let out = w.cmd(&[
        "run",
        "--rm",
        "--pids-limit",
        "10",
        "bb",
        "sh",
        "-c",
        "for i in $(seq 30); do sleep 5 & done; wait",
    ]);
    assert!(
        stderr(&out).contains("Resource temporarily unavailable"),
        "{}",
        describe(&out)
    );

    // The limits are where the kernel reads them.
    let id = w.ok(&[
        "run",
        "-d",
        "--memory",
        "64m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "100",
        "bb",
        "sleep",
        "30",
    ]);
    let id = id.trim();
    let read = |p: &str| {
        fs::read_to_string(p)
            .unwrap_or_else(|e| panic!("{p}: {e}"))
            .trim()
            .to_string()
    };
    assert_eq!(
        read(&format!(
            "/sys/fs/cgroup/memory/wharf/{id}/memory.limit_in_bytes"
        )),
        (64u64 << 20).to_string()
    );
    assert_eq!(
        read(&format!("/sys/fs/cgroup/pids/wharf/{id}/pids.max")),
        "100"
    );
    assert_eq!(
        read(&format!("/sys/fs/cgroup/cpu/wharf/{id}/cpu.cfs_quota_us")),
        "50000"
    );
    w.ok(&["rm", "-f", id]);
    assert!(
        cgroup_dirs_of(id).is_empty(),
        "cgroups left: {:?}",
        cgroup_dirs_of(id)
    );
    assert!(!host_mounts_mention(id), "overlay of {id} still mounted");
}

#[test]
fn detached_lifecycle_exec_and_cleanup() {
    let w = Wharf::new();
    busybox(&w);
    let site = w.scratch("site");
    fs::write(site.join("index.html"), "<h1>wharf</h1>\n").unwrap();
    let vol = format!("{}:/www:ro", site.display());
    let id = w.ok(&[
        "run", "-d", "--name", "web", "--memory", "64m", "-v", &vol, "bb", "httpd", "-f", "-p",
        "8080", "-h", "/www",
    ]);
    let id = id.trim().to_string();
    assert!(is_hex(&id, 64), "{id}");
    let ps = w.ps_all();
    let row = ps.iter().find(|r| r["Names"] == "web").expect("web in ps");
    assert_eq!(row["State"], "running");
    assert_eq!(row["Kind"], "linux");

    // exec joins the container: same pid namespace (httpd is pid 1), user, workdir, env, exit code.
    let procs = w.ok(&["exec", "web", "ps"]);
    assert!(
        procs
            .lines()
            .any(|l| l.split_whitespace().next() == Some("1") && l.contains("httpd")),
        "{procs}"
    );
    assert_eq!(
        w.ok(&["exec", "web", "wget", "-qO-", "http://127.0.0.1:8080/"]),
        "<h1>wharf</h1>\n"
    );
    assert_eq!(
        w.ok(&[
            "exec",
            "-u",
            "app",
            "-w",
            "/tmp",
            "-e",
            "X=1",
            "web",
            "sh",
            "-c",
            "id -u; pwd; echo $X"
        ]),
        "1000\n/tmp\n1\n"
    );
    let out = w.cmd(&["exec", "web", "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7), "{}", describe(&out));
    assert_eq!(
        w.cmd_stdin(&["exec", "-i", "web", "cat"], b"piped\n")
            .stdout,
        b"piped\n"
    );

    // stop: httpd as pid 1 ignores SIGTERM (like under Docker), so -t 1 ends in SIGKILL.
    w.ok(&["stop", "-t", "1", "web"]);
    let state = &w.inspect("web")["State"];
    assert_eq!(state["Status"], "exited");
    assert_eq!(state["ExitCode"], 137);
    let out = w.cmd(&["exec", "web", "true"]);
    assert!(
        !out.status.success(),
        "exec into a stopped container worked"
    );
    w.ok(&["rm", "web"]);
    assert!(!host_mounts_mention(&id), "overlay still mounted after rm");
    assert!(
        cgroup_dirs_of(&id).is_empty(),
        "cgroups left: {:?}",
        cgroup_dirs_of(&id)
    );
    assert!(!w.root().join("containers").join(&id).exists());

    // A container that handles SIGTERM stops at once with its own code; logs work.
    w.ok(&[
        "run",
        "-d",
        "--name",
        "trap",
        "bb",
        "sh",
        "-c",
        "trap 'echo bye; exit 0' TERM; echo up; while true; do sleep 0.1; done",
    ]);
    poll(Duration::from_secs(10), || {
        w.ok(&["logs", "trap"]).contains("up").then_some(())
    })
    .expect("log line");
    w.ok(&["stop", "-t", "10", "trap"]);
    assert_eq!(w.inspect("trap")["State"]["ExitCode"], 0);
    assert_eq!(w.ok(&["logs", "trap"]), "up\nbye\n");
    w.ok(&["rm", "trap"]);

    // kill delivers the signal to the container's init.
    w.ok(&["run", "-d", "--name", "k", "bb", "sleep", "60"]);
    w.ok(&["kill", "k"]);
    assert_eq!(
        w.wait_exited("k", Duration::from_secs(10))["State"]["ExitCode"],
        137
    );
}

#[test]
fn killed_monitor_is_reported_and_cleaned_up() {
    let w = Wharf::new();
    busybox(&w);
    let id = w
        .ok(&["run", "-d", "--name", "m", "bb", "sleep", "60"])
        .trim()
        .to_string();
    let state = w.inspect("m")["State"].clone();
    let monitor = state["ConmonPid"].as_i64().unwrap() as i32;
    let init = state["Pid"].as_i64().unwrap() as i32;
    assert_ne!(monitor, init, "{state}");
    // SAFETY: kill(2) on a pid this test's wharf started.
    assert_eq!(unsafe { libc::kill(monitor, libc::SIGKILL) }, 0);
    std::thread::sleep(Duration::from_millis(200));
    // inspect tells: still running, the container's own pid, and why its
    // output is no longer logged.
    let state = w.inspect("m")["State"].clone();
    assert_eq!(state["Running"], true, "{state}");
    assert_eq!(state["Pid"], init, "{state}");
    assert_eq!(state["ConmonPid"], 0, "{state}");
    assert!(
        state["Error"]
            .as_str()
            .unwrap()
            .contains("no longer logged"),
        "{state}"
    );
    // The container's init outlives its monitor: still running, and rm -f cleans up everything.
    w.ok(&["rm", "-f", "m"]);
    assert!(!host_mounts_mention(&id), "overlay still mounted");
    assert!(
        cgroup_dirs_of(&id).is_empty(),
        "cgroups left: {:?}",
        cgroup_dirs_of(&id)
    );
}

#[test]
fn rlimits_are_clamped_to_the_hard_limit() {
    let w = Wharf::new();
    busybox(&w);
    let hard = nix_hard_nofile();
    let soft: u64 = sh(&w, &[], "ulimit -n").trim().parse().unwrap();
    assert!(
        soft <= hard && soft > 0,
        "container nofile {soft}, host hard limit {hard}"
    );
}

fn nix_hard_nofile() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) }, 0);
    r.rlim_max
}

#[test]
fn umoci_packaged_image_runs() {
    let w = Wharf::new();
    let dir = w.scratch("umoci");
    let l = dir.join("L");
    let ls = l.to_str().unwrap();
    let image = format!("{ls}:bb");
    let run = |args: &[&str]| {
        let out = Command::new(args[0])
            .args(&args[1..])
            .output()
            .unwrap_or_else(|e| panic!("{}: {e} (run scripts/setup.sh)", args[0]));
        assert!(out.status.success(), "{args:?}\n{}", describe(&out));
    };
    run(&["umoci", "init", "--layout", ls]);
    run(&["umoci", "new", "--image", &image]);
    let bundle = dir.join("B");
    run(&[
        "umoci",
        "unpack",
        "--image",
        &image,
        bundle.to_str().unwrap(),
    ]);
    let rootfs = bundle.join("rootfs");
    fs::create_dir_all(rootfs.join("bin")).unwrap();
    fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    for applet in ["sh", "echo", "cat", "id"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
    }
    run(&[
        "umoci",
        "repack",
        "--image",
        &image,
        bundle.to_str().unwrap(),
    ]);
    run(&[
        "umoci",
        "config",
        "--image",
        &image,
        "--architecture",
        "amd64",
        "--os",
        "linux",
        "--config.cmd",
        "sh",
        "--config.env",
        "PATH=/bin",
    ]);
    let a = dir.join("bb.tar");
    run(&["tar", "-C", ls, "-cf", a.to_str().unwrap(), "."]);
    assert!(w.load(&a).contains("bb:latest"));
    assert_eq!(
        w.ok(&["run", "--rm", "bb", "echo", "from umoci"]),
        "from umoci\n"
    );
    assert_eq!(
        w.ok(&["run", "--rm", "bb", "sh", "-c", "echo $$; id -u"]),
        "1\n0\n"
    );
}

#[test]
fn bad_input_leaves_nothing_behind() {
    let w = Wharf::new();
    busybox(&w);
    let before = fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .matches(w.root_str())
        .count();
    // Docker's codes: 127 for a command that does not exist, 126 for one
    // that cannot be executed; for run and exec alike.
    let out = w.cmd(&["run", "--rm", "bb", "/no/such/binary"]);
    assert_eq!(out.status.code(), Some(127), "{}", describe(&out));
    assert_error(&out, "/no/such/binary: executable file not found");
    let out = w.cmd(&["run", "--rm", "bb", "nosuchcmd"]);
    assert_eq!(out.status.code(), Some(127), "{}", describe(&out));
    let out = w.cmd(&["run", "--rm", "bb", "/etc/passwd"]);
    assert_eq!(out.status.code(), Some(126), "{}", describe(&out));
    assert_error(&out, "/etc/passwd: the container cannot execute it");
    // A Wasm module packaged as a Linux image: a build without --platform
    // stops and says so; one that insists on linux/amd64 gets the exec
    // format error at run, said, not a silent 255.
    let ctx = hello_context();
    let ctx = ctx.to_str().unwrap();
    let out = w.cmd(&["build", "-q", "-t", "wasm-as-linux", ctx]);
    assert_error(&out, "it is a WebAssembly module");
    assert_error(&out, "--platform wasi/wasm");
    assert!(!w.ok(&["images"]).contains("wasm-as-linux"));
    w.ok(&[
        "build",
        "-q",
        "--platform",
        "linux/amd64",
        "-t",
        "wasm-as-linux",
        ctx,
    ]);
    let out = w.cmd(&["run", "--rm", "wasm-as-linux"]);
    assert_eq!(out.status.code(), Some(126), "{}", describe(&out));
    assert_error(&out, "it is a WebAssembly module");
    let out = w.cmd(&["run", "--rm", "-u", "ghost", "bb", "true"]);
    assert_error(&out, "ghost");
    let out = w.cmd(&["run", "--rm", "-v", "/definitely/missing:/x", "bb", "true"]);
    assert_error(&out, "/definitely/missing");
    let out = w.cmd(&["run", "--rm", "--memory", "lots", "bb", "true"]);
    assert_error(&out, "lots");
    let out = w.cmd(&["run", "--rm", "--cpus", "-1", "bb", "true"]);
    assert!(!out.status.success());
    // An image for another architecture.
    let ctx = w.scratch("arm");
    fs::write(ctx.join("Dockerfile"), "FROM bb\nCMD [\"true\"]\n").unwrap();
    w.ok(&[
        "build",
        "-q",
        "--platform",
        "linux/arm64",
        "-t",
        "arm",
        ctx.to_str().unwrap(),
    ]);
    let out = w.cmd(&["run", "--rm", "arm"]);
    assert_error(&out, "arm64");
    assert_eq!(out.status.code(), Some(125));

    let after = fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .matches(w.root_str())
        .count();
    assert_eq!(before, after, "mounts left behind");
    assert!(
        w.ps_all().is_empty(),
        "containers left behind: {:?}",
        w.ps_all()
    );
    let left = fs::read_dir(w.root().join("containers"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                // Hidden entries are shared (.names, the overlay init layer).
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .count()
        })
        .unwrap_or(0);
    assert_eq!(left, 0, "container directories left behind");
}

/// `run -it` under a real pseudo-terminal (`script` gives wharf one): the
/// container's stdio is a tty of its own, what is typed reaches it, its
/// exit code comes back, and nothing is left behind. (The console socket
/// once lived at a path longer than a unix socket address holds.)
#[test]
fn interactive_tty_under_a_real_terminal() {
    let w = Wharf::new();
    busybox(&w);
    let wharf = format!("{BIN} --root {}", w.root_str());
    let script = format!(
        "{wharf} run --rm -it bb sh -c 'test -t 0 && test -t 1 && echo tty-ok; read line; echo \"got:$line\"; exit 3'"
    );
    let mut cmd = Command::new("script");
    cmd.args(["-qfec", &script, "/dev/null"]);
    let out = run_with_timeout(cmd, Some(b"typed-here\n"), Duration::from_secs(60));
    let text = stdout(&out);
    assert!(text.contains("tty-ok"), "{}", describe(&out));
    assert!(text.contains("got:typed-here"), "{}", describe(&out));
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    assert!(w.ps_all().is_empty(), "{:?}", w.ps_all());
}

/// Every cgroup directory named `name` under /sys/fs/cgroup (v1 hierarchies
/// and v2), up to `wharf/<name>` deep.
fn cgroup_dirs_named(name: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![(std::path::PathBuf::from("/sys/fs/cgroup"), 0)];
    while let Some((d, depth)) = dirs.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if !e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                continue;
            }
            if e.file_name().to_string_lossy() == name {
                found.push(p.clone());
            }
            if depth < 3 {
                dirs.push((p, depth + 1));
            }
        }
    }
    found
}

/// `kill -9` of `wharf build` during a RUN step: the step's processes die
/// with the build (parent-death signal on the step's init), and what the
/// step left (container state, cgroups, overlay mount, directory) is reaped
/// by the next command that takes the store's lock (issue 19, item 7).
#[test]
fn a_killed_build_leaves_no_step_container() {
    let w = Wharf::new();
    let ctx = w.scratch("killed-build");
    fs::copy("/bin/busybox", ctx.join("busybox")).unwrap();
    // A sleep no other test runs, to find its process by command line.
    let secs = format!("31{}", std::process::id());
    fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM scratch\nCOPY busybox /bin/busybox\n\
             RUN [\"/bin/busybox\", \"sh\", \"-c\", \"/bin/busybox touch /started; exec /bin/busybox sleep {secs}\"]\n"
        ),
    )
    .unwrap();
    let mut build = w
        .command(&[
            "build",
            "--platform",
            "linux/amd64",
            "-t",
            "killed:1",
            ctx.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let steps = w.root().join("build");
    let step = poll(CMD_TIMEOUT, || {
        fs::read_dir(&steps)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.join("upper/started").exists())
    })
    .expect("the RUN step never started");
    let id = step.file_name().unwrap().to_string_lossy().into_owned();
    let sleeping = || {
        fs::read_dir("/proc").unwrap().flatten().any(|e| {
            fs::read(e.path().join("cmdline"))
                .map(|c| c.split(|&b| b == 0).any(|a| a == secs.as_bytes()))
                .unwrap_or(false)
        })
    };
    assert!(sleeping(), "the step's sleep is not running");
    build.kill().unwrap();
    build.wait().unwrap();
    assert!(
        poll(Duration::from_secs(60), || (!sleeping()).then_some(())).is_some(),
        "the RUN step's process outlived its killed build"
    );
    // A command that takes the store's lock reaps the rest.
    let a = w.scratch_file("img.tar", &layout(&good_image("other:1")).archive());
    w.load(&a);
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&id),
        "the step's overlay is still mounted:\n{mounts}"
    );
    assert!(!step.exists(), "the step's directory is still there");
    assert!(
        !w.state_root().join(&id).exists(),
        "the step's runtime state is still there"
    );
    let cgroups = cgroup_dirs_named(&id);
    assert!(
        cgroups.is_empty(),
        "the step's cgroups are left: {cgroups:?}"
    );
    let left: Vec<_> = fs::read_dir(&steps)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&id))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "left in {}: {left:?}", steps.display());
}

/// Absolute symlinks in the image where a container puts things: /etc (its
/// hosts, hostname, resolv.conf), a -v and a --tmpfs destination, and -w,
/// dangling ones too, resolve inside the rootfs, as runc resolves them, and
/// a missing working directory is made, so the container runs (issue 19:
/// these failed with "failed to prepare rootfs" / "failed to unix syscall").
#[test]
fn absolute_symlinks_in_the_image_resolve_inside_the_rootfs() {
    let w = Wharf::new();
    build_busybox(
        &w,
        "links",
        "RUN mkdir -p /private/etc /real/data /tmp \
 && echo 'root:x:0:0:root:/root:/bin/sh' > /private/etc/passwd \
 && ln -s /private/etc /etc && ln -s /real/data /data \
 && ln -s /real/tmp /scratch && ln -s /real/work /work\n",
    );
    let vol = w.scratch("links-vol");
    fs::write(vol.join("from-host"), "host file\n").unwrap();
    let out = w.cmd(&[
        "run",
        "--rm",
        "-v",
        &format!("{}:/data", vol.display()),
        "--tmpfs",
        "/scratch",
        "-w",
        "/work/new",
        "links",
        "sh",
        "-c",
        "pwd; cat /data/from-host; grep -c . /etc/hosts >/dev/null && echo hosts; \
         grep -q ' /real/tmp tmpfs' /proc/mounts && echo tmpfs; ls /real/data",
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        lines(&stdout(&out)),
        ["/real/work/new", "host file", "hosts", "tmpfs", "from-host"],
        "{}",
        describe(&out)
    );
}
