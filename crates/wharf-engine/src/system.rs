//! Whole-store views and clean-ups: `wharf info`, `system df`, and the
//! prunes of images, containers and (through `system prune`) everything.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::time::SystemTime;

use serde_json::{json, Value};

use crate::volumes::tree_size;
use crate::{Engine, Error, Result, Status};

/// One line of `system df`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    /// "Images", "Containers", "Local Volumes".
    pub kind: &'static str,
    pub total: usize,
    /// In use: images a container was made from, running containers,
    /// volumes a container mounts.
    pub active: usize,
    pub size: u64,
    /// What the matching prune would free.
    pub reclaimable: u64,
}

/// One image of `system df -v`.
#[derive(Debug, Clone)]
pub struct ImageUsage {
    pub names: Vec<String>,
    pub id: String,
    pub created: Option<String>,
    pub size: u64,
    /// Bytes of its layers that other images have too.
    pub shared: u64,
    /// Containers made from it.
    pub containers: usize,
}

/// One volume of `system df -v`.
#[derive(Debug, Clone)]
pub struct VolumeUsage {
    pub name: String,
    /// Containers that mount it.
    pub links: usize,
    pub size: u64,
}

/// One `image prune`/`container prune` `--filter`, Docker's: `until=TIME`
/// (made before it: RFC 3339, Unix seconds, or a duration before now such
/// as `24h`), `label=KEY[=VALUE]` (has it) or `label!=KEY[=VALUE]` (has
/// not). All must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PruneFilter {
    Until(SystemTime),
    Label {
        key: String,
        value: Option<String>,
        wanted: bool,
    },
}

impl FromStr for PruneFilter {
    type Err = Error;

    fn from_str(s: &str) -> Result<PruneFilter> {
        let bad = |why: &str| {
            Error::InvalidArgument(format!(
                "invalid filter \"{s}\": {why}; use until=TIME, label=KEY[=VALUE] or label!=KEY[=VALUE]"
            ))
        };
        let (key, value) = s.split_once('=').ok_or_else(|| bad("expected KEY=VALUE"))?;
        if value.is_empty() {
            return Err(bad("the value is empty"));
        }
        let label = |wanted| {
            let (k, v) = match value.split_once('=') {
                Some((k, v)) => (k, Some(v.to_string())),
                None => (value, None),
            };
            PruneFilter::Label {
                key: k.to_string(),
                value: v,
                wanted,
            }
        };
        match key {
            "until" => Ok(PruneFilter::Until(crate::parse_log_time(
                value,
                SystemTime::now(),
            )?)),
            "label" => Ok(label(true)),
            "label!" => Ok(label(false)),
            _ => Err(bad(&format!("prune does not filter on \"{key}\""))),
        }
    }
}

impl PruneFilter {
    /// Whether something made at `created` (RFC 3339) with `labels` passes
    /// every filter. A thing of unknown age is never "until" a time.
    pub fn all_match(
        filters: &[PruneFilter],
        created: Option<&str>,
        labels: &BTreeMap<String, String>,
    ) -> bool {
        filters.iter().all(|f| match f {
            PruneFilter::Until(t) => created
                .and_then(|c| humantime::parse_rfc3339_weak(c).ok())
                .is_some_and(|c| c < *t),
            PruneFilter::Label { key, value, wanted } => {
                let has = match (labels.get(key), value) {
                    (Some(v), Some(want)) => v == want,
                    (Some(_), None) => true,
                    (None, _) => false,
                };
                has == *wanted
            }
        })
    }
}

/// What a prune removed.
#[derive(Debug, Default)]
pub struct Pruned {
    /// Untagged names (images only).
    pub untagged: Vec<String>,
    /// Image ids, container ids.
    pub deleted: Vec<String>,
    pub reclaimed: u64,
}

/// A program Wharf uses, or is compared with, found on this host.
struct Peer {
    name: &'static str,
    /// Where Wharf looks: fixed paths first, then `$PATH`.
    paths: &'static [&'static str],
    /// Why Wharf cares, for `info`.
    role: &'static str,
}

const PEERS: &[Peer] = &[
    Peer {
        name: "netavark",
        paths: &[wharf_net::DEFAULT_NETAVARK],
        role: "bridge networks and published ports",
    },
    Peer {
        name: "aardvark-dns",
        paths: &[wharf_net::DEFAULT_AARDVARK_DNS],
        role: "container name resolution on networks",
    },
    Peer {
        name: "crun",
        paths: &[],
        role: "OCI runtime (wharf bench compares with it)",
    },
    Peer {
        name: "runc",
        paths: &[],
        role: "OCI runtime (wharf bench compares with it)",
    },
    Peer {
        name: "wasmtime",
        paths: &[],
        role: "Wasm runtime CLI (wharf bench compares with it)",
    },
];

impl Engine {
    /// `wharf info`: the store, its contents, and the host's facilities.
    pub fn info(&self) -> Result<Value> {
        let containers = self.containers(&[])?;
        let count = |status: &str| {
            containers
                .iter()
                .filter(|c| c.state.status.as_str() == status)
                .count()
        };
        let running = count(Status::Running.as_str());
        let paused = count("paused");
        let images = self.images()?;
        let peers: serde_json::Map<String, Value> = PEERS
            .iter()
            .map(|p| {
                let found = find_program(p.paths, p.name);
                let version = found.as_deref().and_then(program_version);
                (
                    p.name.to_string(),
                    json!({"Path": found, "Version": version, "Role": p.role}),
                )
            })
            .collect();
        let layout = wharf_linux::cgroup_layout();
        Ok(json!({
            "Containers": containers.len(),
            "ContainersRunning": running,
            "ContainersPaused": paused,
            "ContainersStopped": containers.len() - running - paused,
            "Images": images.len(),
            "RootDir": std::path::absolute(&self.root).unwrap_or_else(|_| self.root.clone()),
            "RootDirSize": tree_size(&self.root),
            "CgroupLayout": layout,
            "CgroupVersion": match layout { "v2" => "2", "v1" | "hybrid" => "1", _ => "" },
            "Executors": crate::executor::EXECUTORS.iter().map(|e| e.name()).collect::<Vec<_>>(),
            "Peers": peers,
            "KernelVersion": nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default(),
            "OSType": std::env::consts::OS,
            "Architecture": std::env::consts::ARCH,
            "NCPU": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            "WasmtimeVersion": wharf_wasm::WASMTIME_VERSION,
        }))
    }

    /// `system df`: images, containers and volumes, with what is reclaimable.
    pub fn disk_usage(&self) -> Result<Vec<Usage>> {
        let containers = self.containers(&[])?;
        let used_images: HashSet<&str> = containers
            .iter()
            .map(|c| c.state.image_id.as_str())
            .collect();
        let mut images = Usage {
            kind: "Images",
            total: 0,
            active: 0,
            size: 0,
            reclaimable: 0,
        };
        // One image with several names counts once, as in Docker.
        let mut seen = HashSet::new();
        for img in self.images()? {
            if !seen.insert(img.manifest_digest.clone()) {
                continue;
            }
            images.total += 1;
            images.size += img.size;
            if used_images.contains(img.id.as_str()) {
                images.active += 1;
            } else {
                images.reclaimable += img.size;
            }
        }
        let mut ctrs = Usage {
            kind: "Containers",
            total: containers.len(),
            active: 0,
            size: 0,
            reclaimable: 0,
        };
        for c in &containers {
            let size = tree_size(&c.dir.join("upper"));
            ctrs.size += size;
            if c.is_running() {
                ctrs.active += 1;
            } else {
                ctrs.reclaimable += size;
            }
        }
        let users = self.volume_users()?;
        let mut volumes = Usage {
            kind: "Local Volumes",
            total: 0,
            active: 0,
            size: 0,
            reclaimable: 0,
        };
        for name in self.volume_names()? {
            let size = tree_size(&self.volume_data(&name));
            volumes.total += 1;
            volumes.size += size;
            if users.contains_key(&name) {
                volumes.active += 1;
            } else {
                volumes.reclaimable += size;
            }
        }
        Ok(vec![images, ctrs, volumes])
    }

    /// `system df -v`'s images: each once (several names together), with
    /// the bytes of layers it shares with other images.
    pub fn image_usage(&self) -> Result<Vec<ImageUsage>> {
        let containers = self.containers(&[])?;
        let mut out: Vec<ImageUsage> = Vec::new();
        let mut layers_of = Vec::new();
        let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        for img in self.images()? {
            if let Some(&i) = seen.get(&img.manifest_digest) {
                out[i].names.extend(img.names);
                continue;
            }
            seen.insert(img.manifest_digest.clone(), out.len());
            // Best effort, as `images` is: an unreadable image shares nothing.
            let layers: Vec<(String, u64)> = self
                .store
                .resolve(&img.manifest_digest, None)
                .map(|i| {
                    i.manifest
                        .layers()
                        .iter()
                        .map(|l| (l.digest().to_string(), l.size()))
                        .collect()
                })
                .unwrap_or_default();
            layers_of.push(layers);
            out.push(ImageUsage {
                containers: containers
                    .iter()
                    .filter(|c| c.state.image_id == img.id)
                    .count(),
                names: img.names,
                id: img.id,
                created: img.created,
                size: img.size,
                shared: 0,
            });
        }
        let mut users: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for layers in &layers_of {
            let distinct: HashSet<&str> = layers.iter().map(|(d, _)| d.as_str()).collect();
            for d in distinct {
                *users.entry(d).or_default() += 1;
            }
        }
        for (usage, layers) in out.iter_mut().zip(&layers_of) {
            let mut counted = HashSet::new();
            usage.shared = layers
                .iter()
                .filter(|(d, _)| users[d.as_str()] > 1 && counted.insert(d.as_str()))
                .map(|(_, size)| size)
                .sum();
        }
        Ok(out)
    }

    /// `system df -v`'s volumes.
    pub fn volume_usage(&self) -> Result<Vec<VolumeUsage>> {
        let users = self.volume_users()?;
        Ok(self
            .volume_names()?
            .into_iter()
            .map(|name| VolumeUsage {
                links: users.get(&name).map_or(0, Vec::len),
                size: tree_size(&self.volume_data(&name)),
                name,
            })
            .collect())
    }

    /// `image prune`: images no container uses and, unless `all`, that have
    /// no name (dangling); then frees their blobs and snapshots.
    pub fn image_prune(&self, all: bool, filters: &[PruneFilter]) -> Result<Pruned> {
        let used: HashSet<String> = self
            .containers
            .list()?
            .into_iter()
            .map(|c| c.state.image_id)
            .collect();
        let lock = self.store.lock()?;
        let mut pruned = Pruned::default();
        let mut done = HashSet::new();
        for img in self.store.list()? {
            if used.contains(&img.id) || (!all && !img.names.is_empty()) {
                continue;
            }
            if !filters.is_empty()
                && !PruneFilter::all_match(
                    filters,
                    img.created.as_deref(),
                    &self.image_labels(&img.manifest_digest),
                )
            {
                continue;
            }
            if !done.insert(img.manifest_digest.clone()) {
                continue;
            }
            self.store.remove(&lock, &img.manifest_digest)?;
            pruned.untagged.extend(img.names.iter().cloned());
            pruned.deleted.push(img.id.clone());
        }
        pruned.reclaimed = self.collect_garbage(&lock)?;
        Ok(pruned)
    }

    /// `container prune`: every container not running (created or exited).
    pub fn container_prune(&self, filters: &[PruneFilter]) -> Result<Pruned> {
        let mut pruned = Pruned::default();
        for c in self.containers(&[])? {
            if c.is_running()
                || !PruneFilter::all_match(filters, Some(&c.state.created), &c.state.labels)
            {
                continue;
            }
            let size = tree_size(&c.dir.join("upper"));
            // Refused if it started meanwhile: it is not stopped any more.
            if self.remove(c.id(), false).is_ok() {
                pruned.deleted.push(c.state.id.clone());
                pruned.reclaimed += size;
            }
        }
        Ok(pruned)
    }
}

impl Engine {
    /// An image's `config.Labels` (none if it cannot be read).
    fn image_labels(&self, name: &str) -> BTreeMap<String, String> {
        self.store
            .resolve(name, None)
            .ok()
            .and_then(|i| i.config)
            .and_then(|c| c.config().clone())
            .and_then(|c| c.labels().clone())
            .map(|l| l.into_iter().collect())
            .unwrap_or_default()
    }
}

/// The first of `paths` that exists, else `name` on `$PATH`.
fn find_program(paths: &[&str], name: &str) -> Option<PathBuf> {
    let fixed = paths.iter().map(PathBuf::from).find(|p| is_executable(p));
    fixed.or_else(|| {
        std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join(name))
                .find(|p| is_executable(p))
        })
    })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The first line of `PROGRAM --version`, without the program's name.
fn program_version(program: &Path) -> Option<String> {
    let out = Command::new(program)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next()?.trim();
    let name = program.file_name()?.to_string_lossy();
    let version = line
        .strip_prefix(name.as_ref())
        .unwrap_or(line)
        .trim_start_matches([' ', ':'])
        .trim_start_matches("version ")
        .trim();
    (!version.is_empty()).then(|| version.to_string())
}
