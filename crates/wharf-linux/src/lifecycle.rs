//! A container's life, runc's way: [`create`] sets up the init process
//! (namespaces, cgroups, rootfs, pivot) which then waits; [`start_created`]
//! lets it run the process; [`wait_process`]/[`wait`] reap it; [`kill`]
//! signals it; [`delete`] (or, once reaped, [`remove_reaped`]) removes what
//! is left. [`start`] is create + start in one call, for a container run by
//! the calling process.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use libcontainer::container::{Container, ContainerStatus};
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::container::{init_pid, load, map_lc, prepare_root, runtime_err, validate_id};
use crate::filter_cache::{self, CachedFilter};
use crate::netns::has_new_namespace;
use crate::shadow::{adapt_runc_spec, load_bundle, shadow_dir, shadow_with_filter};
use crate::stdio::{build_receiving_pty, process_builder, ProcessIo};
use crate::{cgroup, Error, Exit, Result, Started, Stdio};

/// What the container's init runs instead of `execve(args[0])`: called in
/// the init process after pivot_root, inside the container's namespaces and
/// cgroups, once the container is started; the returned value is the
/// container's exit code. Anything it needs from the host (compiled code)
/// must be loaded before [`create`], because the init is cloned from the
/// calling process.
pub type Entrypoint = Arc<dyn Fn(&Spec) -> i32>;

#[derive(Clone)]
struct HookExecutor(Entrypoint);

impl Executor for HookExecutor {
    fn exec(&self, spec: &Spec) -> std::result::Result<(), ExecutorError> {
        // The payload starts here, without an exec to close the start
        // connection: tell `start` (and so its poststart hooks) now.
        libcontainer::notify_socket::release_start_connection();
        let code = (self.0)(spec);
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        std::process::exit(code)
    }

    fn validate(&self, _spec: &Spec) -> std::result::Result<(), ExecutorValidationError> {
        Ok(())
    }
}

/// Options of [`create`] (runc's `create` flags).
#[derive(Default)]
pub struct CreateOptions {
    /// Write the init's host pid here.
    pub pid_file: Option<PathBuf>,
    /// Send the pty master here (`process.terminal`); None with a terminal:
    /// the pty master is returned in [`Started::pty_master`].
    pub console_socket: Option<PathBuf>,
    /// Pass fds 3..3+n to the container.
    pub preserve_fds: i32,
    /// Use chroot-like MS_MOVE instead of pivot_root.
    pub no_pivot: bool,
    /// Cgroups through systemd (`cgroupsPath` is `slice:prefix:name`).
    pub systemd_cgroup: bool,
    /// None: the container inherits the caller's fds 0-2. Unused with a
    /// terminal.
    pub stdio: Option<Stdio>,
    /// Run this in the init instead of executing args\[0\].
    pub entrypoint: Option<Entrypoint>,
    /// The spec was written for runc (containerd, `runc spec`): it is
    /// adapted with [`adapt_runc_spec`] first. Leave it false for a spec
    /// made by [`crate::apply_defaults`], which is in libcontainer's reading
    /// already (adapting it would undo its seccomp argument order, and
    /// costs a JSON round trip of the profile on every start).
    pub runc_spec: bool,
    /// The container's init gets SIGKILL when the thread that created it
    /// exits, the process killed too (PR_SET_PDEATHSIG, set in the init
    /// just before it runs the process; as the pid namespace's init, its
    /// death ends every process of the container). For containers that
    /// belong to their caller, as a build's RUN steps do.
    pub die_with_parent: bool,
}

impl std::fmt::Debug for CreateOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateOptions")
            .field("pid_file", &self.pid_file)
            .field("console_socket", &self.console_socket)
            .field("preserve_fds", &self.preserve_fds)
            .field("no_pivot", &self.no_pivot)
            .field("systemd_cgroup", &self.systemd_cgroup)
            .field("entrypoint", &self.entrypoint.is_some())
            .field("die_with_parent", &self.die_with_parent)
            .field("runc_spec", &self.runc_spec)
            .finish_non_exhaustive()
    }
}

/// Creates the container `id` from the bundle (runc `create`): the init
/// process is set up (namespaces, cgroups, rootfs, pivot; the vendored
/// libcontainer brings a new network namespace's loopback up) and waits
/// for [`start_created`]. `spec` is what
/// `bundle/config.json` holds, with root.path absolute (as [`load_bundle`]
/// returns it): libcontainer reads that file, or a shadow copy under the
/// state root when the spec must change on the way (a runc spec adapted, a
/// cached seccomp filter taken out).
/// With `process.terminal` and no console socket, the pty master is
/// returned in [`Started::pty_master`]. On failure nothing is left under
/// the state root.
pub fn create(
    state_root: &Path,
    id: &str,
    bundle: &Path,
    spec: &Spec,
    opts: CreateOptions,
) -> Result<Started> {
    create_container(state_root, id, bundle, spec.clone(), opts).map(|(_, started)| started)
}

/// [`create`] with a spec of its own to adapt, keeping libcontainer's
/// handle on the container for [`start`].
fn create_container(
    state_root: &Path,
    id: &str,
    bundle: &Path,
    mut spec: Spec,
    opts: CreateOptions,
) -> Result<(Container, Started)> {
    validate_id(id)?;
    let state_root = prepare_root(state_root)?;
    if state_root.join(id).exists() {
        return Err(Error::AlreadyExists {
            id: id.to_string(),
            root: state_root,
        });
    }
    let adapted = opts.runc_spec && adapt_runc_spec(&mut spec);
    let (shadow, filter) = shadow_with_filter(&state_root, id, &mut spec, adapted)?;
    let result = build_init(
        &state_root,
        id,
        bundle,
        &spec,
        shadow.as_deref(),
        filter,
        opts,
    );
    if result.is_err() {
        discard(&state_root, id);
    }
    result
}

/// Has libcontainer make the init process; see [`create`].
fn build_init(
    state_root: &Path,
    id: &str,
    bundle: &Path,
    spec: &Spec,
    shadow: Option<&Path>,
    filter: Option<CachedFilter>,
    opts: CreateOptions,
) -> Result<(Container, Started)> {
    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    let io = ProcessIo {
        pid_file: opts.pid_file,
        console_socket: opts.console_socket,
        preserve_fds: opts.preserve_fds,
        stdio: opts.stdio,
    };
    let (builder, own_console) = process_builder(state_root, id, "create", terminal, io)?;
    let hook = opts
        .entrypoint
        .map(|ep| Box::new(HookExecutor(ep)) as Box<dyn Executor>);
    let (container, pty_master) = build_receiving_pty(own_console, || {
        let mut init = builder
            .with_executor(filter_cache::executor(filter, hook, opts.die_with_parent))
            .as_init(bundle);
        // libcontainer reads the adapted spec, while its state and hooks
        // (prestart's "bundle" included) keep the real bundle.
        if let Some(shadow) = shadow {
            init = init.with_config_from(shadow);
        }
        init.with_systemd(opts.systemd_cgroup)
            .with_detach(true)
            .with_no_pivot(opts.no_pivot)
            .build()
            .map_err(map_lc("create", id))
    })?;
    let pid = init_pid(&container, "create", id)?;
    Ok((container, Started { pid, pty_master }))
}

/// Removes what a failed create or start left under the state root: the
/// half-made container (its init is killed), its cgroups, its state and
/// the shadow bundle.
fn discard(state_root: &Path, id: &str) {
    if let Ok(mut c) = Container::load(state_root.join(id)) {
        let _ = c.delete(true);
    }
    let _ = std::fs::remove_dir_all(state_root.join(id));
    let _ = std::fs::remove_dir_all(shadow_dir(state_root, id));
}

/// A container made by [`create_held`] whose init waits to be started, with
/// libcontainer's handle on it, so that [`Created::start`] re-reads nothing:
/// the create-then-start of a process that owns its container (`wharf run`).
pub struct Created {
    container: Container,
    state_root: PathBuf,
    id: String,
    started: Started,
}

impl Created {
    /// Host pid of the container's init (waiting until started).
    pub fn pid(&self) -> i32 {
        self.started.pid
    }

    /// Starts the container's process (runc `start`). On failure nothing
    /// is left under the state root.
    pub fn start(mut self) -> Result<Started> {
        if let Err(e) = start_loaded(&mut self.container, &self.id) {
            drop(self.container);
            discard(&self.state_root, &self.id);
            return Err(e);
        }
        Ok(self.started)
    }
}

/// [`create`], keeping the container's handle for [`Created::start`].
pub fn create_held(
    state_root: &Path,
    id: &str,
    bundle: &Path,
    spec: Spec,
    opts: CreateOptions,
) -> Result<Created> {
    let (container, started) = create_container(state_root, id, bundle, spec, opts)?;
    Ok(Created {
        container,
        state_root: state_root.to_path_buf(),
        id: id.to_string(),
        started,
    })
}

/// Starts a created container (runc `start`): its init runs the process.
pub fn start_created(state_root: &Path, id: &str) -> Result<()> {
    let mut c = load(state_root, id)?;
    start_loaded(&mut c, id)
}

fn start_loaded(c: &mut Container, id: &str) -> Result<()> {
    let hint = match c.status() {
        ContainerStatus::Created => return c.start().map_err(map_lc("start", id)),
        ContainerStatus::Stopped => "cannot start a container that has stopped",
        ContainerStatus::Running => "cannot start an already running container",
        _ => "only a created container can be started",
    };
    Err(Error::WrongState {
        id: id.to_string(),
        state: crate::container::status_name(c.status()).into(),
        hint: hint.into(),
    })
}

/// Creates and starts the container `id` from `bundle` (a directory with a
/// config.json written by [`crate::apply_defaults`], whose root.path may be
/// relative to it): [`create`] with `stdio`, then [`start_created`]. Its
/// state lives under `state_root/<id>`. With `process.terminal` set, a pty
/// is allocated and its master returned in [`Started::pty_master`] (stdio
/// is then unused). On failure nothing is left under the state root.
pub fn start(state_root: &Path, id: &str, bundle: &Path, stdio: Stdio) -> Result<Started> {
    let (bundle, spec) = load_bundle(bundle)?;
    let opts = CreateOptions {
        stdio: Some(stdio),
        ..CreateOptions::default()
    };
    create_held(state_root, id, &bundle, spec, opts)?.start()
}

/// Waits for a process started by [`create`]+[`start_created`] or
/// [`crate::exec_process`] in this process; its exit code (128 + signal).
pub fn wait_process(pid: i32) -> Result<i32> {
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
    let code = wait_process(started.pid)?;
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
    let code = wait_process(started.pid)?;
    let oom_killed = cgroup::oom_killed(cgroups_path);
    remove_reaped_unchecked(state_root, id, cgroups_path)?;
    Ok(Exit { code, oom_killed })
}

/// Removes a container whose init this process has reaped (a foreground
/// `run`) the way [`wait_and_remove`] does Wharf's own: its empty cgroups,
/// its state and the shadow bundle, without libcontainer's generic delete,
/// which re-reads the state, re-checks the dead init and rediscovers every
/// cgroup mount through procfs. That is sound only when the spec gives the
/// container its own pid namespace (the kernel killed everything in it with
/// the init), has no poststop hooks (which only delete runs) and the
/// cgroups are plain directories (not systemd's); otherwise this is
/// [`delete`] with force.
pub fn remove_reaped(state_root: &Path, id: &str, spec: &Spec) -> Result<()> {
    let poststop = spec
        .hooks()
        .as_ref()
        .and_then(|h| h.poststop().as_ref())
        .is_some_and(|p| !p.is_empty());
    let own_pids = has_new_namespace(spec, LinuxNamespaceType::Pid);
    let c = load(state_root, id)?;
    if poststop || !own_pids || c.systemd() {
        return delete(state_root, id, true);
    }
    let cgroups_path = c.spec().map_err(map_lc("delete", id))?.cgroup_path;
    remove_reaped_unchecked(state_root, id, &cgroups_path)
}

/// The removal half of [`wait_and_remove`]: empty cgroups, libcontainer's
/// state, the shadow bundle. The caller vouches that the container's init
/// was reaped and that the spec gave it its own pid namespace.
fn remove_reaped_unchecked(state_root: &Path, id: &str, cgroups_path: &Path) -> Result<()> {
    remove_cgroup_dirs(cgroups_path);
    let dir = state_root.join(id);
    // A concurrent `kill` may be rewriting state.json (libcontainer records
    // "stopped" after signalling), which makes one pass fail with ENOTEMPTY.
    let mut attempts = 0;
    loop {
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => break,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
            Err(_) if attempts < 20 => {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => return Err(Error::io("removing", &dir, e)),
        }
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

/// Sends `signal` (runc `kill`): to the init, or with `all` to every process
/// of the container's cgroup. A stopped container is an error unless `all`.
pub fn kill(state_root: &Path, id: &str, signal: i32, all: bool) -> Result<()> {
    let mut c = load(state_root, id)?;
    let before = c.status();
    if !all && before == ContainerStatus::Stopped {
        return Err(Error::WrongState {
            id: id.to_string(),
            state: "stopped".into(),
            hint: "container not running".into(),
        });
    }
    let sig = libcontainer::signal::Signal::try_from(signal)
        .map_err(|_| Error::invalid("signal", signal.to_string(), "not a valid signal number"))?;
    if let Err(e) = c.kill(sig, all) {
        // libcontainer records "stopped" after signalling; when that fails
        // because the container's state is gone, the signal was delivered
        // and whoever reaped the container (a foreground `run`) removed it
        // meanwhile: the kill did what it was asked.
        if !state_root.join(id).join("state.json").exists() {
            return Ok(());
        }
        return Err(map_lc("kill", id)(e));
    }
    // libcontainer records "stopped" after any signal; a container that
    // survives a harmless one keeps its state.
    if matches!(before, ContainerStatus::Created | ContainerStatus::Paused) {
        let alive = c.pid().is_some_and(|p| {
            // SAFETY: signal 0 only checks that the process exists.
            (unsafe { libc::kill(p.as_raw(), 0) }) == 0 && !is_zombie(p.as_raw())
        });
        if alive {
            let _ = c.set_status(before).save();
        }
    }
    Ok(())
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, r)| r.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

/// Deletes the container (runc `delete`): a created one is killed, a
/// running or paused one only with `force`. Removes its cgroups, its state
/// directory and the shadow bundle.
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
