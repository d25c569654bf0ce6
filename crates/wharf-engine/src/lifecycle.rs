//! The lifecycle after start, the same for both kinds: ps, logs, stop, kill,
//! rm, inspect. Every command reads the container's files afresh, so they
//! work across CLI invocations with no daemon.

use std::io::Write;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use crate::container::Container;
use crate::{logs, process, Engine, Error, Result, Status};

/// One row of `wharf ps`.
pub struct ContainerSummary {
    pub id: String,
    pub name: String,
    pub image: String,
    pub command: String,
    pub created: String,
    pub status: String,
    pub state: &'static str,
    pub kind: String,
    /// Published ports, `0.0.0.0:8080->80/tcp, ...`.
    pub ports: String,
}

impl Engine {
    pub fn container(&self, key: &str) -> Result<Container> {
        let c = self.containers.find(key)?;
        if self.reaped(&c) {
            return Err(Error::NoSuchContainer(key.to_string()));
        }
        Ok(c)
    }

    /// A `--rm` container found exited was owned by a process killed before
    /// it could remove it (a normal end removes it): remove it now, with
    /// what it left on the host, as its owner would have.
    fn reaped(&self, c: &Container) -> bool {
        let orphaned = c.state.auto_remove && c.state.status == Status::Exited;
        if orphaned {
            self.discard(c);
        }
        orphaned
    }

    pub fn ps(&self, all: bool) -> Result<Vec<ContainerSummary>> {
        let mut rows = Vec::new();
        for c in self.containers.list()? {
            if self.reaped(&c) {
                continue;
            }
            if !all && !c.is_running() {
                continue;
            }
            let args = self.container_args(&c);
            rows.push(ContainerSummary {
                id: c.state.id.clone(),
                name: c.state.name.clone(),
                image: c.state.image.clone(),
                command: args.join(" "),
                created: c.state.created.clone(),
                status: status_text(&c),
                state: c.state.status.as_str(),
                kind: c.state.kind.clone(),
                ports: self.ports_text(&c),
            });
        }
        Ok(rows)
    }

    fn container_args(&self, c: &Container) -> Vec<String> {
        oci_spec::runtime::Spec::load(c.config_path())
            .ok()
            .and_then(|s| s.process().as_ref().and_then(|p| p.args().clone()))
            .unwrap_or_default()
    }

    /// Sends `sig` to the container: a Linux container's init, or the
    /// process owning a Wasm guest (which turns it into an interruption).
    pub fn kill(&self, key: &str, sig: &str) -> Result<()> {
        let sig = wharf_linux::parse_signal(sig)?;
        let c = self.containers.find(key)?;
        self.signal(&c, sig)?;
        if sig == libc::SIGKILL {
            // Wait until the exit is recorded (by the owner, or by the next read if the owner died).
            let (pid, start) = waited_on(&c);
            process::wait_gone(pid, start, Duration::from_secs(5));
            self.containers.load(c.id())?;
        }
        Ok(())
    }

    fn signal(&self, c: &Container, sig: i32) -> Result<()> {
        if !c.is_running() {
            return Err(Error::Conflict(format!(
                "cannot kill container {}: the container is not running",
                c.state.name
            )));
        }
        let pid = if c.init_alive() {
            c.state.init_pid
        } else {
            c.state.pid
        };
        // SAFETY: kill(2) has no memory-safety preconditions; pid is a
        // recorded, live process (never 0 or -1, which would mean groups).
        if pid <= 0 || unsafe { libc::kill(pid, sig) } == 0 {
            return Ok(());
        }
        match std::io::Error::last_os_error() {
            e if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
            e => Err(Error::io(
                format!("signalling container {}", c.state.name),
                e,
            )),
        }
    }

    /// SIGTERM, then SIGKILL after `timeout` (Docker's stop). Stopping a
    /// container that is not running is not an error.
    pub fn stop(&self, key: &str, timeout: Duration) -> Result<()> {
        let c = self.containers.find(key)?;
        if !c.is_running() {
            return Ok(());
        }
        self.signal(&c, libc::SIGTERM)?;
        let (pid, start) = waited_on(&c);
        if !process::wait_gone(pid, start, timeout) {
            let _ = self.signal(&c, libc::SIGKILL);
            process::wait_gone(pid, start, Duration::from_secs(5));
        }
        self.containers.load(c.id())?;
        Ok(())
    }

    pub fn remove(&self, key: &str, force: bool) -> Result<()> {
        let mut c = self.containers.find(key)?;
        if c.is_running() {
            if !force {
                return Err(Error::Conflict(format!(
                    "cannot remove container {}: it is running; stop it first (wharf stop {}) or use rm -f",
                    c.state.name, c.state.name
                )));
            }
            self.signal(&c, libc::SIGKILL)?;
            let (pid, start) = waited_on(&c);
            process::wait_gone(pid, start, Duration::from_secs(5));
            c = self.containers.load(c.id())?;
        }
        self.discard(&c);
        Ok(())
    }

    pub fn logs(
        &self,
        key: &str,
        follow: bool,
        timestamps: bool,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Result<()> {
        let c = self.containers.find(key)?;
        let id = c.state.id.clone();
        logs::print(&c.log_path(), follow, timestamps, out, err, || {
            self.containers
                .load(&id)
                .map(|c| c.is_running())
                .unwrap_or(false)
        })
    }

    pub fn inspect_container(&self, c: &Container) -> Value {
        let spec = oci_spec::runtime::Spec::load(c.config_path()).ok();
        let process = spec.as_ref().and_then(|s| s.process().clone());
        let args = process
            .as_ref()
            .and_then(|p| p.args().clone())
            .unwrap_or_default();
        let env = process
            .as_ref()
            .and_then(|p| p.env().clone())
            .unwrap_or_default();
        let cwd = process
            .as_ref()
            .map(|p| p.cwd().to_string_lossy().into_owned())
            .unwrap_or_default();
        let mounts: Vec<Value> = spec
            .as_ref()
            .and_then(|s| s.mounts().clone())
            .unwrap_or_default()
            .iter()
            .map(|m| {
                let ro = m.options().as_ref().is_some_and(|o| o.iter().any(|o| o == "ro"));
                // A named volume's directory is <root>/volumes/<name>/_data.
                let source = m.source().as_deref().unwrap_or(std::path::Path::new(""));
                let volume = c.state.volumes.iter().find(|v| {
                    source.ends_with(std::path::Path::new("volumes").join(v).join("_data"))
                });
                match volume {
                    Some(name) => json!({"Type": "volume", "Name": name, "Driver": "local", "Source": m.source(), "Destination": m.destination(), "RW": !ro}),
                    None => json!({"Type": "bind", "Source": m.source(), "Destination": m.destination(), "RW": !ro}),
                }
            })
            .collect();
        let memory = spec
            .as_ref()
            .and_then(wharf_wasm::oci::memory_limit)
            .unwrap_or(0);
        let s = &c.state;
        // Pid is the container's own process (Docker's meaning): a Linux
        // container's init, or the owner a Wasm guest runs in; ConmonPid
        // (Podman's name) the process that watches it and logs its output.
        let owner_alive = process::is_same_alive(s.pid, s.pid_start);
        let pid = match (c.init_alive(), owner_alive) {
            (true, _) => s.init_pid,
            (false, true) => s.pid,
            _ => 0,
        };
        let error = if c.is_running() && c.init_alive() && !owner_alive {
            format!(
                "its monitor (pid {}) is gone: the container runs on, but its output is no longer logged and its exit will not be recorded; stop it (wharf stop {}) and run it again",
                s.pid, s.name
            )
        } else {
            s.error.clone()
        };
        json!({
            "Id": s.id,
            "Name": format!("/{}", s.name),
            "Created": s.created,
            "Path": args.first().cloned().unwrap_or_default(),
            "Args": args.iter().skip(1).collect::<Vec<_>>(),
            "State": {
                "Status": s.status.as_str(),
                "Running": s.status == Status::Running,
                "Pid": pid,
                "ConmonPid": if owner_alive { s.pid } else { 0 },
                "ExitCode": s.exit_code,
                "Error": error,
                "StartedAt": s.started_at.clone().unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
                "FinishedAt": s.finished_at.clone().unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
                "OOMKilled": s.oom_killed,
            },
            "Image": s.image_id,
            "ImageName": s.image,
            "Kind": s.kind,
            "LogPath": c.log_path(),
            "Config": {
                "Hostname": &s.id[..12],
                "Env": env,
                "Cmd": s.cmd,
                "Entrypoint": if s.entrypoint.is_empty() { Value::Null } else { json!(s.entrypoint) },
                "WorkingDir": cwd,
                "Image": s.image,
            },
            "HostConfig": {"Memory": memory, "AutoRemove": s.auto_remove},
            "Mounts": mounts,
            "NetworkSettings": self.network_settings(c),
            "Rootfs": s.rootfs,
        })
    }
}

/// The process whose end means the container's exit has been recorded: its
/// owner (foreground `wharf run` or monitor), or a Linux init that outlived
/// a killed monitor.
fn waited_on(c: &Container) -> (i32, u64) {
    if process::is_same_alive(c.state.pid, c.state.pid_start) || !c.init_alive() {
        (c.state.pid, c.state.pid_start)
    } else {
        (c.state.init_pid, c.state.init_start)
    }
}

/// Docker's STATUS column: "Up 5 seconds", "Exited (0) 2 minutes ago", "Created".
fn status_text(c: &Container) -> String {
    match c.state.status {
        Status::Created => "Created".to_string(),
        Status::Running => format!("Up {}", since(c.state.started_at.as_deref())),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            c.state.exit_code,
            since(c.state.finished_at.as_deref())
        ),
    }
}

/// "5 seconds", "3 minutes", "About an hour"... from an RFC 3339 time to now.
pub fn since(time: Option<&str>) -> String {
    let Some(t) = time.and_then(|t| humantime::parse_rfc3339_weak(t).ok()) else {
        return "a while".to_string();
    };
    let secs = SystemTime::now()
        .duration_since(t)
        .unwrap_or_default()
        .as_secs();
    match secs {
        0 => "Less than a second".to_string(),
        1 => "1 second".to_string(),
        s if s < 60 => format!("{s} seconds"),
        s if s < 120 => "About a minute".to_string(),
        s if s < 3600 => format!("{} minutes", s / 60),
        s if s < 7200 => "About an hour".to_string(),
        s if s < 172_800 => format!("{} hours", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}
