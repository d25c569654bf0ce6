//! `wharf pause`/`unpause`: a running container's processes frozen in
//! place and thawed, by its executor (Linux: the cgroup freezer; Wasm:
//! SIGSTOP/SIGCONT of the process the guest runs in). The record says
//! `paused` (still running, as in Docker). `stop`, `kill -s KILL` and
//! `rm -f` thaw a paused container before signalling it, so it acts on
//! the signal at once (see `lifecycle.rs`'s `signal`).

use crate::container::Container;
use crate::{monitor, Engine, Error, Result};

impl Engine {
    pub fn pause(&self, key: &str) -> Result<()> {
        let mut c = self.container(key)?;
        if !c.is_running() {
            return Err(Error::Conflict(format!(
                "container {key} is not running; only a running container can be paused"
            )));
        }
        if c.state.paused {
            return Err(Error::Conflict(format!(
                "container {key} is already paused; wharf unpause {key} resumes it"
            )));
        }
        let executor = self.executor_of(&c)?;
        if executor.runs_in_owner() && !is_monitor(c.state.pid) {
            // SIGSTOP of a foreground command gives its terminal back to
            // the shell, which then sees a stopped job, not a paused one.
            return Err(Error::Unsupported(format!(
                "container {key} runs inside a foreground `wharf run` (pid {}), which pausing would stop in its terminal; run it detached (run -d) to pause it",
                c.state.pid
            )));
        }
        executor.freeze(self, c.bundle(), c.state.pid, true)?;
        c.state.paused = true;
        c.save()?;
        self.container_event(&c, "pause", []);
        Ok(())
    }

    pub fn unpause(&self, key: &str) -> Result<()> {
        let c = self.container(key)?;
        if !c.is_running() || !c.state.paused {
            return Err(Error::Conflict(format!("container {key} is not paused")));
        }
        self.thaw(c)
    }

    /// Thaws a paused container and records it running again.
    pub(crate) fn thaw(&self, mut c: Container) -> Result<()> {
        self.executor_of(&c)?
            .freeze(self, c.bundle(), c.state.pid, false)?;
        c.state.paused = false;
        c.save()?;
        self.container_event(&c, "unpause", []);
        Ok(())
    }
}

/// Whether `pid` is a detached container's monitor (`wharf __monitor ID`).
fn is_monitor(pid: i32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
        cmdline
            .split(|b| *b == 0)
            .any(|arg| arg == monitor::MONITOR_COMMAND.as_bytes())
    })
}
