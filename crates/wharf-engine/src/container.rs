//! Container records: `containers/<id>/{config.json,state.json,<id>-json.log}`
//! and the name registry `containers/.names/<name> -> <id>`.
//!
//! A name is reserved by creating its symlink, which either succeeds or fails
//! atomically, so two `wharf run --name x` never both win and no lock or
//! directory scan is needed on the start path.

use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use crate::fsutil::{
    ensure_private_dir, is_private_dir, now_rfc3339, random_hex_id, tmpfs_dir_for, write_atomic,
};
use crate::process;
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Exited,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Exited => "exited",
        }
    }
}

/// What `state.json` holds: everything `ps` and `inspect` show that is not
/// already in the container's runtime spec (`config.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub id: String,
    pub name: String,
    pub created: String,
    /// The image as the user named it, and the config digest it resolved to.
    pub image: String,
    pub image_id: String,
    /// The executor that runs the container ("wasm", "linux"), chosen once
    /// at create (see [`crate::executor`]).
    pub kind: String,
    pub status: Status,
    /// The process that owns the guest: the foreground `wharf run`, or the
    /// detached container's monitor. 0 when none.
    pub pid: i32,
    pub pid_start: u64,
    pub exit_code: i32,
    #[serde(default)]
    pub error: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    #[serde(default)]
    pub oom_killed: bool,
    pub auto_remove: bool,
    /// The read-only tree the container runs over, kept alive by gc while the container exists.
    pub rootfs: PathBuf,
    /// A Linux container's init process (0 for Wasm guests, which run
    /// inside `pid`), with its start time against pid reuse.
    #[serde(default)]
    pub init_pid: i32,
    #[serde(default)]
    pub init_start: u64,
    /// How the argv in config.json came about, for `inspect`.
    #[serde(default)]
    pub entrypoint: Vec<String>,
    #[serde(default)]
    pub cmd: Vec<String>,
    /// The bridge networks the container is on (its namespace, addresses
    /// and ports are wharf-net's records); empty for none or host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<String>,
    /// The named volumes it mounts: while the record exists (running or
    /// not) they are in use, and `volume rm`/`prune` leave them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<String>,
    /// `--label K=V`: what tools (`wharf compose`) find their containers by.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// `--restart`, as given (empty: `no`); its monitor applies it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub restart: String,
    /// How many times the monitor has run it again.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub restart_count: u32,
    /// Frozen by `wharf pause` (still running: Docker's "paused" is a
    /// running container whose processes do not get the CPU).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paused: bool,
    /// How it is stopped, which runtime was asked for, its healthcheck.
    #[serde(default, flatten)]
    pub settings: Settings,
}

/// `run` flags kept for the commands that act on the container later
/// (stop, restart, the monitor's healthcheck, inspect).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// `--stop-signal`, else the image's STOPSIGNAL (empty: SIGTERM).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stop_signal: String,
    /// `--stop-timeout` in seconds (None: 10; negative: wait forever).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    /// `--runtime`, as named (empty when not given).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub runtime: String,
    /// `--health-cmd` and friends, run by the monitor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<crate::health::HealthConfig>,
    /// `--init`: a tiny init is the container's PID 1.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub init: bool,
    /// `--privileged`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub privileged: bool,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Clone)]
pub struct Container {
    pub dir: PathBuf,
    pub state: State,
}

impl Container {
    pub fn id(&self) -> &str {
        &self.state.id
    }
    pub fn short_id(&self) -> &str {
        &self.state.id[..12]
    }
    /// The container as its executor sees it.
    pub fn bundle(&self) -> crate::executor::Bundle<'_> {
        crate::executor::Bundle {
            id: &self.state.id,
            dir: &self.dir,
        }
    }
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.json")
    }
    pub fn log_path(&self) -> PathBuf {
        self.dir.join(format!("{}-json.log", self.state.id))
    }
    /// A Linux container's init outlives a killed monitor: the container
    /// still runs, unattended, until it is stopped or removed.
    pub fn init_alive(&self) -> bool {
        self.state.init_pid > 0
            && process::is_same_alive(self.state.init_pid, self.state.init_start)
    }

    pub fn is_running(&self) -> bool {
        self.state.status == Status::Running
    }
    pub fn save(&self) -> Result<()> {
        let bytes = serde_json::to_vec(&self.state).expect("state serializes");
        write_atomic(&self.dir.join("state.json"), &bytes)
            .map_err(|e| Error::io(format!("writing state of container {}", self.state.name), e))
    }

    /// Marks the container running in `pid` (the calling process when it owns the guest).
    pub fn mark_running(&mut self, pid: i32) -> Result<()> {
        self.state.paused = false;
        self.state.status = Status::Running;
        self.state.pid = pid;
        self.state.pid_start = process::start_time(pid).unwrap_or(0);
        self.state.started_at = Some(now_rfc3339());
        self.save()
    }

    pub fn mark_exited(&mut self, code: i32, error: &str) -> Result<()> {
        // The owner's copy of the record is as old as the start: a `rename`
        // since then is kept.
        if let Ok(fresh) = read_state(&self.dir) {
            self.state.name = fresh.name;
        }
        self.state.paused = false;
        self.state.status = Status::Exited;
        self.state.exit_code = code;
        self.state.error = error.to_string();
        self.state.pid = 0;
        self.state.init_pid = 0;
        self.state.finished_at = Some(now_rfc3339());
        self.save()
    }

    /// A running record whose process is gone belongs to a process that was
    /// killed before it could write its exit (SIGKILL of the monitor, a
    /// crash): it is reported as exited, like Docker reports a killed shim.
    fn settle(&mut self) -> Result<()> {
        if self.state.status == Status::Running
            && !process::is_same_alive(self.state.pid, self.state.pid_start)
            && !self.init_alive()
        {
            // The owner may have written its exit between our read and the check.
            if let Ok(fresh) = read_state(&self.dir) {
                if fresh.status != Status::Running {
                    self.state = fresh;
                    return Ok(());
                }
            }
            self.mark_exited(
                137,
                "the container's process was killed before it recorded an exit",
            )?;
        }
        Ok(())
    }
}

fn read_state(dir: &Path) -> Result<State> {
    let path = dir.join("state.json");
    let bytes = fs::read(&path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Error::Corrupt(format!(
            "{}: {e}; remove the directory to discard it",
            path.display()
        ))
    })
}

#[derive(Clone)]
pub struct Containers {
    dir: PathBuf,
    /// Where records that need not outlive their process go (see
    /// [`volatile_dir`]); resolved on first use.
    volatile: Arc<OnceLock<Option<PathBuf>>>,
}

pub struct NewContainer<'a> {
    pub name: Option<&'a str>,
    pub image: &'a str,
    pub image_id: &'a str,
    pub executor: &'a str,
    pub auto_remove: bool,
    pub rootfs: &'a Path,
    pub entrypoint: &'a [String],
    pub cmd: &'a [String],
    /// The process that runs the container itself from the start (a
    /// foreground Wasm run): the record is written running in it at once,
    /// sparing a rewrite of state.json on the start path.
    pub owner: Option<i32>,
    /// Bridge networks it will be attached to.
    pub networks: &'a [String],
    /// Named volumes it mounts.
    pub volumes: &'a [String],
    pub labels: &'a BTreeMap<String, String>,
    /// `--restart` (checked; empty for `no`).
    pub restart: &'a str,
    pub settings: Settings,
}

impl Containers {
    pub fn new(dir: PathBuf) -> Containers {
        Containers {
            dir,
            volatile: Arc::default(),
        }
    }

    fn volatile(&self) -> Option<&Path> {
        self.volatile
            .get_or_init(|| volatile_dir(&self.dir))
            .as_deref()
    }

    /// The directories records live in: the store's, then the volatile one
    /// when it exists and is ours.
    fn bases(&self) -> impl Iterator<Item = &Path> {
        std::iter::once(self.dir.as_path()).chain(self.volatile().filter(|d| is_private_dir(d)))
    }

    /// The directory of record `id`, wherever it lives.
    fn record_dir(&self, id: &str) -> PathBuf {
        self.bases()
            .map(|b| b.join(id))
            .find(|d| d.join("state.json").exists())
            .unwrap_or_else(|| self.dir.join(id))
    }

    fn names_dir(&self) -> PathBuf {
        self.dir.join(".names")
    }

    /// Creates the record and reserves the name; the caller writes config.json.
    pub fn create(&self, new: &NewContainer) -> Result<Container> {
        let id = random_hex_id();
        let names = self.names_dir();
        fs::create_dir_all(&names)
            .map_err(|e| Error::io(format!("creating {}", names.display()), e))?;
        let name = match new.name {
            Some(name) => {
                validate_name(name)?;
                self.reserve_name(name, &id)?;
                name.to_string()
            }
            None => self.reserve_generated_name(&id)?,
        };
        // A foreground `run --rm` record lives exactly as long as the process
        // that owns it, so it goes to tmpfs when there is one: on a disk it
        // costs a directory and two inodes allocated and freed per start.
        let base = match (new.auto_remove, new.owner, self.volatile()) {
            (true, Some(_), Some(volatile)) if ensure_private_dir(volatile) => volatile,
            _ => self.dir.as_path(),
        };
        let dir = base.join(&id);
        let mut made = fs::create_dir(&dir);
        if matches!(&made, Err(e) if e.kind() == ErrorKind::NotFound) && base != self.dir {
            // The last record there was just removed, and the directory with it.
            made = if ensure_private_dir(base) {
                fs::create_dir(&dir)
            } else {
                Err(ErrorKind::PermissionDenied.into())
            };
        }
        if let Err(e) = made {
            let _ = fs::remove_file(names.join(&name));
            return Err(Error::io(format!("creating {}", dir.display()), e));
        }
        let mut c = Container {
            dir,
            state: State {
                id,
                name,
                created: now_rfc3339(),
                image: new.image.to_string(),
                image_id: new.image_id.to_string(),
                kind: new.executor.to_string(),
                status: Status::Created,
                pid: 0,
                pid_start: 0,
                exit_code: 0,
                error: String::new(),
                started_at: None,
                finished_at: None,
                oom_killed: false,
                auto_remove: new.auto_remove,
                rootfs: new.rootfs.to_path_buf(),
                init_pid: 0,
                init_start: 0,
                entrypoint: new.entrypoint.to_vec(),
                cmd: new.cmd.to_vec(),
                networks: new.networks.to_vec(),
                volumes: new.volumes.to_vec(),
                labels: new.labels.clone(),
                restart: new.restart.to_string(),
                restart_count: 0,
                paused: false,
                settings: new.settings.clone(),
            },
        };
        if let Some(pid) = new.owner {
            c.state.status = Status::Running;
            c.state.pid = pid;
            c.state.pid_start = process::start_time(pid).unwrap_or(0);
            c.state.started_at = Some(c.state.created.clone());
        }
        c.save()?;
        Ok(c)
    }

    /// Reserves `name` for `id`: the name link is made, which either
    /// succeeds or fails atomically. A link whose container has no record is
    /// either being made (its reserving process lives: the name is taken) or
    /// a crash's leftover (its process is gone: the name is reclaimed, under
    /// a lock so two reclaimers never both win).
    fn reserve_name(&self, name: &str, id: &str) -> Result<()> {
        let link = self.names_dir().join(name);
        let target = name_target(id);
        let taken = |owner: &str| {
            Error::Conflict(format!(
                "the container name \"/{name}\" is already in use by container {}; remove that container (wharf rm {name}) or choose another name",
                &owner[..owner.len().min(12)]
            ))
        };
        let mut reclaim_lock: Option<nix::fcntl::Flock<fs::File>> = None;
        loop {
            match std::os::unix::fs::symlink(&target, &link) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::io(format!("reserving name {name}"), e)),
            }
            let Ok(existing) = fs::read_link(&link) else {
                continue; // removed meanwhile: try again
            };
            let existing = existing.to_string_lossy().into_owned();
            if let Some(owner) = self.owner(&existing) {
                return Err(taken(&owner));
            }
            if reservation_live(&existing) {
                return Err(taken(existing.split('.').next().unwrap_or_default()));
            }
            if reclaim_lock.is_none() {
                reclaim_lock = Some(self.lock_names()?);
                continue; // look again, now that no one else reclaims
            }
            let _ = fs::remove_file(&link);
        }
    }

    /// Gives `c` the name `new` (`wharf rename`): the new name is reserved
    /// first (a conflict names the container that holds it), then the
    /// record is rewritten, then the old name is freed.
    pub fn rename(&self, c: &mut Container, new: &str) -> Result<()> {
        validate_name(new)?;
        if new == c.state.name {
            return Err(Error::InvalidArgument(format!(
                "container {} is already named \"{new}\"; give another name",
                c.short_id()
            )));
        }
        self.reserve_name(new, c.id())?;
        let old = std::mem::replace(&mut c.state.name, new.to_string());
        if let Err(e) = c.save() {
            c.state.name = old;
            let _ = fs::remove_file(self.names_dir().join(new));
            return Err(e);
        }
        let link = self.names_dir().join(&old);
        let ours = fs::read_link(&link).is_ok_and(|t| {
            c.state
                .id
                .starts_with(t.to_string_lossy().split('.').next().unwrap_or("-"))
        });
        if ours {
            let _ = fs::remove_file(&link);
        }
        Ok(())
    }

    /// Serialises the reclaiming of names left by crashes.
    fn lock_names(&self) -> Result<nix::fcntl::Flock<fs::File>> {
        let path = self.names_dir().join(".lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| Error::io("locking the container names", e.into()))
    }

    /// The container a name link points at, if it still exists. Links hold
    /// an id prefix (see [`name_target`]); older stores hold the whole id.
    fn owner(&self, target: &str) -> Option<String> {
        let target = target.split('.').next().unwrap_or_default();
        let exists = |id: &str| self.bases().any(|b| b.join(id).join("state.json").exists());
        if target.len() == 64 {
            return exists(target).then(|| target.to_string());
        }
        let mut ids = self
            .ids()
            .ok()?
            .into_iter()
            .filter(|id| id.starts_with(target));
        match (ids.next(), ids.next()) {
            (Some(id), None) if !target.is_empty() && exists(&id) => Some(id),
            _ => None,
        }
    }

    fn reserve_generated_name(&self, id: &str) -> Result<String> {
        for attempt in 0..32 {
            let name = generated_name(id, attempt);
            match self.reserve_name(&name, id) {
                Ok(()) => return Ok(name),
                Err(Error::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        let name = format!("wharf_{}", &id[..12]);
        self.reserve_name(&name, id)?;
        Ok(name)
    }

    /// Finds a container by exact name, full id, or unique id prefix.
    pub fn find(&self, key: &str) -> Result<Container> {
        if !key.is_empty() && !key.contains('/') {
            if let Ok(target) = fs::read_link(self.names_dir().join(key.trim_start_matches('/'))) {
                if let Some(id) = self.owner(&target.to_string_lossy()) {
                    if let Ok(c) = self.load(&id) {
                        return Ok(c);
                    }
                }
            }
        }
        let key_is_hex = !key.is_empty() && key.bytes().all(|b| b.is_ascii_hexdigit());
        if key_is_hex {
            if key.len() == 64 {
                if let Ok(c) = self.load(key) {
                    return Ok(c);
                }
            }
            let mut found: Vec<String> = self
                .ids()?
                .into_iter()
                .filter(|id| id.starts_with(&key.to_ascii_lowercase()))
                .collect();
            match found.len() {
                1 => return self.load(&found.remove(0)),
                0 => {}
                _ => {
                    return Err(Error::Conflict(format!(
                        "container id prefix {key} is ambiguous ({} containers match); give more characters",
                        found.len()
                    )))
                }
            }
        }
        Err(Error::NoSuchContainer(key.to_string()))
    }

    pub fn load(&self, id: &str) -> Result<Container> {
        let dir = self.record_dir(id);
        let state = read_state(&dir)?;
        let mut c = Container { dir, state };
        c.settle()?;
        Ok(c)
    }

    fn ids(&self) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        for base in self.bases() {
            let entries = match fs::read_dir(base) {
                Ok(e) => e,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io(format!("listing {}", base.display()), e)),
            };
            ids.extend(
                entries
                    .filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit())),
            );
        }
        Ok(ids)
    }

    /// All containers, newest first, each with its liveness checked.
    pub fn list(&self) -> Result<Vec<Container>> {
        let mut out: Vec<Container> = self
            .ids()?
            .iter()
            .filter_map(|id| self.load(id).ok())
            .collect();
        out.sort_by(|a, b| b.state.created.cmp(&a.state.created));
        Ok(out)
    }

    /// Deletes the record, then frees its name (killed in between, the
    /// name is left pointing at nothing, which the next reservation reclaims).
    pub fn remove(&self, c: &Container) -> Result<()> {
        let link = self.names_dir().join(&c.state.name);
        let ours = fs::read_link(&link)
            .map(|t| {
                c.state
                    .id
                    .starts_with(t.to_string_lossy().split('.').next().unwrap_or("-"))
            })
            .unwrap_or(false);
        match fs::remove_dir_all(&c.dir) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(format!("removing {}", c.dir.display()), e)),
        }
        if ours {
            let _ = fs::remove_file(&link);
        }
        // An empty volatile directory goes too, so none is left behind per store.
        if let (Some(parent), Some(volatile)) = (c.dir.parent(), self.volatile()) {
            if parent == volatile {
                let _ = fs::remove_dir(parent);
            }
        }
        Ok(())
    }
}

/// Where records of `containers` (a store's containers directory) that need
/// not survive a reboot go: `wharf-<hash of the store>` under the first of
/// $XDG_RUNTIME_DIR, /run and /dev/shm that is a tmpfs. Not created here.
fn volatile_dir(containers: &Path) -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from);
    let candidates = xdg
        .into_iter()
        .chain(["/run", "/dev/shm"].map(PathBuf::from));
    tmpfs_dir_for(containers.parent()?, "", candidates)
}

/// What a name link holds: the first 48 hex digits of the id (192 bits, as
/// unique as the whole id in practice). ext4 keeps a symlink target shorter
/// than 60 bytes inside the inode; a whole 64-digit id would cost a data
/// block, allocated and then discarded on every `run --rm` (~65 µs here).
/// What a name link points at: `<id prefix>.<pid>.<start time>`, the
/// container's id (a prefix: 32 hex digits name it among a store's
/// containers) and the process that reserved the name, so a reservation
/// whose record is not written yet is told from a crash's leftover. Under
/// 60 bytes, so ext4 keeps the link in its inode.
fn name_target(id: &str) -> String {
    let me = std::process::id() as i32;
    let start = process::start_time(me).unwrap_or(0);
    format!("{}.{me}.{start}", &id[..id.len().min(32)])
}

/// Whether the process that made a name link still lives (older links,
/// holding only an id, name no process: they count as dead).
fn reservation_live(target: &str) -> bool {
    let mut parts = target.split('.').skip(1);
    match (parts.next().map(str::parse), parts.next().map(str::parse)) {
        (Some(Ok(pid)), Some(Ok(start))) => process::is_same_alive(pid, start),
        _ => false,
    }
}

fn validate_name(name: &str) -> Result<()> {
    // Docker's rule: [a-zA-Z0-9][a-zA-Z0-9_.-]+
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "invalid container name \"{name}\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )))
    }
}

/// Docker-style "adjective_noun" names, derived from the random id so that
/// generating one costs nothing.
fn generated_name(id: &str, attempt: usize) -> String {
    const ADJ: [&str; 24] = [
        "brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lucid", "merry",
        "nifty", "proud", "quick", "quiet", "sharp", "shiny", "silly", "sleepy", "smart", "sunny",
        "tender", "vivid", "witty", "zen",
    ];
    const NOUN: [&str; 24] = [
        "anchor", "barge", "beacon", "buoy", "cargo", "crane", "dock", "ferry", "harbor", "hull",
        "jetty", "keel", "lantern", "mast", "mooring", "pier", "quay", "rudder", "sail",
        "schooner", "skiff", "tug", "wharf", "yacht",
    ];
    let n = u64::from_str_radix(&id[..12], 16).unwrap_or(0) as usize + attempt * 7919;
    let name = format!(
        "{}_{}",
        ADJ[n % ADJ.len()],
        NOUN[(n / ADJ.len()) % NOUN.len()]
    );
    if attempt < 8 {
        name
    } else {
        format!("{name}{}", attempt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();

    fn new<'a>(name: Option<&'a str>, rootfs: &'a Path) -> NewContainer<'a> {
        NewContainer {
            name,
            image: "hello:1",
            image_id: "sha256:00",
            executor: "wasm",
            auto_remove: false,
            rootfs,
            entrypoint: &[],
            cmd: &[],
            owner: None,
            networks: &[],
            volumes: &[],
            labels: &NO_LABELS,
            restart: "",
            settings: Settings::default(),
        }
    }

    #[test]
    fn names_are_unique_and_freed_on_remove() {
        let tmp = tempfile::tempdir().unwrap();
        let cs = Containers::new(tmp.path().join("containers"));
        let a = cs.create(&new(Some("web"), tmp.path())).unwrap();
        let err = cs.create(&new(Some("web"), tmp.path())).err().unwrap();
        assert!(err.to_string().contains("already in use"), "{err}");
        assert_eq!(cs.find("web").unwrap().id(), a.id());
        assert_eq!(cs.find(&a.id()[..6]).unwrap().id(), a.id());
        cs.remove(&a).unwrap();
        assert!(cs.find("web").is_err());
        cs.create(&new(Some("web"), tmp.path())).unwrap();
    }

    /// A name link whose record is not written yet belongs to a `run` still
    /// making it while its process lives, and to nobody once it is gone.
    #[test]
    fn a_reservation_in_progress_is_not_taken_for_a_leftover() {
        let tmp = tempfile::tempdir().unwrap();
        let cs = Containers::new(tmp.path().join("containers"));
        fs::create_dir_all(cs.names_dir()).unwrap();
        let link = cs.names_dir().join("web");
        // Reserved by this (live) process, record not written yet.
        std::os::unix::fs::symlink(name_target(&"a".repeat(64)), &link).unwrap();
        let err = cs.create(&new(Some("web"), tmp.path())).unwrap_err();
        assert!(err.to_string().contains("already in use"), "{err}");
        // Reserved by a process that is gone: reclaimed.
        fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink(format!("{}.{}.1", "b".repeat(32), i32::MAX), &link).unwrap();
        let c = cs.create(&new(Some("web"), tmp.path())).unwrap();
        assert_eq!(cs.find("web").unwrap().state.id, c.state.id);
        // Removing the container frees the name.
        cs.remove(&c).unwrap();
        assert!(fs::symlink_metadata(&link).is_err());
    }

    #[test]
    fn name_links_fit_in_the_inode_and_old_full_id_links_still_resolve() {
        let tmp = tempfile::tempdir().unwrap();
        let cs = Containers::new(tmp.path().join("containers"));
        let a = cs.create(&new(Some("web"), tmp.path())).unwrap();
        let link = cs.names_dir().join("web");
        let target = fs::read_link(&link).unwrap();
        assert!(target.as_os_str().len() < 60, "{target:?}");
        assert_eq!(cs.find("web").unwrap().state.id, a.state.id);

        // A store written before names held a prefix.
        fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink(&a.state.id, &link).unwrap();
        assert_eq!(cs.find("web").unwrap().state.id, a.state.id);
        assert!(matches!(
            cs.create(&new(Some("web"), tmp.path())),
            Err(Error::Conflict(_))
        ));
        cs.remove(&a).unwrap();
        assert!(fs::symlink_metadata(&link).is_err(), "the name is freed");

        // A link left by a crash (its container is gone) is reclaimed.
        std::os::unix::fs::symlink("0123456789abcdef0123456789abcdef0123456789abcdef", &link)
            .unwrap();
        let b = cs.create(&new(Some("web"), tmp.path())).unwrap();
        assert_eq!(cs.find("web").unwrap().state.id, b.state.id);
    }

    #[test]
    fn foreground_rm_records_live_on_tmpfs_and_are_found_like_others() {
        let tmp = tempfile::tempdir().unwrap();
        let cs = Containers::new(tmp.path().join("containers"));
        let Some(volatile) = cs.volatile().map(Path::to_path_buf) else {
            eprintln!("skipped: no tmpfs among $XDG_RUNTIME_DIR, /run, /dev/shm");
            return;
        };
        let mut n = new(Some("fast"), tmp.path());
        n.auto_remove = true;
        n.owner = Some(std::process::id() as i32);
        let c = cs.create(&n).unwrap();
        assert_eq!(c.dir.parent(), Some(volatile.as_path()));
        assert!(is_private_dir(&volatile));
        assert!(c.is_running(), "written running in its owner");
        assert_eq!(cs.find("fast").unwrap().dir, c.dir);
        assert_eq!(cs.find(c.short_id()).unwrap().state.id, c.state.id);
        assert_eq!(cs.list().unwrap().len(), 1);
        // Records that must outlive their process stay in the store.
        let kept = cs.create(&new(Some("kept"), tmp.path())).unwrap();
        assert_eq!(
            kept.dir.parent(),
            Some(tmp.path().join("containers").as_path())
        );
        assert_eq!(cs.list().unwrap().len(), 2);
        cs.remove(&c).unwrap();
        assert!(!volatile.exists(), "the empty volatile directory goes too");
        assert!(cs.find("fast").is_err());

        // Somebody else's directory under that name is not trusted.
        fs::create_dir(&volatile).unwrap();
        fs::set_permissions(
            &volatile,
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        )
        .unwrap();
        let c = cs.create(&n).unwrap();
        assert_eq!(
            c.dir.parent(),
            Some(tmp.path().join("containers").as_path())
        );
        fs::remove_dir(&volatile).unwrap();
    }

    #[test]
    fn generated_names_do_not_collide_and_bad_names_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let cs = Containers::new(tmp.path().join("c"));
        let mut seen = std::collections::HashSet::new();
        for _ in 0..50 {
            assert!(seen.insert(cs.create(&new(None, tmp.path())).unwrap().state.name));
        }
        assert!(cs.create(&new(Some("-bad"), tmp.path())).is_err());
        assert!(cs.create(&new(Some("a/b"), tmp.path())).is_err());
    }

    #[test]
    fn a_running_record_whose_process_died_reads_as_exited() {
        let tmp = tempfile::tempdir().unwrap();
        let cs = Containers::new(tmp.path().join("c"));
        let mut c = cs.create(&new(Some("x"), tmp.path())).unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("10")
            .spawn()
            .unwrap();
        c.mark_running(child.id() as i32).unwrap();
        assert!(cs.find("x").unwrap().is_running());
        child.kill().unwrap();
        child.wait().unwrap();
        let c = cs.find("x").unwrap();
        assert_eq!(c.state.status, Status::Exited);
        assert_eq!(c.state.exit_code, 137);
    }
}
