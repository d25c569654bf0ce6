//! runc-style operations for an OCI runtime (`wharf-runtime`): a container is
//! created from a bundle by one process and started, signalled, inspected,
//! paused, updated and deleted by later ones, all through the state kept
//! under a state root (`--root`).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use libcgroups::common::{CgroupManager, ControllerOpt};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::{Container, ContainerStatus};
use libcontainer::error::LibcontainerError;
use libcontainer::syscall::syscall::SyscallType;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use oci_spec::runtime::{LinuxNamespaceType, LinuxResources, Process, Spec};
use serde::Serialize;

use crate::filter_cache::{self, CachedFilter};
use crate::runtime::{
    chain, dev_zero_for_writing, has_new_netns, init_pid, is_dev_null, load, loopback_up,
    prepare_root, receive_pty, runtime_err, wait_pid, with_stdio, write_exec_process,
};
use crate::{Error, Result, Started, Stdio};

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
    /// None: the container inherits the caller's fds 0-2.
    pub stdio: Option<Stdio>,
    /// Run this in the init instead of executing args\[0\].
    pub entrypoint: Option<Entrypoint>,
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
            .finish_non_exhaustive()
    }
}

/// runc's rule for container ids.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "container id",
            id,
            "use only letters, digits, '_', '+', '-' and '.'",
        ))
    }
}

/// Reads `bundle/config.json` and checks what `create` needs: a process with
/// args and an existing root. Returns the canonical bundle path and the spec
/// with `root.path` made absolute.
pub fn load_bundle(bundle: &Path) -> Result<(PathBuf, Spec)> {
    let dir = std::fs::canonicalize(bundle).map_err(|e| Error::io("opening bundle", bundle, e))?;
    let config = dir.join("config.json");
    let text = std::fs::read(&config).map_err(|e| Error::io("reading", &config, e))?;
    let mut spec: Spec = serde_json::from_slice(&text)
        .map_err(|e| Error::Spec(format!("{}: {e}", config.display())))?;
    if !spec.version().starts_with("1.") {
        return Err(Error::Spec(format!(
            "{}: unsupported ociVersion {:?} (1.x expected)",
            config.display(),
            spec.version()
        )));
    }
    let args_ok = spec
        .process()
        .as_ref()
        .and_then(|p| p.args().as_ref())
        .is_some_and(|a| !a.is_empty());
    if !args_ok {
        return Err(Error::Spec(format!(
            "{}: process.args must not be empty",
            config.display()
        )));
    }
    let mut root = spec
        .root()
        .clone()
        .ok_or_else(|| Error::Spec(format!("{}: root must be set", config.display())))?;
    let path = dir.join(root.path());
    if !path.is_dir() {
        return Err(Error::Spec(format!(
            "{}: root.path {} is not a directory",
            config.display(),
            path.display()
        )));
    }
    root.set_path(path);
    spec.set_root(Some(root));
    Ok((dir, spec))
}

/// Adapts a spec written for runc to libcontainer 0.7's reading of it:
/// `noNewPrivileges: false` is dropped (libcontainer would load seccomp after
/// dropping CAP_SYS_ADMIN) and `SCMP_CMP_MASKED_EQ` arguments are swapped
/// (runc: `value` is the mask, `valueTwo` the datum; libcontainer reads them
/// the other way round). Returns whether anything changed.
pub fn adapt_runc_spec(spec: &mut Spec) -> bool {
    let mut changed = false;
    if let Some(p) = spec.process_mut() {
        if p.no_new_privileges() == Some(false) {
            p.set_no_new_privileges(None);
            changed = true;
        }
    }
    if let Some(seccomp) = spec
        .linux_mut()
        .as_mut()
        .and_then(|l| l.seccomp_mut().as_mut())
    {
        // oci-spec has no setters for the argument values: edit as JSON.
        let mut value = serde_json::to_value(&*seccomp).unwrap_or_default();
        for sc in value["syscalls"].as_array_mut().into_iter().flatten() {
            for arg in sc["args"].as_array_mut().into_iter().flatten() {
                if arg["op"] == "SCMP_CMP_MASKED_EQ" {
                    let v = arg["value"].take();
                    let v2 = arg["valueTwo"].take();
                    arg["value"] = if v2.is_null() { 0.into() } else { v2 };
                    arg["valueTwo"] = v;
                    changed = true;
                }
            }
        }
        if changed {
            if let Ok(s) = serde_json::from_value(value) {
                *seccomp = s;
            }
        }
    }
    changed
}

/// Where a container's adapted copy of its bundle's config.json lives (see
/// [`adapt_runc_spec`] and the filter cache); removed with the container.
pub(crate) fn shadow_dir(state_root: &Path, id: &str) -> PathBuf {
    state_root.join(".bundles").join(id)
}

/// Writes `spec` (whose root.path must be absolute) as the container's
/// shadow bundle, for libcontainer to read instead of the real one.
fn write_shadow(state_root: &Path, id: &str, spec: &Spec) -> Result<PathBuf> {
    let dir = shadow_dir(state_root, id);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("creating", &dir, e))?;
    let text = serde_json::to_vec(spec).map_err(|e| Error::Spec(e.to_string()))?;
    std::fs::write(dir.join("config.json"), text)
        .map_err(|e| Error::io("writing", dir.join("config.json"), e))?;
    Ok(dir)
}

/// Takes the spec's seccomp filter from the cache when it can (see
/// [`filter_cache::take`]) and, when that or an earlier adaptation
/// (`adapted`) changed the spec, writes the shadow bundle libcontainer must
/// read instead of the real one. `spec`'s root.path must be absolute.
pub(crate) fn shadow_with_filter(
    state_root: &Path,
    id: &str,
    spec: &mut Spec,
    adapted: bool,
) -> Result<(Option<PathBuf>, Option<CachedFilter>)> {
    let filter = filter_cache::take(spec, &state_root.join(".seccomp"));
    let shadow = if adapted || filter.is_some() {
        Some(write_shadow(state_root, id, spec)?)
    } else {
        None
    };
    Ok((shadow, filter))
}

fn map_lc<'a>(action: &'static str, id: &'a str) -> impl Fn(LibcontainerError) -> Error + 'a {
    move |e| match e {
        LibcontainerError::InvalidInput(msg) => Error::Runtime {
            action,
            id: id.to_string(),
            message: msg,
        },
        LibcontainerError::IncorrectStatus(s) => wrong_state(id, s, action),
        e => runtime_err(action, id)(e),
    }
}

fn status_name(s: ContainerStatus) -> &'static str {
    match s {
        ContainerStatus::Creating => "creating",
        ContainerStatus::Created => "created",
        ContainerStatus::Running => "running",
        ContainerStatus::Stopped => "stopped",
        ContainerStatus::Paused => "paused",
    }
}

fn wrong_state(id: &str, s: ContainerStatus, action: &str) -> Error {
    Error::WrongState {
        id: id.to_string(),
        state: status_name(s).into(),
        hint: format!("cannot {action} it in this state"),
    }
}

/// With no explicit stdio the container inherits this process's fds 1 and
/// 2: move them off /dev/null for the reason given at `with_stdio`.
fn stdio_off_dev_null() {
    for fd in [1, 2] {
        if is_dev_null(fd) {
            if let Ok(zero) = dev_zero_for_writing() {
                // SAFETY: dup2 onto a stdio descriptor of this process.
                unsafe { libc::dup2(zero.as_raw_fd(), fd) };
            }
        }
    }
}

/// Sets up the container's terminal and stdio on `builder`: the caller's
/// console socket, or one of ours at `own_socket` (whose listener is
/// returned, to receive the pty master) when a terminal is wanted and the
/// caller gave none.
fn console_and_stdio(
    mut builder: ContainerBuilder,
    terminal: bool,
    console_socket: Option<&PathBuf>,
    own_socket: PathBuf,
    stdio: Option<Stdio>,
) -> Result<(ContainerBuilder, Option<(UnixListener, PathBuf)>)> {
    let own_console = if terminal && console_socket.is_none() {
        let _ = std::fs::remove_file(&own_socket);
        let listener = UnixListener::bind(&own_socket)
            .map_err(|e| Error::io("creating console socket", &own_socket, e))?;
        builder = builder.with_console_socket(Some(&own_socket));
        Some((listener, own_socket))
    } else {
        builder = builder.with_console_socket(console_socket);
        None
    };
    let builder = match stdio {
        Some(stdio) => with_stdio(builder, stdio)?,
        None => {
            stdio_off_dev_null();
            builder
        }
    };
    Ok((builder, own_console))
}

/// Creates the container `id` from the bundle (runc `create`): the init
/// process is set up (namespaces, cgroups, rootfs, pivot) and waits for
/// [`start_created`]. `spec` is the bundle's spec from [`load_bundle`]. On
/// failure nothing is left under the state root.
pub fn create(
    state_root: &Path,
    id: &str,
    bundle: &Path,
    spec: &Spec,
    opts: CreateOptions,
) -> Result<Started> {
    validate_id(id)?;
    let state_root = prepare_root(state_root)?;
    if state_root.join(id).exists() {
        return Err(Error::AlreadyExists {
            id: id.to_string(),
            root: state_root,
        });
    }
    let mut adapted = spec.clone();
    let changed = adapt_runc_spec(&mut adapted);
    let (shadow, filter) = shadow_with_filter(&state_root, id, &mut adapted, changed)?;
    let result = create_inner(
        &state_root,
        id,
        bundle,
        spec,
        shadow.as_deref(),
        filter,
        opts,
    );
    if result.is_err() {
        // Nothing left behind: the half-made container, its cgroups, the shadow bundle.
        if let Ok(mut c) = Container::load(state_root.join(id)) {
            let _ = c.delete(true);
        }
        let _ = std::fs::remove_dir_all(state_root.join(id));
        if let Some(dir) = &shadow {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    result
}

fn create_inner(
    state_root: &Path,
    id: &str,
    bundle: &Path,
    spec: &Spec,
    shadow: Option<&Path>,
    filter: Option<CachedFilter>,
    opts: CreateOptions,
) -> Result<Started> {
    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    let mut builder = ContainerBuilder::new(id.to_string(), SyscallType::default())
        .with_root_path(state_root)
        .map_err(map_lc("create", id))?
        .with_pid_file(opts.pid_file.as_ref())
        .map_err(map_lc("create", id))?
        .with_preserved_fds(opts.preserve_fds);
    let hook = opts
        .entrypoint
        .clone()
        .map(|ep| Box::new(HookExecutor(ep)) as Box<dyn Executor>);
    builder = builder.with_executor(filter_cache::executor(filter, hook));
    let (builder, own_console) = console_and_stdio(
        builder,
        terminal,
        opts.console_socket.as_ref(),
        state_root.join(format!(".{id}.console.sock")),
        opts.stdio,
    )?;
    let built = builder
        .as_init(shadow.unwrap_or(bundle))
        .with_systemd(opts.systemd_cgroup)
        .with_detach(true)
        .with_no_pivot(opts.no_pivot)
        .build();
    let pty = match &own_console {
        Some((listener, path)) => {
            let r = if built.is_ok() {
                Some(receive_pty(listener))
            } else {
                None
            };
            let _ = std::fs::remove_file(path);
            r
        }
        None => None,
    };
    let mut container = built.map_err(map_lc("create", id))?;
    let pty_master = pty.transpose()?;
    if shadow.is_some() {
        container.state.bundle = bundle.to_path_buf();
        container.save().map_err(map_lc("create", id))?;
    }
    let pid = init_pid(&container, "create", id)?;
    if has_new_netns(spec) {
        loopback_up(pid).map_err(|e| {
            Error::io(
                "bringing up loopback in the network namespace of",
                format!("pid {pid}"),
                e,
            )
        })?;
    }
    Ok(Started { pid, pty_master })
}

/// Starts a created container (runc `start`): its init runs the process.
pub fn start_created(state_root: &Path, id: &str) -> Result<()> {
    let mut c = load(state_root, id)?;
    if c.status() != ContainerStatus::Created {
        let hint = match c.status() {
            ContainerStatus::Stopped => "cannot start a container that has stopped",
            ContainerStatus::Running => "cannot start an already running container",
            _ => "only a created container can be started",
        };
        return Err(Error::WrongState {
            id: id.to_string(),
            state: status_name(c.status()).into(),
            hint: hint.into(),
        });
    }
    c.start().map_err(map_lc("start", id))
}

/// A container's state in runc's `state` shape.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ContainerState {
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<HashMap<String, String>>,
}

fn describe(c: &Container) -> ContainerState {
    let status = c.status();
    let rootfs = std::fs::read(c.bundle().join("config.json"))
        .ok()
        .and_then(|t| serde_json::from_slice::<serde_json::Value>(&t).ok())
        .and_then(|v| v["root"]["path"].as_str().map(|p| c.bundle().join(p)))
        .unwrap_or_default();
    let created = c
        .created()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
        .unwrap_or_default();
    ContainerState {
        oci_version: oci_spec::runtime::VERSION.to_string(),
        id: c.id().to_string(),
        pid: match status {
            ContainerStatus::Stopped => 0,
            _ => c.pid().map(|p| p.as_raw()).unwrap_or(0),
        },
        status: status_name(status).into(),
        bundle: c.bundle().clone(),
        rootfs,
        created,
        owner: String::new(),
        annotations: c.state.annotations.clone().filter(|a| !a.is_empty()),
    }
}

/// The container's state (runc `state`).
pub fn state(state_root: &Path, id: &str) -> Result<ContainerState> {
    Ok(describe(&load(state_root, id)?))
}

/// All containers under the state root (runc `list`), sorted by id.
pub fn list(state_root: &Path) -> Result<Vec<ContainerState>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(state_root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io("listing", state_root, e)),
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if let Ok(c) = load(state_root, &name) {
            out.push(describe(&c));
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// Sends `signal` (runc `kill`): to the init, or with `all` to every process
/// of the container's cgroup. A stopped container is an error unless `all`.
pub fn signal(state_root: &Path, id: &str, signal: i32, all: bool) -> Result<()> {
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
    c.kill(sig, all).map_err(map_lc("kill", id))?;
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
/// running or paused one only with `force`. Also removes the shadow bundle.
pub fn remove(state_root: &Path, id: &str, force: bool) -> Result<()> {
    crate::runtime::delete(state_root, id, force)?;
    let _ = std::fs::remove_dir_all(shadow_dir(state_root, id));
    Ok(())
}

/// Removes a container whose init this process has reaped (a foreground
/// `run`) the way [`crate::wait_and_remove`] does Wharf's own: its empty
/// cgroups, its state and the shadow bundle, without libcontainer's generic
/// delete, which re-reads the state, re-checks the dead init and rediscovers
/// every cgroup mount through procfs. That is sound only when the spec gives
/// the container its own pid namespace (the kernel killed everything in it
/// with the init), has no poststop hooks (which only delete runs) and the
/// cgroups are plain directories (not systemd's); otherwise this is
/// [`remove`].
pub fn remove_reaped(state_root: &Path, id: &str, spec: &Spec) -> Result<()> {
    let poststop = spec
        .hooks()
        .as_ref()
        .and_then(|h| h.poststop().as_ref())
        .is_some_and(|p| !p.is_empty());
    let own_pids = crate::runtime::has_new_namespace(spec, LinuxNamespaceType::Pid);
    let c = load(state_root, id)?;
    if poststop || !own_pids || c.systemd() {
        return remove(state_root, id, true);
    }
    let cgroups_path = c.spec().map_err(map_lc("delete", id))?.cgroup_path;
    crate::runtime::remove_reaped_unchecked(state_root, id, &cgroups_path)
}

fn cgroup_manager(
    state_root: &Path,
    id: &str,
) -> Result<(Container, libcgroups::common::AnyCgroupManager)> {
    let c = load(state_root, id)?;
    let config = c.spec().map_err(map_lc("load", id))?;
    let manager = libcgroups::common::create_cgroup_manager(libcgroups::common::CgroupConfig {
        cgroup_path: config.cgroup_path,
        systemd_cgroup: c.systemd(),
        container_name: id.to_string(),
    })
    .map_err(|e| Error::Runtime {
        action: "open cgroups of",
        id: id.to_string(),
        message: chain(&e),
    })?;
    Ok((c, manager))
}

/// Host pids of the container's processes (runc `ps`), sorted.
pub fn pids(state_root: &Path, id: &str) -> Result<Vec<i32>> {
    let (_, manager) = cgroup_manager(state_root, id)?;
    let mut pids: Vec<i32> = manager
        .get_all_pids()
        .map_err(|e| Error::Runtime {
            action: "list processes of",
            id: id.to_string(),
            message: chain(&e),
        })?
        .into_iter()
        .map(|p| p.as_raw())
        .collect();
    pids.sort_unstable();
    Ok(pids)
}

/// Freezes the container's processes (runc `pause`).
pub fn pause(state_root: &Path, id: &str) -> Result<()> {
    let mut c = load(state_root, id)?;
    if c.status() != ContainerStatus::Running {
        return Err(Error::WrongState {
            id: id.to_string(),
            state: status_name(c.status()).into(),
            hint: "container not running".into(),
        });
    }
    c.pause().map_err(map_lc("pause", id))
}

/// Thaws a paused container (runc `resume`).
pub fn resume(state_root: &Path, id: &str) -> Result<()> {
    let mut c = load(state_root, id)?;
    if c.status() != ContainerStatus::Paused {
        return Err(Error::WrongState {
            id: id.to_string(),
            state: status_name(c.status()).into(),
            hint: "container not paused".into(),
        });
    }
    c.resume().map_err(map_lc("resume", id))
}

/// Applies new cgroup limits to a created, running or paused container
/// (runc `update`).
pub fn update(state_root: &Path, id: &str, resources: &LinuxResources) -> Result<()> {
    let (c, manager) = cgroup_manager(state_root, id)?;
    if c.status() == ContainerStatus::Stopped {
        return Err(wrong_state(id, c.status(), "update"));
    }
    manager
        .apply(&ControllerOpt {
            resources,
            disable_oom_killer: false,
            oom_score_adj: None,
            freezer_state: None,
        })
        .map_err(|e| Error::Runtime {
            action: "update",
            id: id.to_string(),
            message: chain(&e),
        })
}

/// Options of [`exec_process`] (runc `exec` flags).
#[derive(Debug, Default)]
pub struct ExecOptions {
    pub pid_file: Option<PathBuf>,
    /// Where to send the pty master (`process.terminal`); None with a
    /// terminal: it is returned in [`Started::pty_master`].
    pub console_socket: Option<PathBuf>,
    pub preserve_fds: i32,
    /// None: the process inherits the caller's fds 0-2.
    pub stdio: Option<Stdio>,
}

/// A process for `exec` from its args and overrides, with the container's
/// own env, capabilities, no_new_privileges, rlimits and AppArmor profile
/// (what runc's inline `exec` form does).
pub fn exec_defaults(
    state_root: &Path,
    id: &str,
    args: Vec<String>,
    env: Vec<String>,
    cwd: Option<PathBuf>,
    user: Option<(u32, u32)>,
    terminal: bool,
) -> Result<Process> {
    let c = load(state_root, id)?;
    let config = c.bundle().join("config.json");
    let spec =
        Spec::load(&config).map_err(|e| Error::Spec(format!("{}: {e}", config.display())))?;
    let mut p = spec.process().clone().unwrap_or_default();
    p.set_args(Some(args));
    let mut all_env = p.env().clone().unwrap_or_default();
    for kv in env {
        let key = kv.split('=').next().unwrap_or("").to_string();
        all_env.retain(|e| e.split('=').next() != Some(key.as_str()));
        all_env.push(kv);
    }
    p.set_env(Some(all_env));
    if let Some(cwd) = cwd {
        p.set_cwd(cwd);
    }
    if let Some((uid, gid)) = user {
        let mut u = p.user().clone();
        u.set_uid(uid);
        u.set_gid(gid);
        p.set_user(u);
    }
    p.set_terminal(Some(terminal));
    p.set_console_size(None);
    Ok(p)
}

/// Runs `process` in the running container `id` (runc `exec`) and returns
/// its host pid (and the pty master when it has a terminal and no console
/// socket was given). The process is a child of the caller: wait for it with
/// [`wait_process`], or leave it to a subreaper.
pub fn exec_process(
    state_root: &Path,
    id: &str,
    process: &Process,
    opts: ExecOptions,
) -> Result<Started> {
    let state_root = prepare_root(state_root)?;
    let c = load(&state_root, id)?;
    if c.status() != ContainerStatus::Running {
        return Err(Error::WrongState {
            id: id.to_string(),
            state: status_name(c.status()).into(),
            hint: "cannot exec in a container that is not running".into(),
        });
    }
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(Error::Spec("exec: process.args must not be empty".into()));
    }
    let mut process = process.clone();
    if !process.cwd().is_absolute() {
        process.set_cwd(PathBuf::from("/"));
    }
    if process.no_new_privileges() == Some(false) {
        process.set_no_new_privileges(None);
    }
    let json = write_exec_process(&state_root, id, &process)?;
    let terminal = process.terminal().unwrap_or(false);
    let result = (|| {
        let builder = ContainerBuilder::new(id.to_string(), SyscallType::default())
            .with_root_path(&state_root)
            .map_err(map_lc("exec in", id))?
            .with_pid_file(opts.pid_file.as_ref())
            .map_err(map_lc("exec in", id))?
            .with_preserved_fds(opts.preserve_fds);
        let (builder, own_console) = console_and_stdio(
            builder,
            terminal,
            opts.console_socket.as_ref(),
            state_root.join(format!(".{id}.exec{}.sock", std::process::id())),
            opts.stdio,
        )?;
        let tenant = builder
            .as_tenant()
            .with_detach(terminal)
            .with_process(Some(&json));
        // The tenant's init connects to the console socket before build()
        // returns, so the pty is received on a helper thread.
        let receiver = own_console
            .map(|(listener, path)| (std::thread::spawn(move || receive_pty(&listener)), path));
        let built = tenant.build().map_err(map_lc("exec in", id));
        let pty_master = match receiver {
            Some((thread, path)) => {
                let r =
                    if built.is_ok() {
                        Some(thread.join().unwrap_or_else(|_| {
                            Err(Error::Spec("console receiver panicked".into()))
                        }))
                    } else {
                        // Unblock the accept() so the thread ends.
                        let _ = std::os::unix::net::UnixStream::connect(&path);
                        let _ = thread.join();
                        None
                    };
                let _ = std::fs::remove_file(&path);
                r.transpose()?
            }
            None => None,
        };
        Ok(Started {
            pid: built?.as_raw(),
            pty_master,
        })
    })();
    let _ = std::fs::remove_file(&json);
    result
}

/// Waits for a process started by [`create`]+[`start_created`] or
/// [`exec_process`] in this process; its exit code (128 + signal).
pub fn wait_process(pid: i32) -> Result<i32> {
    wait_pid(pid)
}

/// Copies between this process's stdio and a pty master until the pty's
/// other side is closed (foreground `run`/`exec` with a terminal). The
/// caller's terminal is put in raw mode meanwhile.
pub fn proxy_terminal(master: OwnedFd) {
    use nix::sys::termios;
    let stdin = std::io::stdin();
    let saved = termios::tcgetattr(&stdin).ok();
    if let Some(t) = &saved {
        let mut raw = t.clone();
        termios::cfmakeraw(&mut raw);
        let _ = termios::tcsetattr(&stdin, termios::SetArg::TCSANOW, &raw);
    }
    if let Ok(ws) = nix_winsize(0) {
        // SAFETY: TIOCSWINSZ with a valid winsize on our pty master.
        unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    }
    let mut input = std::fs::File::from(master.try_clone().expect("dup pty master"));
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut stdin = std::io::stdin();
        while let Ok(n) = stdin.read(&mut buf) {
            if n == 0 || input.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
    let mut output = std::fs::File::from(master);
    let mut buf = [0u8; 4096];
    let mut stdout = std::io::stdout();
    while let Ok(n) = output.read(&mut buf) {
        if n == 0 || stdout.write_all(&buf[..n]).is_err() {
            break;
        }
        let _ = stdout.flush();
    }
    if let Some(t) = &saved {
        let _ = termios::tcsetattr(&stdin, termios::SetArg::TCSANOW, t);
    }
}

fn nix_winsize(fd: i32) -> std::io::Result<libc::winsize> {
    // SAFETY: TIOCGWINSZ fills a winsize we own.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(ws)
    }
}

/// A signal by name (`KILL`, `SIGKILL`, `kill`) or number (`9`).
pub fn parse_signal(s: &str) -> Result<i32> {
    let bad = || {
        Error::invalid(
            "signal",
            s,
            "use a name such as TERM or SIGKILL, or a number such as 9",
        )
    };
    if let Ok(n) = s.parse::<i32>() {
        let max = libc::SIGRTMAX();
        return if n > 0 && n <= max { Ok(n) } else { Err(bad()) };
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<nix::sys::signal::Signal>()
        .map(|s| s as i32)
        .map_err(|_| bad())
}

/// The runtime-spec `features` document of this runtime.
pub fn features() -> serde_json::Value {
    use serde_json::json;
    let caps: Vec<&str> = crate::caps::ALL.to_vec();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": oci_spec::runtime::VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": [
            "async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec",
            "iversion", "lazytime", "loud", "mand", "noatime", "nodev", "nodiratime", "noexec",
            "noiversion", "nolazytime", "nomand", "norelatime", "nostrictatime", "nosuid",
            "nosymfollow", "private", "ratime", "rbind", "rdev", "rdiratime", "relatime",
            "remount", "rexec", "rnoatime", "rnodev", "rnodiratime", "rnoexec", "rnorelatime",
            "rnostrictatime", "rnosuid", "rnosymfollow", "ro", "rprivate", "rrelatime", "rro",
            "rrw", "rshared", "rslave", "rstrictatime", "rsuid", "rsymfollow", "runbindable",
            "rw", "shared", "silent", "slave", "strictatime", "suid", "symfollow", "sync",
            "tmpcopyup", "unbindable"
        ],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts", "time"],
            "capabilities": caps,
            "cgroup": { "v1": true, "v2": true, "systemd": true, "systemdUser": false, "rdma": false },
            "seccomp": {
                "enabled": true,
                "actions": [
                    "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                    "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE",
                    "SCMP_ACT_TRAP"
                ],
                "operators": [
                    "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                    "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"
                ],
                "archs": [
                    "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", "SCMP_ARCH_X32", "SCMP_ARCH_X86",
                    "SCMP_ARCH_X86_64"
                ],
                "knownFlags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"],
                "supportedFlags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"]
            },
            "apparmor": { "enabled": true },
            "selinux": { "enabled": false },
            "intelRdt": { "enabled": false },
            "mountExtensions": { "idmap": { "enabled": false } }
        },
        "annotations": {
            "run.oci.handler": "wasm",
            "org.opencontainers.wharf.wasm": "wasi-preview1,wasi-preview2",
            "org.opencontainers.wharf.version": env!("CARGO_PKG_VERSION")
        }
    })
}

/// runc's default `config.json` (`runc spec`): a `sh` with a terminal in
/// a `rootfs` directory, the usual namespaces, mounts and masked paths.
pub fn default_spec() -> Spec {
    let mut spec = Spec::default();
    if let Some(p) = spec.process_mut() {
        p.set_terminal(Some(true));
    }
    spec.set_hostname(Some("wharf".into()));
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runc_specs_are_adapted_for_libcontainer() {
        let mut spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": { "path": "rootfs" },
            "process": { "cwd": "/", "args": ["sh"], "user": { "uid": 0, "gid": 0 }, "noNewPrivileges": false },
            "linux": { "seccomp": { "defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
                { "names": ["clone"], "action": "SCMP_ACT_ALLOW",
                  "args": [{ "index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ" }] },
                { "names": ["personality"], "action": "SCMP_ACT_ALLOW",
                  "args": [{ "index": 0, "value": 8, "op": "SCMP_CMP_EQ" }] }
            ] } }
        }))
        .unwrap();
        assert!(adapt_runc_spec(&mut spec));
        assert_eq!(spec.process().as_ref().unwrap().no_new_privileges(), None);
        let v = serde_json::to_value(&spec).unwrap();
        let clone = &v["linux"]["seccomp"]["syscalls"][0]["args"][0];
        assert_eq!(clone["value"], 0);
        assert_eq!(clone["valueTwo"], 2114060288u64);
        let pers = &v["linux"]["seccomp"]["syscalls"][1]["args"][0];
        assert_eq!(pers["value"], 8);
        // Nothing to do the second time round? No: the swap is not idempotent,
        // so callers adapt a fresh copy of the bundle's spec each time.
        let mut plain = default_spec();
        assert!(!adapt_runc_spec(&mut plain));
    }

    #[test]
    fn signals_by_name_and_number() {
        assert_eq!(parse_signal("KILL").unwrap(), 9);
        assert_eq!(parse_signal("SIGTERM").unwrap(), 15);
        assert_eq!(parse_signal("hup").unwrap(), 1);
        assert_eq!(parse_signal("10").unwrap(), 10);
        for bad in ["0", "-1", "999", "SIGNOPE", ""] {
            assert!(parse_signal(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_follow_runc() {
        assert!(validate_id("abc-1.2_x+y").is_ok());
        for bad in ["", ".", "..", "a/b", "a b"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }
}
