//! `wharf exec`: a new process in a running Linux container, joining its
//! namespaces and cgroup.

use oci_spec::runtime::{Spec, UserBuilder};

use crate::{linux_exec, spec, tty, Engine, Error, Kind, Result};

#[derive(Debug, Default, Clone)]
pub struct ExecOptions {
    pub container: String,
    pub args: Vec<String>,
    pub interactive: bool,
    pub tty: bool,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
}

impl Engine {
    pub fn exec(&self, o: &ExecOptions) -> Result<i32> {
        let c = self.containers.find(&o.container)?;
        if c.state.kind == Kind::Wasm {
            return Err(Error::Unsupported(format!(
                "{} is a Wasm container: it is a single guest with no processes or OS to exec into; exec works on Linux containers",
                c.state.name
            )));
        }
        if !c.is_running() {
            return Err(Error::Conflict(format!(
                "container {} is not running; start a new one with wharf run",
                c.state.name
            )));
        }
        if let Some(w) = o.workdir.as_deref().filter(|w| !w.starts_with('/')) {
            return Err(Error::InvalidArgument(format!(
                "the working directory \"{w}\" must be an absolute path"
            )));
        }
        let spec = Spec::load(c.config_path()).map_err(|e| {
            Error::Corrupt(format!(
                "container {} has an unreadable config.json: {e}",
                c.state.name
            ))
        })?;
        let mut process = spec
            .process()
            .clone()
            .ok_or_else(|| Error::Corrupt("the container's spec has no process".into()))?;
        process.set_args(Some(o.args.clone()));
        process.set_env(Some(spec::merge_env(
            process.env().clone().unwrap_or_default(),
            &o.env,
        )?));
        if let Some(w) = &o.workdir {
            process.set_cwd(w.into());
        }
        if let Some(u) = &o.user {
            let rootfs = spec
                .root()
                .as_ref()
                .map(|r| r.path().clone())
                .unwrap_or_default();
            let r = wharf_linux::resolve_user(&rootfs, Some(u))?;
            let user = UserBuilder::default()
                .uid(r.uid)
                .gid(r.gid)
                .additional_gids(r.additional_gids)
                .build()
                .map_err(|e| Error::InvalidArgument(format!("user {u}: {e}")))?;
            process.set_user(user);
        }
        process.set_terminal(Some(false));
        let state_root = linux_exec::state_root(&self.root);
        if !o.tty {
            let stdio = linux_exec::inherit_stdio(o.interactive)?;
            return Ok(wharf_linux::exec(&state_root, c.id(), process, stdio)?);
        }
        // A pty made here: the process gets its slave side as stdio.
        let pty =
            nix::pty::openpty(None, None).map_err(|e| Error::io("allocating a pty", e.into()))?;
        let dup = |what| pty.slave.try_clone().map_err(|e| Error::io(what, e));
        let stdio = wharf_linux::Stdio {
            stdin: Some(dup("pty")?),
            stdout: dup("pty")?,
            stderr: dup("pty")?,
        };
        drop(pty.slave);
        let _raw = tty::RawMode::enter();
        let output = tty::pump(pty.master, o.interactive)
            .map_err(|e| Error::io("attaching the terminal", e))?;
        let code = wharf_linux::exec(&state_root, c.id(), process, stdio)?;
        let _ = output.join();
        Ok(code)
    }
}
