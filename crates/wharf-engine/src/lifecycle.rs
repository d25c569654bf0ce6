//! The lifecycle after start, the same for both kinds: ps, logs, stop, kill,
//! rm, inspect. Every command reads the container's files afresh, so they
//! work across CLI invocations with no daemon.

use std::collections::BTreeMap;
use std::io::Write;
use std::str::FromStr;
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
    pub labels: BTreeMap<String, String>,
    /// The bridge networks it is on (empty: none, or the host's).
    pub networks: Vec<String>,
    /// The named volumes it mounts.
    pub volumes: Vec<String>,
}

/// One `ps --filter`, Docker's syntax: `label=KEY`, `label=KEY=VALUE`,
/// `name=NAME`, `id=ID`, `status=created|running|paused|exited`. Filters of
/// different keys must all match; several `label` filters must all match,
/// several of another key need only one to (Docker's rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerFilter {
    /// The label is set (to `value`, when given).
    Label { key: String, value: Option<String> },
    /// The name contains this; `^` and `$` anchor it at the start or end.
    Name(String),
    /// The id starts with this.
    Id(String),
    /// In this status; a paused container is `paused`, not `running`, as in Docker.
    Status(Status),
    /// Running but frozen by `wharf pause` (`status=paused`).
    Paused,
}

impl ContainerFilter {
    /// `label=KEY=VALUE`, for callers that build filters rather than parse them.
    pub fn label(key: &str, value: &str) -> ContainerFilter {
        ContainerFilter::Label {
            key: key.to_string(),
            value: Some(value.to_string()),
        }
    }

    fn key(&self) -> &'static str {
        match self {
            ContainerFilter::Label { .. } => "label",
            ContainerFilter::Name(_) => "name",
            ContainerFilter::Id(_) => "id",
            ContainerFilter::Status(_) | ContainerFilter::Paused => "status",
        }
    }

    fn matches(&self, c: &Container) -> bool {
        let s = &c.state;
        match self {
            ContainerFilter::Label { key, value } => match (s.labels.get(key), value) {
                (Some(have), Some(want)) => have == want,
                (Some(_), None) => true,
                (None, _) => false,
            },
            ContainerFilter::Name(pattern) => {
                let pattern = pattern.trim_start_matches('/');
                let (start, rest) = match pattern.strip_prefix('^') {
                    Some(rest) => (true, rest.trim_start_matches('/')),
                    None => (false, pattern),
                };
                let (end, needle) = match rest.strip_suffix('$') {
                    Some(needle) => (true, needle),
                    None => (false, rest),
                };
                match (start, end) {
                    (true, true) => s.name == needle,
                    (true, false) => s.name.starts_with(needle),
                    (false, true) => s.name.ends_with(needle),
                    (false, false) => s.name.contains(needle),
                }
            }
            ContainerFilter::Id(prefix) => s.id.starts_with(&prefix.to_ascii_lowercase()),
            ContainerFilter::Status(status) => s.status == *status && !s.paused,
            ContainerFilter::Paused => s.status == Status::Running && s.paused,
        }
    }

    /// Whether `c` passes all of `filters` (see [`ContainerFilter`] for how
    /// they combine).
    pub fn all_match(filters: &[ContainerFilter], c: &Container) -> bool {
        let mut keys: Vec<&str> = filters.iter().map(ContainerFilter::key).collect();
        keys.sort_unstable();
        keys.dedup();
        keys.iter().all(|key| {
            let mut of_key = filters.iter().filter(|f| f.key() == *key);
            if *key == "label" {
                of_key.all(|f| f.matches(c))
            } else {
                of_key.any(|f| f.matches(c))
            }
        })
    }
}

impl FromStr for ContainerFilter {
    type Err = Error;

    fn from_str(s: &str) -> Result<ContainerFilter> {
        let bad = |why: &str| {
            Error::InvalidArgument(format!(
                "invalid filter \"{s}\": {why}; use label=KEY, label=KEY=VALUE, name=NAME, id=ID or status=created|running|paused|exited"
            ))
        };
        let Some((key, value)) = s.split_once('=') else {
            return Err(bad("expected KEY=VALUE"));
        };
        if value.is_empty() {
            return Err(bad("the value is empty"));
        }
        match key {
            "label" => Ok(match value.split_once('=') {
                Some((k, v)) => ContainerFilter::Label {
                    key: k.to_string(),
                    value: Some(v.to_string()),
                },
                None => ContainerFilter::Label {
                    key: value.to_string(),
                    value: None,
                },
            }),
            "name" => Ok(ContainerFilter::Name(value.to_string())),
            "id" => Ok(ContainerFilter::Id(value.to_string())),
            "status" => match value {
                "created" => Ok(ContainerFilter::Status(Status::Created)),
                "running" => Ok(ContainerFilter::Status(Status::Running)),
                "exited" => Ok(ContainerFilter::Status(Status::Exited)),
                "paused" => Ok(ContainerFilter::Paused),
                _ => Err(bad(
                    "Wharf's containers are created, running, paused or exited",
                )),
            },
            _ => Err(bad(&format!("Wharf does not filter on \"{key}\""))),
        }
    }
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

    /// Every container (running or not) that passes `filters`, newest first.
    pub fn containers(&self, filters: &[ContainerFilter]) -> Result<Vec<Container>> {
        Ok(self
            .containers
            .list()?
            .into_iter()
            .filter(|c| !self.reaped(c))
            .filter(|c| ContainerFilter::all_match(filters, c))
            .collect())
    }

    /// `wharf ps`: running containers, or all of them; a `status` filter
    /// shows containers in that status either way, as in Docker.
    pub fn ps(&self, all: bool, filters: &[ContainerFilter]) -> Result<Vec<ContainerSummary>> {
        let by_status = filters
            .iter()
            .any(|f| matches!(f, ContainerFilter::Status(_) | ContainerFilter::Paused));
        let mut rows = Vec::new();
        for c in self.containers(filters)? {
            if !all && !by_status && !c.is_running() {
                continue;
            }
            let args = self.container_args(&c);
            let state = if c.state.paused {
                "paused"
            } else {
                c.state.status.as_str()
            };
            rows.push(ContainerSummary {
                id: c.state.id.clone(),
                name: c.state.name.clone(),
                image: c.state.image.clone(),
                command: args.join(" "),
                created: c.state.created.clone(),
                status: status_text(&c),
                state,
                kind: c.state.kind.clone(),
                ports: self.ports_text(&c),
                labels: c.state.labels.clone(),
                networks: c.state.networks.clone(),
                volumes: c.state.volumes.clone(),
            });
        }
        Ok(rows)
    }

    /// `ps -s`: the bytes a Linux container has written over its image (its
    /// overlay's upper directory); 0 for Wasm guests, which write only to
    /// mounts.
    pub fn container_size(&self, id: &str) -> Result<u64> {
        let c = self.containers.find(id)?;
        Ok(crate::volumes::tree_size(&c.dir.join("upper")))
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
        if c.state.paused && matches!(sig, libc::SIGTERM | libc::SIGKILL) {
            // A frozen process would not act on it until thawed (Docker
            // also lets stop and kill end a paused container). The record
            // is read afresh: `stop`'s SIGKILL follows its own thaw.
            let fresh = self.containers.load(c.id())?;
            if fresh.state.paused {
                self.thaw(fresh)?;
            }
        }
        let pid = if c.init_alive() {
            c.state.init_pid
        } else {
            c.state.pid
        };
        // SAFETY: kill(2) has no memory-safety preconditions; pid is a
        // recorded, live process (never 0 or -1, which would mean groups).
        if pid <= 0 || unsafe { libc::kill(pid, sig) } == 0 {
            self.container_event(c, "kill", [("signal", sig.to_string())]);
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

    /// Its stop signal (`--stop-signal`, the image's STOPSIGNAL, else
    /// SIGTERM), then SIGKILL after `timeout` (default: `--stop-timeout`,
    /// else 10 s; a negative one waits forever), as Docker's stop.
    /// Stopping a container that is not running is not an error.
    pub fn stop(&self, key: &str, timeout: Option<Duration>) -> Result<()> {
        let c = self.containers.find(key)?;
        // Stopped by the user: its monitor must not run it again (also
        // while it waits between restarts, when it is not running).
        crate::restart::mark_stopped(&c.dir);
        if !c.is_running() {
            return Ok(());
        }
        let settings = &c.state.settings;
        let sig = match settings.stop_signal.as_str() {
            "" => libc::SIGTERM,
            s => wharf_linux::parse_signal(s)?,
        };
        let timeout = timeout.unwrap_or(match settings.stop_timeout {
            // "Forever": a century, which Instant arithmetic can still hold.
            Some(t) if t < 0 => Duration::from_secs(100 * 365 * 86_400),
            Some(t) => Duration::from_secs(t as u64),
            None => Duration::from_secs(10),
        });
        self.signal(&c, sig)?;
        let (pid, start) = waited_on(&c);
        if !process::wait_gone(pid, start, timeout) {
            let _ = self.signal(&c, libc::SIGKILL);
            process::wait_gone(pid, start, Duration::from_secs(5));
        }
        let fresh = self.containers.load(c.id());
        self.container_event(fresh.as_ref().unwrap_or(&c), "stop", []);
        fresh?;
        Ok(())
    }

    pub fn remove(&self, key: &str, force: bool) -> Result<()> {
        let mut c = self.containers.find(key)?;
        // A monitor waiting to restart it must not.
        crate::restart::mark_stopped(&c.dir);
        if c.is_running() {
            if !force {
                return Err(Error::Conflict(format!(
                    "cannot remove container {}: it is running; stop it first (wharf stop {}) or use rm -f",
                    c.state.name, c.state.name
                )));
            }
            crate::restart::mark_stopped(&c.dir);
            self.signal(&c, libc::SIGKILL)?;
            let (pid, start) = waited_on(&c);
            process::wait_gone(pid, start, Duration::from_secs(5));
            c = self.containers.load(c.id())?;
        }
        self.discard(&c);
        self.container_event(&c, "destroy", []);
        Ok(())
    }

    pub fn logs(
        &self,
        key: &str,
        opts: &logs::LogOptions,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Result<()> {
        let c = self.containers.find(key)?;
        let id = c.state.id.clone();
        logs::print(&c.log_path(), opts, out, err, || {
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
            "RestartCount": s.restart_count,
            "Path": args.first().cloned().unwrap_or_default(),
            "Args": args.iter().skip(1).collect::<Vec<_>>(),
            "State": {
                "Status": if s.paused { "paused" } else { s.status.as_str() },
                "Running": s.status == Status::Running,
                "Paused": s.paused,
                "Pid": pid,
                "ConmonPid": if owner_alive { s.pid } else { 0 },
                "ExitCode": s.exit_code,
                "Error": error,
                "StartedAt": s.started_at.clone().unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
                "FinishedAt": s.finished_at.clone().unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
                "OOMKilled": s.oom_killed,
                "Health": if s.settings.healthcheck.is_some() {
                    json!(crate::health::read(&c.dir))
                } else {
                    Value::Null
                },
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
                "Labels": s.labels,
                "StopSignal": if s.settings.stop_signal.is_empty() { Value::Null } else { json!(s.settings.stop_signal) },
                "StopTimeout": s.settings.stop_timeout,
                "Healthcheck": s.settings.healthcheck,
            },
            "HostConfig": {
                "Memory": memory,
                "AutoRemove": s.auto_remove,
                "RestartPolicy": restart_policy(&s.restart),
                "Runtime": if s.settings.runtime.is_empty() { "wharf" } else { s.settings.runtime.as_str() },
                "Init": s.settings.init,
                "Privileged": s.settings.privileged,
            },
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
        Status::Running if c.state.paused => {
            format!("Up {} (Paused)", since(c.state.started_at.as_deref()))
        }
        Status::Running => {
            let health = c
                .state
                .settings
                .healthcheck
                .as_ref()
                .and_then(|_| crate::health::read(&c.dir))
                .map(|h| match h.status.as_str() {
                    "starting" => " (health: starting)".to_string(),
                    other => format!(" ({other})"),
                })
                .unwrap_or_default();
            format!("Up {}{health}", since(c.state.started_at.as_deref()))
        }
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
        // Docker's (go-units') steps past two days.
        s if s < 14 * 86_400 => format!("{} days", s / 86_400),
        s if s < 60 * 86_400 => format!("{} weeks", s / (7 * 86_400)),
        s if s < 730 * 86_400 => format!("{} months", s / (30 * 86_400)),
        s => format!("{} years", s / (365 * 86_400)),
    }
}

/// `inspect`'s HostConfig.RestartPolicy for a recorded `--restart`.
fn restart_policy(text: &str) -> Value {
    let policy = crate::restart::RestartPolicy::parse(text).unwrap_or_default();
    json!({"Name": policy.name(), "MaximumRetryCount": policy.max_retries()})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::{Containers, NewContainer};

    fn make(cs: &Containers, name: &str, labels: &[(&str, &str)]) -> Container {
        let labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        cs.create(&NewContainer {
            name: Some(name),
            image: "hello:1",
            image_id: "sha256:00",
            executor: "wasm",
            auto_remove: false,
            rootfs: std::path::Path::new("/"),
            entrypoint: &[],
            cmd: &[],
            owner: None,
            networks: &[],
            volumes: &[],
            labels: &labels,
            restart: "",
            settings: Default::default(),
        })
        .unwrap()
    }

    fn parse(filters: &[&str]) -> Vec<ContainerFilter> {
        filters.iter().map(|f| f.parse().unwrap()).collect()
    }

    #[test]
    fn filters_combine_as_in_docker() {
        let tmp = tempfile::tempdir().unwrap();
        let cs = Containers::new(tmp.path().join("containers"));
        let web = make(&cs, "app-web-1", &[("project", "app"), ("service", "web")]);
        let db = make(&cs, "app-db-1", &[("project", "app"), ("service", "db")]);
        let other = make(&cs, "other-web-1", &[("project", "other")]);
        let names = |filters: &[&str]| -> Vec<String> {
            let filters = parse(filters);
            [&web, &db, &other]
                .into_iter()
                .filter(|c| ContainerFilter::all_match(&filters, c))
                .map(|c| c.state.name.clone())
                .collect()
        };
        assert_eq!(names(&[]).len(), 3);
        assert_eq!(names(&["label=project=app"]), ["app-web-1", "app-db-1"]);
        assert_eq!(names(&["label=service"]), ["app-web-1", "app-db-1"]);
        // Labels: all must match; names: any may.
        assert_eq!(
            names(&["label=project=app", "label=service=db"]),
            ["app-db-1"]
        );
        assert_eq!(
            names(&["name=db", "name=other"]),
            ["app-db-1", "other-web-1"]
        );
        assert_eq!(names(&["name=web", "label=project=app"]), ["app-web-1"]);
        assert_eq!(names(&["name=^app-"]), ["app-web-1", "app-db-1"]);
        assert_eq!(names(&["name=^/app-db-1$"]), ["app-db-1"]);
        assert_eq!(names(&["name=web-1$"]), ["app-web-1", "other-web-1"]);
        assert_eq!(names(&[&format!("id={}", &db.state.id[..8])]), ["app-db-1"]);
        assert_eq!(names(&["status=created"]).len(), 3);
        assert!(names(&["status=running"]).is_empty());
        assert!(names(&["label=project=ap"]).is_empty());
    }

    #[test]
    fn bad_filters_say_what_is_accepted() {
        for bad in ["label", "label=", "color=red", "status=dead"] {
            let err = bad.parse::<ContainerFilter>().unwrap_err().to_string();
            assert!(err.contains(bad) && err.contains("label=KEY"), "{err}");
        }
        assert_eq!(
            "label=a=b=c".parse::<ContainerFilter>().unwrap(),
            ContainerFilter::label("a", "b=c")
        );
    }
}
