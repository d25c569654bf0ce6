//! Another process in a running container (runc `exec`, `docker exec`):
//! it joins the container's namespaces and cgroup as a child of the caller.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use libcontainer::container::{Container, ContainerStatus};
use oci_spec::runtime::{Process, Spec};

use crate::container::{load, map_lc, prepare_root, require_status};
use crate::lifecycle::wait_process;
use crate::stdio::{build_receiving_pty, process_builder, ProcessIo};
use crate::{Error, Result, Started, Stdio};

/// Options of [`exec_process`] (runc `exec` flags): all about the
/// process's I/O.
pub type ExecOptions = ProcessIo;

/// The spec of the container's bundle (the real one, not the shadow).
fn bundle_spec(c: &Container) -> Result<Spec> {
    let config = c.bundle().join("config.json");
    Spec::load(&config).map_err(|e| Error::Spec(format!("{}: {e}", config.display())))
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
    let spec = bundle_spec(&load(state_root, id)?)?;
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
    spawn(&state_root, &c, id, process.clone(), opts)
}

/// Runs `process` inside the running container `id` (its namespaces and
/// cgroup), like `docker exec`, and returns its exit code (128 + signal when
/// killed): [`exec_process`] with `stdio`, then [`wait_process`].
/// Capabilities, no_new_privileges, rlimits and the AppArmor profile are the
/// container's own; args, env, cwd, user and terminal come from `process`.
/// Not yet: a terminal (use [`exec_process`]), and the container's seccomp
/// filter (libcontainer 0.7 does not apply it to exec'd processes).
pub fn exec(state_root: &Path, id: &str, mut process: Process, stdio: Stdio) -> Result<i32> {
    if process.terminal().unwrap_or(false) {
        return Err(Error::invalid(
            "exec process",
            "terminal: true",
            "exec with a terminal is not supported yet; run without a tty",
        ));
    }
    let state_root = prepare_root(state_root)?;
    let c = load(&state_root, id)?;
    if let Some(init) = bundle_spec(&c)?.process() {
        process.set_capabilities(init.capabilities().clone());
        process.set_no_new_privileges(init.no_new_privileges());
        process.set_rlimits(init.rlimits().clone());
        process.set_apparmor_profile(init.apparmor_profile().clone());
    }
    let opts = ExecOptions {
        stdio: Some(stdio),
        ..ExecOptions::default()
    };
    let started = spawn(&state_root, &c, id, process, opts)?;
    wait_process(started.pid)
}

/// [`exec_process`] on the loaded container `c`; `state_root` is canonical.
fn spawn(
    state_root: &Path,
    c: &Container,
    id: &str,
    mut process: Process,
    opts: ExecOptions,
) -> Result<Started> {
    require_status(
        c,
        id,
        ContainerStatus::Running,
        "cannot exec in a container that is not running",
    )?;
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(Error::Spec("exec: process.args must not be empty".into()));
    }
    if !process.cwd().is_absolute() {
        process.set_cwd(PathBuf::from("/"));
    }
    // As for a runc spec (see `adapt_runc_spec`).
    if process.no_new_privileges() == Some(false) {
        process.set_no_new_privileges(None);
    }
    let json = write_exec_process(state_root, id, &process)?;
    let terminal = process.terminal().unwrap_or(false);
    let result = (|| {
        let (builder, own_console) = process_builder(state_root, id, "exec in", terminal, opts)?;
        let (pid, pty_master) = build_receiving_pty(own_console, || {
            builder
                .as_tenant()
                .with_detach(terminal)
                .with_process(Some(&json))
                .build()
                .map_err(map_lc("exec in", id))
        })?;
        Ok(Started {
            pid: pid.as_raw(),
            pty_master,
        })
    })();
    let _ = std::fs::remove_file(&json);
    result
}

/// Writes `process` where libcontainer's tenant builder (exec) reads it:
/// a file of its own in the container's state directory, which the caller
/// removes once the process is started.
fn write_exec_process(state_root: &Path, id: &str, process: &Process) -> Result<PathBuf> {
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
