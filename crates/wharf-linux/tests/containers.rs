//! End-to-end tests: real containers from a busybox rootfs. They need root,
//! namespaces, cgroups and /bin/busybox (busybox-static); run them with
//! `--test-threads=1`. Without root or busybox they are skipped.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResourcesBuilder, ProcessBuilder,
    Spec,
};
use wharf_linux::{LinuxOptions, Network, Seccomp, Stdio};

const APPLETS: &[&str] = &[
    "sh", "id", "cat", "echo", "ps", "mount", "sleep", "hostname", "ls", "touch", "head", "tail",
    "dd", "grep", "true", "false", "rm", "mkdir", "wc", "seq", "env", "uname", "ip", "stat", "sed",
    "sort", "tr", "unshare", "readlink",
];

fn usable() -> bool {
    let ok = nix::unistd::geteuid().is_root() && Path::new("/bin/busybox").exists();
    if !ok {
        eprintln!("skipping: needs root and /bin/busybox (apt-get install busybox-static)");
    }
    ok
}

/// A busybox rootfs with root and app users.
fn make_rootfs(dir: &Path) -> PathBuf {
    let root = dir.join("rootfs");
    for d in [
        "bin", "etc", "proc", "sys", "dev", "tmp", "root", "home/app", "data",
    ] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    for a in APPLETS {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(a)).unwrap();
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(
        root.join("etc/group"),
        "root:x:0:\nstaff:x:50:app\napp:x:1000:\n",
    )
    .unwrap();
    std::fs::write(root.join("data/keep.txt"), "keep\n").unwrap();
    std::fs::write(root.join("data/gone.txt"), "gone\n").unwrap();
    std::fs::create_dir_all(root.join("data/sub")).unwrap();
    std::fs::write(root.join("data/sub/old.txt"), "old\n").unwrap();
    root
}

fn pipe() -> (OwnedFd, OwnedFd) {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap()
}

fn reader(fd: OwnedFd) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::fs::File::from(fd).read_to_string(&mut s);
        s
    })
}

struct Env {
    tmp: tempfile::TempDir,
    state: PathBuf,
    rootfs: PathBuf,
    _serial: std::sync::MutexGuard<'static, ()>,
}

/// libcontainer changes the process-wide working directory while it creates
/// a container (to keep socket paths short), so two creates in one process
/// race. Wharf starts each container from its own process; these tests share
/// one, so they take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn env() -> Env {
    let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = make_rootfs(tmp.path());
    let state = tmp.path().join("state");
    Env {
        tmp,
        state,
        rootfs,
        _serial: serial,
    }
}

/// What a test container asks for: Docker's Linux options, and what the
/// caller of `apply_defaults` puts in the spec itself.
#[derive(Default)]
struct Opts {
    linux: LinuxOptions,
    hostname: Option<&'static str>,
    tty: bool,
    read_only: bool,
    memory: Option<i64>,
    /// CFS quota and period.
    cpu: Option<(i64, u64)>,
    pids: Option<i64>,
}

impl From<LinuxOptions> for Opts {
    fn from(linux: LinuxOptions) -> Opts {
        Opts {
            linux,
            ..Opts::default()
        }
    }
}

fn spec_for(env: &Env, id: &str, args: &[&str], opts: &Opts) -> wharf_linux::Result<PathBuf> {
    let mut spec = Spec::default();
    let process = ProcessBuilder::default()
        .args(args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .env(vec!["PATH=/bin".to_string()])
        .cwd("/")
        .terminal(opts.tty)
        .build()
        .unwrap();
    spec.set_process(Some(process));
    spec.set_hostname(opts.hostname.map(str::to_string));
    let mut root = spec.root().clone().unwrap_or_default();
    root.set_readonly(Some(opts.read_only));
    spec.set_root(Some(root));
    let mut resources = LinuxResourcesBuilder::default();
    if let Some(limit) = opts.memory {
        resources = resources.memory(LinuxMemoryBuilder::default().limit(limit).build().unwrap());
    }
    if let Some((quota, period)) = opts.cpu {
        resources = resources.cpu(
            LinuxCpuBuilder::default()
                .quota(quota)
                .period(period)
                .build()
                .unwrap(),
        );
    }
    if let Some(limit) = opts.pids {
        resources = resources.pids(LinuxPidsBuilder::default().limit(limit).build().unwrap());
    }
    let mut linux = spec.linux().clone().unwrap_or_default();
    linux.set_resources(Some(resources.build().unwrap()));
    spec.set_linux(Some(linux));
    let cdir = env.tmp.path().join("containers").join(id);
    wharf_linux::apply_defaults(&mut spec, id, &env.rootfs, &cdir, &opts.linux)?;
    let bundle = cdir.join("bundle");
    std::fs::create_dir_all(&bundle).unwrap();
    spec.save(bundle.join("config.json")).unwrap();
    Ok(bundle)
}

struct Output {
    exit: wharf_linux::Exit,
    stdout: String,
    stderr: String,
}

fn run_in(env: &Env, id: &str, args: &[&str], opts: &Opts) -> Output {
    let bundle = spec_for(env, id, args, opts).unwrap();
    let _guard = guard(env, id, None);
    let (out_r, out_w) = pipe();
    let (err_r, err_w) = pipe();
    let (o, e) = (reader(out_r), reader(err_r));
    let started = wharf_linux::start(
        &env.state,
        id,
        &bundle,
        Stdio {
            stdin: None,
            stdout: out_w,
            stderr: err_w,
        },
    )
    .unwrap();
    let exit = wharf_linux::wait(&env.state, id, &started).unwrap();
    wharf_linux::delete(&env.state, id, true).unwrap();
    assert_no_cgroup_left(id);
    let out = Output {
        exit,
        stdout: o.join().unwrap(),
        stderr: e.join().unwrap(),
    };
    eprintln!(
        "[{id}] exit={:?}\nstdout:\n{}stderr:\n{}",
        out.exit, out.stdout, out.stderr
    );
    out
}

fn run(args: &[&str], opts: &Opts) -> Output {
    let env = env();
    let id = format!("wt-{}-{}", std::process::id(), rand_suffix());
    run_in(&env, &id, args, opts)
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn assert_no_cgroup_left(id: &str) {
    for entry in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let p = entry.path().join("wharf").join(id);
        assert!(!p.exists(), "cgroup left behind: {}", p.display());
    }
}

/// Deletes the container (and unmounts its overlay) even when a test fails.
struct Guard {
    state: PathBuf,
    id: String,
    overlay: Option<PathBuf>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = wharf_linux::delete(&self.state, &self.id, true);
        if let Some(dir) = &self.overlay {
            let _ = wharf_linux::unmount_overlay(dir);
        }
    }
}

fn guard(env: &Env, id: &str, overlay: Option<&Path>) -> Guard {
    Guard {
        state: env.state.clone(),
        id: id.to_string(),
        overlay: overlay.map(Path::to_path_buf),
    }
}

fn status_field(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

#[test]
fn echo_and_exit_codes() {
    if !usable() {
        return;
    }
    let o = run(&["echo", "hi"], &Opts::default());
    assert_eq!(o.stdout, "hi\n");
    assert_eq!(o.exit.code, 0);
    assert!(!o.exit.oom_killed);
    let o = run(&["sh", "-c", "echo err >&2; exit 3"], &Opts::default());
    assert_eq!(o.exit.code, 3);
    assert_eq!(o.stderr, "err\n");
}

#[test]
fn docker_default_security() {
    if !usable() {
        return;
    }
    let o = run(&["cat", "/proc/self/status"], &Opts::default());
    assert_eq!(status_field(&o.stdout, "CapEff"), "00000000a80425fb");
    assert_eq!(status_field(&o.stdout, "CapBnd"), "00000000a80425fb");
    assert_eq!(status_field(&o.stdout, "Seccomp"), "2");
    assert_eq!(status_field(&o.stdout, "NoNewPrivs"), "0");

    let opts: Opts = LinuxOptions {
        no_new_privileges: true,
        cap_drop: vec!["ALL".into()],
        ..Default::default()
    }
    .into();
    let o = run(&["cat", "/proc/self/status"], &opts);
    assert_eq!(status_field(&o.stdout, "CapEff"), "0000000000000000");
    assert_eq!(status_field(&o.stdout, "NoNewPrivs"), "1");

    let opts: Opts = LinuxOptions {
        seccomp: Seccomp::Unconfined,
        cap_add: vec!["NET_ADMIN".into()],
        ..Default::default()
    }
    .into();
    let o = run(&["cat", "/proc/self/status"], &opts);
    assert_eq!(status_field(&o.stdout, "Seccomp"), "0");
    assert_eq!(status_field(&o.stdout, "CapEff"), "00000000a80435fb");
}

#[test]
fn seccomp_default_allows_fork_and_blocks_namespaces() {
    if !usable() {
        return;
    }
    // Forking (clone without namespace flags) must work; unshare must not.
    let o = run(
        &[
            "sh",
            "-c",
            "(echo child); echo parent; unshare -n true 2>/dev/null || echo denied",
        ],
        &Opts::default(),
    );
    assert_eq!(o.exit.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("child\nparent\n"), "{}", o.stdout);
}

#[test]
fn pid_namespace_hostname_and_network() {
    if !usable() {
        return;
    }
    let opts = Opts {
        hostname: Some("boxy"),
        ..Default::default()
    };
    let o = run(
        &[
            "sh",
            "-c",
            "echo $$; hostname; cat /etc/hostname; cat /etc/hosts; ip link show lo; ls /sys/class/net",
        ],
        &opts,
    );
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines[0], "1");
    assert_eq!(lines[1], "boxy");
    assert_eq!(lines[2], "boxy");
    assert!(o.stdout.contains("127.0.0.1\tboxy"), "{}", o.stdout);
    assert!(
        o.stdout.contains("lo: <LOOPBACK,UP,LOWER_UP>"),
        "lo must be up: {}",
        o.stdout
    );
    assert_eq!(lines.last().unwrap().trim(), "lo");

    let opts: Opts = LinuxOptions {
        network: Network::Host,
        ..Default::default()
    }
    .into();
    let o = run(&["ls", "/sys/class/net"], &opts);
    assert!(o.stdout.split_whitespace().count() >= 1);
}

#[test]
fn masked_and_readonly_paths() {
    if !usable() {
        return;
    }
    // Masked files read as empty (/dev/null bound over them), masked
    // directories as empty (a read-only tmpfs). Some kernels lack /proc/kcore.
    let o = run(
        &[
            "sh",
            "-c",
            "cat /proc/kcore 2>/dev/null | wc -c; cat /proc/keys | wc -c; cat /proc/timer_list | wc -c; \
             echo 1 > /proc/sys/kernel/domainname && echo wrote || echo ro-ok; \
             ls /proc/acpi | wc -l; ls /sys/firmware | wc -l; ls /dev",
        ],
        &Opts::default(),
    );
    let lines: Vec<&str> = o.stdout.lines().map(str::trim).collect();
    assert_eq!(
        lines[..6],
        ["0", "0", "0", "ro-ok", "0", "0"],
        "{}",
        o.stdout
    );
    assert!(o.stderr.contains("Read-only file system"), "{}", o.stderr);
    for dev in [
        "null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm", "mqueue", "fd",
        "stdin", "stdout", "stderr",
    ] {
        assert!(
            o.stdout.lines().any(|l| l == dev),
            "/dev/{dev} missing: {}",
            o.stdout
        );
    }
    let o = run(
        &[
            "sh",
            "-c",
            "echo x > /dev/null && echo null-ok; head -c 4 /dev/urandom | wc -c",
        ],
        &Opts::default(),
    );
    assert_eq!(o.stdout, "null-ok\n4\n");
}

#[test]
fn read_only_rootfs_with_tmpfs() {
    if !usable() {
        return;
    }
    let opts = Opts {
        read_only: true,
        linux: LinuxOptions {
            tmpfs: vec!["/tmp:size=8m,mode=1777".into()],
            ..Default::default()
        },
        ..Default::default()
    };
    let o = run(
        &[
            "sh",
            "-c",
            "touch /data/x 2>/dev/null && echo root-writable || echo root-ro; touch /tmp/x && echo tmp-ok; grep ' /tmp ' /proc/mounts",
        ],
        &opts,
    );
    assert!(o.stdout.contains("root-ro\n"), "{}", o.stdout);
    assert!(o.stdout.contains("tmp-ok\n"), "{}", o.stdout);
    assert!(o.stdout.contains("tmpfs /tmp tmpfs"), "{}", o.stdout);
    assert!(o.stdout.contains("size=8192k"), "{}", o.stdout);
}

#[test]
fn users() {
    if !usable() {
        return;
    }
    let opts: Opts = LinuxOptions {
        user: Some("app".into()),
        ..Default::default()
    }
    .into();
    let o = run(
        &["sh", "-c", "id; echo $HOME; grep CapEff /proc/self/status"],
        &opts,
    );
    assert!(
        o.stdout
            .starts_with("uid=1000(app) gid=1000(app) groups=50(staff),1000(app)")
            || o.stdout.contains("uid=1000"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("groups="), "{}", o.stdout);
    assert!(
        o.stdout.contains("50"),
        "supplementary group missing: {}",
        o.stdout
    );
    assert!(o.stdout.contains("/home/app\n"), "{}", o.stdout);
    assert!(
        o.stdout.contains("0000000000000000"),
        "non-root keeps no caps: {}",
        o.stdout
    );

    let opts: Opts = LinuxOptions {
        user: Some("1000:50".into()),
        ..Default::default()
    }
    .into();
    let o = run(&["id"], &opts);
    assert!(
        o.stdout.contains("uid=1000") && o.stdout.contains("gid=50"),
        "{}",
        o.stdout
    );

    let env = env();
    let opts: Opts = LinuxOptions {
        user: Some("nobody-here".into()),
        ..Default::default()
    }
    .into();
    let err = spec_for(&env, "wt-unknown-user", &["id"], &opts).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("nobody-here") && msg.contains("/etc/passwd"),
        "{msg}"
    );
}

#[test]
fn memory_limit_oom_kills() {
    if !usable() {
        return;
    }
    let opts = Opts {
        memory: Some(32 * 1024 * 1024),
        linux: LinuxOptions {
            seccomp: Seccomp::Default,
            ..Default::default()
        },
        ..Default::default()
    };
    // `sort` keeps its whole (newline-free) input in memory: 100 MB really allocated.
    let o = run(
        &["sh", "-c", "head -c 100000000 /dev/zero | sort > /dev/null"],
        &opts,
    );
    assert_eq!(o.exit.code, 137, "{:?}", o.exit);
    assert!(o.exit.oom_killed, "{:?}", o.exit);
    let o = run(&["sh", "-c", "head -c 1000000 /dev/zero | wc -c"], &opts);
    assert_eq!(o.exit.code, 0);
    assert_eq!(o.stdout.trim(), "1000000");
    assert!(!o.exit.oom_killed);
}

/// Docker's default: the container sees its cgroups read-only, so it can
/// neither lift its own limits nor make cgroups of its own.
#[test]
fn cgroups_are_read_only_inside() {
    if !usable() {
        return;
    }
    let opts = Opts {
        pids: Some(20),
        memory: Some(64 << 20),
        ..Default::default()
    };
    let o = run(
        &[
            "sh",
            "-c",
            "for f in /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids.max /sys/fs/cgroup/memory.max; do [ -e $f ] && (echo 999999999 > $f) 2>/dev/null && echo wrote $f; done; \
             for d in /sys/fs/cgroup/pids /sys/fs/cgroup; do mkdir $d/escape 2>/dev/null && echo made $d/escape; done; \
             cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max 2>/dev/null; echo checked",
        ],
        &opts,
    );
    assert_eq!(o.exit.code, 0, "{}", o.stderr);
    assert!(!o.stdout.contains("wrote"), "{}", o.stdout);
    assert!(!o.stdout.contains("made"), "{}", o.stdout);
    assert!(o.stdout.starts_with("20\n"), "{}", o.stdout);
    assert!(o.stdout.ends_with("checked\n"), "{}", o.stdout);
}

#[test]
fn pids_limit() {
    if !usable() {
        return;
    }
    let opts = Opts {
        pids: Some(20),
        ..Default::default()
    };
    let o = run(
        &[
            "sh",
            "-c",
            "for i in $(seq 1 40); do sleep 5 & done; echo done",
        ],
        &opts,
    );
    assert!(
        o.stderr.contains("Resource temporarily unavailable") || o.stderr.contains("can't fork"),
        "{}",
        o.stderr
    );
}

#[test]
fn cgroup_limits_are_applied() {
    if !usable() {
        return;
    }
    let opts = Opts {
        cpu: Some((50_000, 100_000)),
        memory: Some(64 << 20),
        pids: Some(50),
        ..Default::default()
    };
    let env = env();
    let id = format!("wt-cpu-{}", std::process::id());
    let bundle = spec_for(&env, &id, &["sleep", "30"], &opts).unwrap();
    let _guard = guard(&env, &id, None);
    let (_r, w) = pipe();
    let (_r2, w2) = pipe();
    let started = wharf_linux::start(
        &env.state,
        &id,
        &bundle,
        Stdio {
            stdin: None,
            stdout: w,
            stderr: w2,
        },
    )
    .unwrap();
    let read = |p: String| std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"));
    if wharf_linux::cgroup_layout() == "v2" {
        let dir = format!("/sys/fs/cgroup/wharf/{id}");
        assert_eq!(read(format!("{dir}/cpu.max")).trim(), "50000 100000");
        assert_eq!(read(format!("{dir}/memory.max")).trim(), "67108864");
        assert_eq!(read(format!("{dir}/memory.swap.max")).trim(), "0");
        assert_eq!(read(format!("{dir}/pids.max")).trim(), "50");
    } else {
        let at = |ctrl: &str, file: &str| read(format!("/sys/fs/cgroup/{ctrl}/wharf/{id}/{file}"));
        assert_eq!(at("cpu", "cpu.cfs_quota_us").trim(), "50000");
        assert_eq!(at("cpu", "cpu.cfs_period_us").trim(), "100000");
        assert_eq!(at("memory", "memory.limit_in_bytes").trim(), "67108864");
        assert_eq!(
            at("memory", "memory.memsw.limit_in_bytes").trim(),
            "67108864"
        );
        assert_eq!(at("pids", "pids.max").trim(), "50");
        let procs = at("pids", "cgroup.procs");
        assert!(
            procs.lines().any(|l| l.trim() == started.pid.to_string()),
            "{procs}"
        );
    }
    wharf_linux::kill(&env.state, &id, 9, false).unwrap();
    let exit = wharf_linux::wait(&env.state, &id, &started).unwrap();
    assert_eq!(exit.code, 137);
    wharf_linux::delete(&env.state, &id, false).unwrap();
    assert_no_cgroup_left(&id);
}

#[test]
fn rlimit_nofile_is_clamped() {
    if !usable() {
        return;
    }
    let (_, hard) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    let o = run(&["sh", "-c", "ulimit -n; ulimit -Hn"], &Opts::default());
    assert_eq!(o.exit.code, 0, "{}", o.stderr);
    let want = hard.min(1_048_576).to_string();
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines, vec![want.as_str(), want.as_str()]);
}

#[test]
fn exec_kill_delete() {
    if !usable() {
        return;
    }
    let env = env();
    let id = format!("wt-exec-{}", std::process::id());
    let bundle = spec_for(&env, &id, &["sleep", "30"], &Opts::default()).unwrap();
    let _guard = guard(&env, &id, None);
    let (_r, w) = pipe();
    let (_r2, w2) = pipe();
    let started = wharf_linux::start(
        &env.state,
        &id,
        &bundle,
        Stdio {
            stdin: None,
            stdout: w,
            stderr: w2,
        },
    )
    .unwrap();

    let init_ns: Vec<String> = ["pid", "mnt", "net", "uts", "ipc", "cgroup"]
        .iter()
        .map(|ns| {
            std::fs::read_link(format!("/proc/{}/ns/{ns}", started.pid))
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let (out_r, out_w) = pipe();
    let (err_r, err_w) = pipe();
    let (o, e) = (reader(out_r), reader(err_r));
    let process = ProcessBuilder::default()
        .args(vec!["sh".to_string(), "-c".into(), "ps -o pid,comm; grep CapEff /proc/self/status; for n in pid mnt net uts ipc cgroup; do readlink /proc/self/ns/$n; done; exit 5".into()])
        .env(vec!["PATH=/bin".to_string()])
        .cwd("/")
        .build()
        .unwrap();
    let code = wharf_linux::exec(
        &env.state,
        &id,
        process,
        Stdio {
            stdin: None,
            stdout: out_w,
            stderr: err_w,
        },
    )
    .unwrap();
    let (stdout, stderr) = (o.join().unwrap(), e.join().unwrap());
    eprintln!("exec stdout:\n{stdout}stderr:\n{stderr}");
    assert_eq!(code, 5);
    assert!(
        stdout.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f == ["1", "sleep"]
        }),
        "{stdout}"
    );
    assert!(stdout.contains("00000000a80425fb"), "{stdout}");
    for ns in &init_ns {
        assert!(
            stdout.lines().any(|l| l == ns),
            "exec is not in {ns}: {stdout}"
        );
    }

    // Not stopped yet: a plain delete refuses.
    let err = wharf_linux::delete(&env.state, &id, false).unwrap_err();
    assert!(
        matches!(err, wharf_linux::Error::WrongState { .. }),
        "{err}"
    );

    // pid 1 ignores SIGTERM without a handler (as in Docker); SIGKILL works.
    wharf_linux::kill(&env.state, &id, 9, true).unwrap();
    let exit = wharf_linux::wait(&env.state, &id, &started).unwrap();
    assert_eq!(exit.code, 128 + 9);
    wharf_linux::delete(&env.state, &id, false).unwrap();
    assert_no_cgroup_left(&id);
    assert!(!env.state.join(&id).exists());
    let err = wharf_linux::delete(&env.state, &id, true).unwrap_err();
    assert!(matches!(err, wharf_linux::Error::NotFound { .. }), "{err}");
}

#[test]
fn overlay_rootfs_and_layer() {
    if !usable() {
        return;
    }
    let env = env();
    let cdir = env.tmp.path().join("ovl");
    let id = format!("wt-ovl-{}", std::process::id());
    let _guard = guard(&env, &id, Some(&cdir));
    // Ephemeral, as a build step's: the upper dir is read into a layer.
    let merged = wharf_linux::mount_overlay(&env.rootfs, &cdir, true).unwrap();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let line = mountinfo
        .lines()
        .find(|l| l.contains(merged.to_str().unwrap()))
        .expect("the overlay is in the mount table");
    assert!(line.contains("volatile"), "{line}");
    // Mounting twice is a no-op.
    assert_eq!(
        wharf_linux::mount_overlay(&env.rootfs, &cdir, true).unwrap(),
        merged
    );

    let mut spec = Spec::default();
    let process = ProcessBuilder::default()
        .args(vec![
            "sh".to_string(),
            "-c".into(),
            "echo new > /data/new.txt; rm /data/gone.txt; mkdir -p /opq; rm -rf /data/sub; mkdir /data/sub; touch /data/sub/f; ls /data".into(),
        ])
        .env(vec!["PATH=/bin".to_string()])
        .cwd("/")
        .build()
        .unwrap();
    spec.set_process(Some(process));
    // The container writes to its root (Spec::default() makes it read-only, as `runc spec` does).
    let mut root = spec.root().clone().unwrap_or_default();
    root.set_readonly(Some(false));
    spec.set_root(Some(root));
    // A lower dir that an opaque replacement will hide.
    let sub = cdir.join("bundle");
    wharf_linux::apply_defaults(&mut spec, &id, &merged, &cdir, &LinuxOptions::default()).unwrap();
    std::fs::create_dir_all(&sub).unwrap();
    spec.save(sub.join("config.json")).unwrap();
    let (out_r, out_w) = pipe();
    let (_r2, w2) = pipe();
    let o = reader(out_r);
    let started = wharf_linux::start(
        &env.state,
        &id,
        &sub,
        Stdio {
            stdin: None,
            stdout: out_w,
            stderr: w2,
        },
    )
    .unwrap();
    let exit = wharf_linux::wait(&env.state, &id, &started).unwrap();
    wharf_linux::delete(&env.state, &id, false).unwrap();
    let stdout = o.join().unwrap();
    assert_eq!(exit.code, 0, "{stdout}");
    assert!(
        stdout.contains("new.txt") && !stdout.contains("gone.txt"),
        "{stdout}"
    );

    wharf_linux::unmount_overlay(&cdir).unwrap();
    wharf_linux::unmount_overlay(&cdir).unwrap();
    // The lower snapshot is untouched; the upper has the changes.
    assert!(env.rootfs.join("data/gone.txt").exists());
    assert!(!env.rootfs.join("data/new.txt").exists());
    assert_eq!(
        std::fs::read_to_string(cdir.join("upper/data/new.txt")).unwrap(),
        "new\n"
    );

    let mut tar_bytes = Vec::new();
    wharf_linux::layer_from_upper(&cdir.join("upper"), &mut tar_bytes).unwrap();
    let mut again = Vec::new();
    wharf_linux::layer_from_upper(&cdir.join("upper"), &mut again).unwrap();
    assert_eq!(tar_bytes, again, "layer tar must be deterministic");
    let mut names = Vec::new();
    let mut archive = tar::Archive::new(&tar_bytes[..]);
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        names.push(entry.path().unwrap().to_string_lossy().into_owned());
    }
    eprintln!("{names:?}");
    assert!(
        names.contains(&"data/.wh.gone.txt".to_string()),
        "{names:?}"
    );
    assert!(names.contains(&"data/new.txt".to_string()), "{names:?}");
    assert!(
        names.contains(&"data/sub/.wh..wh..opq".to_string()),
        "{names:?}"
    );
    // Mount points made by the runtime come from the init layer, not the upper.
    assert!(!names.iter().any(|n| n.starts_with("etc/")), "{names:?}");
    assert_eq!(names.first().map(String::as_str), Some("data/"));
}

#[test]
fn layer_from_plain_upper_dir() {
    // No root needed: whiteouts made with mknod need root, so only check files.
    let tmp = tempfile::tempdir().unwrap();
    let up = tmp.path();
    std::fs::create_dir_all(up.join("b/c")).unwrap();
    std::fs::write(up.join("b/c/f"), "x").unwrap();
    std::fs::write(up.join("a"), "y").unwrap();
    std::os::unix::fs::symlink("a", up.join("l")).unwrap();
    std::fs::hard_link(up.join("a"), up.join("h")).unwrap();
    let mut bytes = Vec::new();
    wharf_linux::layer_from_upper(up, &mut bytes).unwrap();
    let mut archive = tar::Archive::new(&bytes[..]);
    let names: Vec<(String, tar::EntryType)> = archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.path().unwrap().to_string_lossy().into_owned(),
                e.header().entry_type(),
            )
        })
        .collect();
    let just: Vec<&str> = names.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(just, ["a", "b/", "b/c/", "b/c/f", "h", "l"]);
    assert_eq!(names[4].1, tar::EntryType::Link);
    assert_eq!(names[5].1, tar::EntryType::Symlink);
}

#[test]
fn cgroup_layout_is_known() {
    let l = wharf_linux::cgroup_layout();
    assert!(["v1", "hybrid", "v2"].contains(&l), "{l}");
}

#[test]
fn tty_gives_a_pty_master() {
    if !usable() {
        return;
    }
    let env = env();
    let id = format!("wt-tty-{}", std::process::id());
    let opts = Opts {
        tty: true,
        ..Default::default()
    };
    let bundle = spec_for(
        &env,
        &id,
        &["sh", "-c", "test -t 1 && echo is-a-tty"],
        &opts,
    )
    .unwrap();
    let _guard = guard(&env, &id, None);
    let (_r, w) = pipe();
    let (_r2, w2) = pipe();
    let started = wharf_linux::start(
        &env.state,
        &id,
        &bundle,
        Stdio {
            stdin: None,
            stdout: w,
            stderr: w2,
        },
    )
    .unwrap();
    let master = started
        .pty_master
        .as_ref()
        .expect("pty master")
        .try_clone()
        .unwrap();
    let exit = wharf_linux::wait(&env.state, &id, &started).unwrap();
    let mut f = std::fs::File::from(master);
    let mut buf = [0u8; 256];
    let n = f.read(&mut buf).unwrap_or(0);
    let out = String::from_utf8_lossy(&buf[..n]).to_string();
    wharf_linux::delete(&env.state, &id, true).unwrap();
    assert_eq!(exit.code, 0);
    assert!(out.contains("is-a-tty"), "{out:?}");
}

/// A 64-hex container id, as the engine makes them.
fn long_id(n: u32) -> String {
    format!("{:0>64x}", std::process::id() * 16 + n)
}

/// What a pty master holds once the process on the other side has exited.
fn read_pty(master: OwnedFd) -> String {
    let mut buf = [0u8; 256];
    let n = std::fs::File::from(master).read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).to_string()
}

/// Nothing is left under the state root but the seccomp cache and the
/// shadow bundles' directory: no container state, no console socket.
fn assert_state_root_clean(state: &Path) {
    let left: Vec<String> = std::fs::read_dir(state)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".seccomp" && n != ".bundles")
        .collect();
    assert!(left.is_empty(), "left under the state root: {left:?}");
}

/// `wharf run -t` as the engine does it: a 64-hex id under a state root
/// longer than a socket address (108 bytes; the engine's
/// `/dev/shm/wharf-<16 hex>.run` with such an id already makes 114). The
/// console socket that receives the pty master must still be usable, and
/// gone afterwards.
#[test]
fn tty_with_a_long_state_root_and_id() {
    if !usable() {
        return;
    }
    let env = env();
    let id = long_id(0);
    let state = env.tmp.path().join("s".repeat(100));
    let opts = Opts {
        tty: true,
        ..Default::default()
    };
    let args = ["sh", "-c", "test -t 0 && test -t 1 && echo is-a-tty"];
    let bundle = spec_for(&env, &id, &args, &opts).unwrap();
    let _guard = Guard {
        state: state.clone(),
        id: id.clone(),
        overlay: None,
    };
    let (_r, w) = pipe();
    let (_r2, w2) = pipe();
    let stdio = Stdio {
        stdin: None,
        stdout: w,
        stderr: w2,
    };
    let started = wharf_linux::start(&state, &id, &bundle, stdio).unwrap();
    let master = started.pty_master.as_ref().expect("pty master");
    let master = master.try_clone().unwrap();
    let exit = wharf_linux::wait(&state, &id, &started).unwrap();
    let out = read_pty(master);
    wharf_linux::delete(&state, &id, true).unwrap();
    assert_eq!(exit.code, 0);
    assert!(out.contains("is-a-tty"), "{out:?}");
    assert_no_cgroup_left(&id);
    assert_state_root_clean(&state);
}

/// runc's way, as `wharf-runtime` drives it: create (the init waits),
/// start, exec with a terminal whose master comes back to us, kill, reap,
/// remove; with a 64-hex id under a state root too long for a socket
/// address.
#[test]
fn create_start_exec_with_tty_kill_remove() {
    if !usable() {
        return;
    }
    let env = env();
    let id = long_id(1);
    let state = env.tmp.path().join("s".repeat(100));
    let bundle = spec_for(&env, &id, &["sleep", "30"], &Opts::default()).unwrap();
    let _guard = Guard {
        state: state.clone(),
        id: id.clone(),
        overlay: None,
    };
    let (bundle, spec) = wharf_linux::load_bundle(&bundle).unwrap();
    let (_r, w) = pipe();
    let (_r2, w2) = pipe();
    let opts = wharf_linux::CreateOptions {
        stdio: Some(Stdio {
            stdin: None,
            stdout: w,
            stderr: w2,
        }),
        ..Default::default()
    };
    let started = wharf_linux::create(&state, &id, &bundle, &spec, opts).unwrap();
    assert!(started.pty_master.is_none());
    let status = |want: &str| {
        let s = wharf_linux::state(&state, &id).unwrap();
        assert_eq!(s.status, want);
        assert_eq!(s.bundle, bundle);
    };
    status("created");
    wharf_linux::start_created(&state, &id).unwrap();
    status("running");

    let args = ["sh", "-c", "test -t 0 && test -t 1 && echo exec-tty"];
    let args = args.iter().map(|a| a.to_string()).collect();
    let process = wharf_linux::exec_defaults(&state, &id, args, vec![], None, None, true).unwrap();
    let opts = wharf_linux::ExecOptions::default();
    let exec = wharf_linux::exec_process(&state, &id, &process, opts).unwrap();
    let master = exec.pty_master.expect("exec pty master");
    assert_eq!(wharf_linux::wait_process(exec.pid).unwrap(), 0);
    let out = read_pty(master);
    assert!(out.contains("exec-tty"), "{out:?}");

    wharf_linux::kill(&state, &id, 9, false).unwrap();
    assert_eq!(wharf_linux::wait_process(started.pid).unwrap(), 137);
    wharf_linux::remove_reaped(&state, &id, &spec).unwrap();
    assert_no_cgroup_left(&id);
    let err = wharf_linux::state(&state, &id).unwrap_err();
    assert!(matches!(err, wharf_linux::Error::NotFound { .. }), "{err}");
    assert_state_root_clean(&state);
}

/// Docker's clone rule allows clone() only without namespace flags: checked
/// with a small static C program (needs gcc with static glibc; else skipped).
#[test]
fn seccomp_clone_rule_blocks_namespace_flags() {
    if !usable() {
        return;
    }
    let env = env();
    let probe = env.rootfs.join("bin/clone_probe");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clone_probe.c");
    let built = std::process::Command::new("gcc")
        .args(["-static", "-O1", "-o"])
        .arg(&probe)
        .arg(&src)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !built {
        eprintln!("skipping: gcc -static unavailable");
        return;
    }
    let id = format!("wt-clone-{}", std::process::id());
    let o = run_in(&env, &id, &["/bin/clone_probe"], &Opts::default());
    assert!(o.stdout.contains("plain clone: ok"), "{}", o.stdout);
    assert!(
        o.stdout.contains("userns clone: Operation not permitted"),
        "{}",
        o.stdout
    );
    let id = format!("wt-clone2-{}", std::process::id());
    let o = run_in(
        &env,
        &id,
        &["/bin/clone_probe"],
        &LinuxOptions {
            seccomp: Seccomp::Unconfined,
            ..Default::default()
        }
        .into(),
    );
    assert!(o.stdout.contains("plain clone: ok"), "{}", o.stdout);
}
