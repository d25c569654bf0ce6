//! Starting a made container again and again: `wharf start`, `restart`,
//! `wait`, `rename`. A container is made once (`create`, or the first half
//! of `run`: record, name, networks, spec, bundle) and started from that
//! record by the same path its monitor uses for a restart policy: the
//! executor's `rearm` gives back what the last exit released, the networks
//! are set up again as they were, and the monitor (or, attached, this
//! process) runs the stored spec.

use std::time::Duration;

use oci_spec::runtime::Spec;
use wharf_net::Attached;

use crate::container::Container;
use crate::{monitor, restart, Engine, Error, Result, Status};

/// What a container's networks were set up as, kept beside its record so a
/// `start` after an exit (which tore them down) sets up the same again.
const ATTACHED_FILE: &str = "networks.json";

pub(crate) fn save_attached(c: &Container, attached: &Attached) -> Result<()> {
    let bytes = serde_json::to_vec(attached).expect("attachments serialize");
    crate::fsutil::write_atomic(&c.dir.join(ATTACHED_FILE), &bytes)
        .map_err(|e| Error::io("recording the container's networks", e))
}

fn load_attached(c: &Container) -> Result<Option<Attached>> {
    if c.state.networks.is_empty() {
        return Ok(None);
    }
    let path = c.dir.join(ATTACHED_FILE);
    let bytes = std::fs::read(&path).map_err(|e| {
        Error::io(
            format!(
                "reading {} (container {} was made by an older wharf: remove it and run it again)",
                path.display(),
                c.state.name
            ),
            e,
        )
    })?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| Error::Corrupt(format!("{}: {e}", path.display())))
}

impl Engine {
    /// `wharf start CONTAINER`: runs a created or exited container under
    /// its monitor, as `run -d` does, and returns once it is starting.
    /// Starting a running container does nothing (as in Docker).
    pub fn start(&self, key: &str) -> Result<()> {
        let Some((c, _)) = self.prepare_start(key)? else {
            return Ok(());
        };
        monitor::spawn(self, &c)
    }

    /// `wharf start -a [-i]`: runs a created or exited container from this
    /// process, its output on this terminal (and in its log), as a
    /// foreground `run` does; returns its exit code. Its restart policy is
    /// for detached starts, where a monitor outlives the command.
    pub fn start_attached(&self, key: &str, interactive: bool) -> Result<i32> {
        let Some((c, spec)) = self.prepare_start(key)? else {
            return Err(Error::Conflict(format!(
                "container {key} is already running; follow its output with wharf logs -f {key}"
            )));
        };
        let capture = !c.state.auto_remove;
        self.supervise(c, &spec, capture, interactive, None)
    }

    /// Readies a created or exited container to run again; None when it
    /// is running already.
    fn prepare_start(&self, key: &str) -> Result<Option<(Container, Spec)>> {
        let c = self.container(key)?;
        if c.is_running() {
            return Ok(None);
        }
        let spec = Spec::load(c.config_path()).map_err(|e| {
            Error::Corrupt(format!(
                "container {key} has an unreadable config.json: {e}; remove it and create it again"
            ))
        })?;
        // A `stop` before this start must not keep the restart policy from acting.
        restart::clear_stopped(&c.dir);
        self.executor_of(&c)?
            .rearm(self, c.bundle(), &c.state.rootfs)?;
        if c.state.status == Status::Exited {
            // The exit tore its networks down; `create` left them set up.
            if let Some(attached) = load_attached(&c)? {
                self.reattach(&attached)?;
            }
        }
        Ok(Some((c, spec)))
    }

    /// `wharf restart`: stop (SIGTERM, SIGKILL after `timeout`), then start.
    pub fn restart(&self, key: &str, timeout: Option<Duration>) -> Result<()> {
        self.stop(key, timeout)?;
        self.start(key)
    }

    /// `wharf wait`: blocks until the container's current (or, for a created
    /// one, next) run ends; returns its exit code. A restart by its policy
    /// counts as an end, as in Docker.
    pub fn wait(&self, key: &str) -> Result<i32> {
        let c = self.container(key)?;
        let id = c.id().to_string();
        let mut run_seen: Option<Option<String>> = None;
        let mut c = Some(c);
        loop {
            let c = match c.take() {
                Some(c) => c,
                None => self
                    .containers
                    .load(&id)
                    .map_err(|_| Error::NoSuchContainer(key.to_string()))?,
            };
            match c.state.status {
                Status::Exited => return Ok(c.state.exit_code),
                Status::Running => match &run_seen {
                    None => run_seen = Some(c.state.started_at.clone()),
                    // Restarted between two looks: the run we waited for ended.
                    Some(started) if *started != c.state.started_at => {
                        return Ok(c.state.exit_code)
                    }
                    Some(_) => {}
                },
                Status::Created => {}
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `wharf rename OLD NEW`.
    pub fn rename(&self, key: &str, new: &str) -> Result<()> {
        let mut c = self.container(key)?;
        let old = c.state.name.clone();
        self.containers.rename(&mut c, new)?;
        self.container_event(&c, "rename", [("oldName", old)]);
        // Its DNS name on its networks follows from its next start on.
        if let Some(mut attached) = load_attached(&c).ok().flatten() {
            attached.container_name = new.to_string();
            save_attached(&c, &attached)?;
        }
        Ok(())
    }
}
