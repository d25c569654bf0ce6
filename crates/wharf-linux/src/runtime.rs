//! Container lifecycle on top of libcontainer.

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::{Container, ContainerStatus};
use libcontainer::syscall::syscall::SyscallType;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use oci_spec::runtime::{Process, Spec};

use crate::bundle::{shadow_dir, shadow_with_filter};
use crate::filter_cache;
use crate::{cgroup, Error, Exit, Result, Started, Stdio};

/// Error text with its whole `source()` chain.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

pub(crate) fn runtime_err<'a>(
    action: &'static str,
    id: &'a str,
) -> impl Fn(libcontainer::error::LibcontainerError) -> Error + 'a {
    move |e| Error::Runtime {
        action,
        id: id.to_string(),
        message: chain(&e),
    }
}

/// Duplicates `fd` above stdio with close-on-exec, so neither libcontainer's
/// `dup2(fd, n); close(fd)` nor a concurrent fork elsewhere can clobber it.
pub(crate) fn dup_high(fd: &impl AsRawFd) -> Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC on a valid fd returns a new fd we own.
    let n = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if n < 0 {
        return Err(Error::io(
            "duplicating stdio descriptor",
            format!("fd {}", fd.as_raw_fd()),
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: `n` is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(n) })
}

pub(crate) fn dev_null() -> Result<OwnedFd> {
    std::fs::File::open("/dev/null")
        .map(OwnedFd::from)
        .map_err(|e| Error::io("opening", "/dev/null", e))
}

/// Whether `fd` is the host's /dev/null.
pub(crate) fn is_dev_null(fd: RawFd) -> bool {
    let Ok(null) = nix::sys::stat::stat("/dev/null") else {
        return false;
    };
    // SAFETY: fstat fills a stat buffer we own.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstat(fd, &mut st) == 0
            && st.st_mode & libc::S_IFMT == libc::S_IFCHR
            && st.st_rdev == null.st_rdev
    }
}

/// /dev/zero opened for writing: it discards writes like /dev/null.
pub(crate) fn dev_zero_for_writing() -> Result<OwnedFd> {
    std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/zero")
        .map(OwnedFd::from)
        .map_err(|e| Error::io("opening", "/dev/zero", e))
}

/// An output descriptor for the container. libcontainer 0.7 re-opens one
/// that points at the host's /dev/null as the container's /dev/null
/// read-only, and the container's writes then fail; /dev/zero discards
/// writes the same way and is left alone.
fn container_output(fd: &OwnedFd) -> Result<OwnedFd> {
    if is_dev_null(fd.as_raw_fd()) {
        dup_high(&dev_zero_for_writing()?)
    } else {
        dup_high(fd)
    }
}

pub(crate) fn with_stdio(b: ContainerBuilder, stdio: Stdio) -> Result<ContainerBuilder> {
    let stdin = match stdio.stdin {
        Some(fd) => dup_high(&fd)?,
        None => dup_high(&dev_null()?)?,
    };
    Ok(b.with_stdin(stdin)
        .with_stdout(container_output(&stdio.stdout)?)
        .with_stderr(container_output(&stdio.stderr)?))
}

/// The host pid of a container's init, which libcontainer records once it
/// has created it.
pub(crate) fn init_pid(container: &Container, action: &'static str, id: &str) -> Result<i32> {
    container
        .pid()
        .map(|p| p.as_raw())
        .ok_or_else(|| Error::Runtime {
            action,
            id: id.to_string(),
            message: "libcontainer recorded no init pid".into(),
        })
}

pub(crate) fn prepare_root(state_root: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(state_root)
        .map_err(|e| Error::io("creating state directory", state_root, e))?;
    std::fs::canonicalize(state_root)
        .map_err(|e| Error::io("opening state directory", state_root, e))
}

pub(crate) fn load(state_root: &Path, id: &str) -> Result<Container> {
    let dir = state_root.join(id);
    if id.is_empty() || id.contains('/') || !dir.join("state.json").exists() {
        return Err(Error::NotFound {
            id: id.to_string(),
            root: state_root.to_path_buf(),
        });
    }
    // libcontainer rewrites state.json in place (truncate, then write), so a
    // command running concurrently (`kill` while `run` deletes) can read it
    // half-written; such a read succeeds a moment later.
    let mut attempts = 0;
    loop {
        match Container::load(dir.clone()) {
            Ok(c) => return Ok(c),
            Err(_) if attempts < 50 => {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => return Err(runtime_err("loading", id)(e)),
        }
    }
}

/// Receives the pty master the container's init sends over the console socket.
pub(crate) fn receive_pty(listener: &UnixListener) -> Result<OwnedFd> {
    let (conn, _) = listener
        .accept()
        .map_err(|e| Error::io("accepting console socket", "console socket", e))?;
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = nix::sys::socket::recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        nix::sys::socket::MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|e| Error::io("receiving pty from", "console socket", e.into()))?;
    for c in msg
        .cmsgs()
        .map_err(|e| Error::io("receiving pty from", "console socket", e.into()))?
    {
        if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = c {
            if let Some(&fd) = fds.first() {
                // SAFETY: SCM_RIGHTS just installed this descriptor for us.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    Err(Error::io(
        "receiving pty from",
        "console socket",
        std::io::Error::other("the container sent no terminal descriptor"),
    ))
}

/// Brings the loopback interface of `pid`'s network namespace up (a new
/// network namespace starts with `lo` down; Docker's `none` network has it up).
pub(crate) fn loopback_up(pid: i32) -> std::io::Result<()> {
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/net"))?;
    // setns(CLONE_NEWNET) only moves the calling thread: use a throwaway one.
    std::thread::spawn(move || -> std::io::Result<()> {
        let err = std::io::Error::last_os_error;
        // SAFETY: plain syscalls on descriptors we own and a zeroed ifreq.
        unsafe {
            if libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
                return Err(err());
            }
            let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
            if s < 0 {
                return Err(err());
            }
            let sock = OwnedFd::from_raw_fd(s);
            let mut req: libc::ifreq = std::mem::zeroed();
            for (i, b) in b"lo".iter().enumerate() {
                req.ifr_name[i] = *b as libc::c_char;
            }
            if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut req) < 0 {
                return Err(err());
            }
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS as _, &req) < 0 {
                return Err(err());
            }
        }
        Ok(())
    })
    .join()
    .unwrap_or_else(|_| Err(std::io::Error::other("loopback setup thread panicked")))
}

pub(crate) fn has_new_netns(spec: &Spec) -> bool {
    has_new_namespace(spec, oci_spec::runtime::LinuxNamespaceType::Network)
}

/// Does the spec make a namespace of type `typ` of its own (not join one)?
pub(crate) fn has_new_namespace(spec: &Spec, typ: oci_spec::runtime::LinuxNamespaceType) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == typ && n.path().is_none()))
}

/// Creates and starts the container `id` from `bundle` (a directory with a
/// config.json whose root.path points at the rootfs); its state lives under
/// `state_root/<id>`. With `process.terminal` set, a pty is allocated and its
/// master returned in [`Started::pty_master`] (stdio is then unused).
pub fn start(state_root: &Path, id: &str, bundle: &Path, stdio: Stdio) -> Result<Started> {
    let state_root = prepare_root(state_root)?;
    if state_root.join(id).exists() {
        return Err(Error::AlreadyExists {
            id: id.to_string(),
            root: state_root,
        });
    }
    let bundle =
        std::fs::canonicalize(bundle).map_err(|e| Error::io("opening bundle", bundle, e))?;
    let config = bundle.join("config.json");
    let mut spec =
        Spec::load(&config).map_err(|e| Error::Spec(format!("{}: {e}", config.display())))?;
    // The seccomp filter, when it can come from the cache, leaves the spec:
    // libcontainer then reads a shadow copy of it.
    if let Some(root) = spec.root_mut() {
        root.set_path(bundle.join(root.path()));
    }
    let (shadow, filter) = shadow_with_filter(&state_root, id, &mut spec, false)?;
    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);

    let mut builder = ContainerBuilder::new(id.to_string(), SyscallType::default())
        .with_root_path(&state_root)
        .map_err(runtime_err("creating", id))?
        .validate_id()
        .map_err(runtime_err("creating", id))?;
    let console = if terminal {
        let path = state_root.join(format!(".{id}.console.sock"));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)
            .map_err(|e| Error::io("creating console socket", &path, e))?;
        builder = builder.with_console_socket(Some(&path));
        Some((listener, path))
    } else {
        builder = with_stdio(builder, stdio)?;
        None
    };
    builder = builder.with_executor(filter_cache::executor(filter, None));
    let built = builder
        .as_init(shadow.as_deref().unwrap_or(&bundle))
        .with_systemd(false)
        .with_detach(true)
        .build();
    let pty = match &console {
        Some((listener, path)) if built.is_ok() => {
            let r = receive_pty(listener);
            let _ = std::fs::remove_file(path);
            Some(r)
        }
        Some((_, path)) => {
            let _ = std::fs::remove_file(path);
            None
        }
        None => None,
    };
    if built.is_err() {
        if let Some(dir) = &shadow {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    let mut container = built.map_err(runtime_err("creating", id))?;
    let cleanup = |mut c: Container| {
        let _ = c.delete(true);
        let _ = std::fs::remove_dir_all(shadow_dir(&state_root, id));
    };
    if shadow.is_some() {
        // Later readers (exec, state) see the real bundle, as with create.
        container.state.bundle = bundle.clone();
        if let Err(e) = container.save() {
            let err = runtime_err("creating", id)(e);
            cleanup(container);
            return Err(err);
        }
    }
    let pty_master = match pty {
        Some(Ok(fd)) => Some(fd),
        Some(Err(e)) => {
            cleanup(container);
            return Err(e);
        }
        None => None,
    };
    if has_new_netns(&spec) {
        if let Some(pid) = container.pid() {
            if let Err(e) = loopback_up(pid.as_raw()) {
                cleanup(container);
                return Err(Error::io(
                    "bringing up loopback in the network namespace of",
                    format!("pid {pid}"),
                    e,
                ));
            }
        }
    }
    if let Err(e) = container.start() {
        let err = runtime_err("starting", id)(e);
        cleanup(container);
        return Err(err);
    }
    let pid = init_pid(&container, "starting", id)?;
    Ok(Started { pid, pty_master })
}

pub(crate) fn wait_pid(pid: i32) -> Result<i32> {
    loop {
        match waitpid(Pid::from_raw(pid), None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(nix::errno::Errno::ECHILD) => return Err(Error::NotOurChild { pid }),
            Err(e) => return Err(Error::io("waiting for", format!("pid {pid}"), e.into())),
        }
    }
}

fn cgroup_path(state_root: &Path, id: &str) -> PathBuf {
    load(state_root, id)
        .ok()
        .and_then(|c| c.spec().ok())
        .map(|s| s.cgroup_path)
        .unwrap_or_else(|| PathBuf::from(format!("/wharf/{id}")))
}

/// Waits for the container's init process to exit (must be called by the
/// process that called [`start`]) and reports whether the OOM killer struck.
pub fn wait(state_root: &Path, id: &str, started: &Started) -> Result<Exit> {
    let code = wait_pid(started.pid)?;
    let oom_killed = cgroup::oom_killed(&cgroup_path(state_root, id));
    if let Ok(mut c) = load(state_root, id) {
        if c.refresh_status().is_ok() {
            let _ = c.set_status(ContainerStatus::Stopped).save();
        }
    }
    Ok(Exit { code, oom_killed })
}

/// [`wait`], then removes the container: its cgroups, libcontainer's state
/// and the shadow bundle; the end of a container run by this process. It
/// does not go through libcontainer's generic delete, which would re-read
/// the state, re-check the (dead) init and rediscover every cgroup mount
/// through procfs: some 700 system calls at the end of every `run --rm`.
/// That is sound because the spec gives the container its own pid
/// namespace: once its init is reaped the kernel has killed every process
/// in it, so only empty cgroups remain. A spec with poststop hooks must use
/// [`delete`], which runs them.
pub fn wait_and_remove(
    state_root: &Path,
    id: &str,
    started: &Started,
    cgroups_path: &Path,
) -> Result<Exit> {
    let code = wait_pid(started.pid)?;
    let oom_killed = cgroup::oom_killed(cgroups_path);
    remove_reaped_unchecked(state_root, id, cgroups_path)?;
    Ok(Exit { code, oom_killed })
}

/// The removal half of [`wait_and_remove`]: empty cgroups, libcontainer's
/// state, the shadow bundle. The caller vouches that the container's init
/// was reaped and that the spec gave it its own pid namespace.
pub(crate) fn remove_reaped_unchecked(
    state_root: &Path,
    id: &str,
    cgroups_path: &Path,
) -> Result<()> {
    remove_cgroup_dirs(cgroups_path);
    let dir = state_root.join(id);
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("removing", &dir, e)),
    }
    let _ = std::fs::remove_dir_all(shadow_dir(state_root, id));
    Ok(())
}

/// Removes the container's (empty) cgroup directories on every hierarchy,
/// waiting out the moment the kernel still counts exiting tasks.
fn remove_cgroup_dirs(cgroups_path: &Path) {
    for dir in cgroup::cgroup_dirs(cgroups_path) {
        for _ in 0..50 {
            match std::fs::remove_dir(&dir) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        }
    }
}

/// Sends `signal` to the container's init (or, with `all`, to every process
/// in its cgroup).
pub fn kill(state_root: &Path, id: &str, signal: i32, all: bool) -> Result<()> {
    let mut c = load(state_root, id)?;
    let sig = libcontainer::signal::Signal::try_from(signal)
        .map_err(|_| Error::invalid("signal", signal.to_string(), "not a valid signal number"))?;
    c.kill(sig, all).map_err(|e| match e {
        libcontainer::error::LibcontainerError::IncorrectStatus(s) => Error::WrongState {
            id: id.to_string(),
            state: format!("{s:?}").to_lowercase(),
            hint: "only a running container can be signalled".into(),
        },
        e => runtime_err("signalling", id)(e),
    })
}

/// Deletes the container: with `force` a running one is killed first.
/// Removes its cgroups and its state directory.
pub fn delete(state_root: &Path, id: &str, force: bool) -> Result<()> {
    let mut c = load(state_root, id)?;
    let path = c
        .spec()
        .map(|s| s.cgroup_path)
        .unwrap_or_else(|_| PathBuf::from(format!("/wharf/{id}")));
    c.delete(force).map_err(|e| match e {
        libcontainer::error::LibcontainerError::IncorrectStatus(s) => Error::WrongState {
            id: id.to_string(),
            state: format!("{s:?}").to_lowercase(),
            hint: "stop it first or delete with force".into(),
        },
        e => runtime_err("deleting", id)(e),
    })?;
    let _ = std::fs::remove_dir_all(shadow_dir(state_root, id));
    // Controllers libcontainer does not manage (e.g. the named systemd
    // hierarchy) may still hold an empty directory: remove it.
    remove_cgroup_dirs(&path);
    Ok(())
}

/// Writes `process` where libcontainer's tenant builder (exec) reads it:
/// a file of its own in the container's state directory, which the caller
/// removes once the process is started.
pub(crate) fn write_exec_process(
    state_root: &Path,
    id: &str,
    process: &Process,
) -> Result<PathBuf> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let json = state_root.join(id).join(format!(
        "exec-{}-{}.json",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let text = serde_json::to_vec(process).map_err(|e| Error::Spec(e.to_string()))?;
    std::fs::write(&json, text).map_err(|e| Error::io("writing", &json, e))?;
    Ok(json)
}

/// Runs `process` inside the running container `id` (its namespaces and
/// cgroup), like `runc exec`, and returns its exit code (128 + signal when
/// killed). Capabilities, no_new_privileges, rlimits and the AppArmor profile
/// are the container's own; args, env, cwd, user and terminal come from
/// `process`. Not yet: a terminal, and the container's seccomp filter (libcontainer
/// 0.7 does not apply it to exec'd processes).
pub fn exec(state_root: &Path, id: &str, mut process: Process, stdio: Stdio) -> Result<i32> {
    let state_root = prepare_root(state_root)?;
    let mut c = load(&state_root, id)?;
    c.refresh_status().map_err(runtime_err("loading", id))?;
    if c.status() != ContainerStatus::Running {
        return Err(Error::WrongState {
            id: id.to_string(),
            state: format!("{:?}", c.status()).to_lowercase(),
            hint: "exec needs a running container".into(),
        });
    }
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(Error::Spec("exec: process.args is empty".into()));
    }
    if process.terminal().unwrap_or(false) {
        return Err(Error::invalid(
            "exec process",
            "terminal: true",
            "exec with a terminal is not supported yet; run without a tty",
        ));
    }
    // Like `docker exec`, the process gets the container's capabilities,
    // no_new_privileges, rlimits and AppArmor profile; args, env, cwd, user
    // and terminal come from the caller.
    let config = c.bundle().join("config.json");
    let spec =
        Spec::load(&config).map_err(|e| Error::Spec(format!("{}: {e}", config.display())))?;
    if let Some(init) = spec.process() {
        process.set_capabilities(init.capabilities().clone());
        process.set_no_new_privileges(init.no_new_privileges());
        process.set_rlimits(init.rlimits().clone());
        process.set_apparmor_profile(init.apparmor_profile().clone());
    }
    if !process.cwd().is_absolute() {
        process.set_cwd(PathBuf::from("/"));
    }

    let json = write_exec_process(&state_root, id, &process)?;

    let builder = ContainerBuilder::new(id.to_string(), SyscallType::default())
        .with_root_path(&state_root)
        .map_err(runtime_err("exec in", id))?;
    let built = with_stdio(builder, stdio).and_then(|b| {
        b.validate_id()
            .map_err(runtime_err("exec in", id))?
            .as_tenant()
            .with_detach(false)
            .with_process(Some(&json))
            .build()
            .map_err(runtime_err("exec in", id))
    });
    let _ = std::fs::remove_file(&json);
    wait_pid(built?.as_raw())
}
