//! `wharf exec`: a new process in a running container, through the
//! container's executor (Linux containers join the namespaces and cgroup of
//! the running container; a Wasm guest has no processes to add).

use oci_spec::runtime::Spec;

use crate::executor::ExecIo;
use crate::{spec, Engine, Error, Result};

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
        let executor = self.executor_of(&c)?;
        if !c.is_running() {
            return Err(Error::Conflict(format!(
                "container {} is not running; start it with wharf start {}",
                c.state.name, c.state.name
            )));
        }
        if c.state.paused {
            // A process joining a frozen cgroup would be frozen too.
            return Err(Error::Conflict(format!(
                "container {} is paused; unpause it (wharf unpause {}) before exec",
                c.state.name, c.state.name
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
        let io = ExecIo {
            user: o.user.clone(),
            interactive: o.interactive,
            tty: o.tty,
        };
        executor.exec(self, c.bundle(), &spec, process, io)
    }
}
