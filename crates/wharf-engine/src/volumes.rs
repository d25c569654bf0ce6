//! Named volumes (`wharf volume ...`, `run -v NAME:/path`): directories in
//! the store that outlive containers, the same for both kinds.
//!
//! A volume is `<root>/volumes/<name>/`, holding `_data` (what containers
//! mount) and `volume.json` (when it was made, its labels). A container
//! mounts `_data` through its spec's bind mounts, which a Linux container
//! gets as a bind mount and a Wasm guest as a preopened directory; the
//! executors never hear of volumes. Which containers use a volume is in
//! their records (`State::volumes`): a volume is in use while any container
//! that mounts it exists, running or not, as in Docker.
//!
//! A volume appears whole or not at all: it is made in a temporary
//! directory that is then renamed into place. `volume rm`, `prune` and a
//! `run` that mounts volumes serialise on `volumes/.lock`, held by `run`
//! until the container's record (which names its volumes) is written, so no
//! volume is removed from under a container being made.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, ErrorKind};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::fsutil::random_hex_id;
use crate::run::parse_labels;
use crate::{process, spec, Engine, Error, Result, Status};

/// What containers mount, inside a volume's directory.
const DATA: &str = "_data";
const METADATA: &str = "volume.json";
/// Directories in `volumes/` that are not volumes (volume names never
/// start with `.`): one being made, one being removed.
const MAKING: &str = ".tmp-";
const REMOVING: &str = ".rm-";
/// An image's files being copied, beside a volume's `_data`.
const COPYING: &str = ".copy-";

/// A named volume, as `volume ls` and `inspect` show it.
#[derive(Debug, Clone)]
pub struct Volume {
    pub name: String,
    /// The directory containers mount (`<root>/volumes/<name>/_data`), absolute.
    pub mountpoint: PathBuf,
    /// RFC 3339, as Docker prints it.
    pub created_at: String,
    pub labels: BTreeMap<String, String>,
}

impl Volume {
    /// `volume inspect`'s object, in Docker's shape.
    pub fn docker_json(&self) -> Value {
        json!({
            "CreatedAt": self.created_at,
            "Driver": "local",
            "Labels": self.labels,
            "Mountpoint": self.mountpoint,
            "Name": self.name,
            "Options": {},
            "Scope": "local",
        })
    }
}

/// What `volume prune` removed.
#[derive(Debug, Default)]
pub struct PrunedVolumes {
    pub removed: Vec<String>,
    /// Bytes of the files in the removed volumes.
    pub reclaimed: u64,
}

/// `volume.json`.
#[derive(Serialize, Deserialize)]
struct Metadata {
    #[serde(rename = "CreatedAt")]
    created_at: String,
    #[serde(rename = "Labels", default)]
    labels: BTreeMap<String, String>,
}

/// The named volumes of a container being made, resolved to their
/// directories. Holds the volumes' lock until dropped, which `run` does once
/// the container's record names them.
pub(crate) struct VolumesInUse {
    /// The volumes mounted, each once, in `-v` order.
    pub names: Vec<String>,
    /// Those this `run` made (removed again if the container is not made).
    created: Vec<String>,
    _lock: Option<Flock<File>>,
}

/// A container that mounts a volume, as `volume rm` names it.
pub(crate) struct VolumeUser {
    name: String,
    id: String,
    running: bool,
}

/// Docker's rule for volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, and (a
/// directory's name) at most 255 bytes.
pub(crate) fn validate_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::InvalidArgument(
            "the volume name is empty: give a name such as data".into(),
        ));
    }
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !ok {
        return Err(Error::InvalidArgument(format!(
            "\"{name}\" is not a valid volume name: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed (a letter or digit first)"
        )));
    }
    if name.len() > 255 {
        return Err(Error::InvalidArgument(format!(
            "the volume name \"{name}\" is {} characters long; the limit is 255",
            name.len()
        )));
    }
    Ok(())
}

fn no_such_volume(name: &str) -> Error {
    Error::InvalidArgument(format!(
        "no such volume: {name}; `wharf volume ls` lists the volumes"
    ))
}

impl Engine {
    /// A volume's files: what containers mount.
    pub(crate) fn volume_data(&self, name: &str) -> PathBuf {
        self.volumes_dir().join(name).join(DATA)
    }

    fn volumes_dir(&self) -> PathBuf {
        // Absolute: a volume's directory goes into specs as a mount source.
        let dir = self.root.join("volumes");
        std::path::absolute(&dir).unwrap_or(dir)
    }

    fn make_volumes_dir(&self) -> Result<PathBuf> {
        let dir = self.volumes_dir();
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        Ok(dir)
    }

    fn lock_volumes(&self) -> Result<Flock<File>> {
        let path = self.make_volumes_dir()?.join(".lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, e)| Error::io("locking the volumes", e.into()))
    }

    /// `volume create`: a volume named `name` (or a random 64-hex name).
    /// Like Docker, creating a volume that exists returns it unchanged.
    pub fn volume_create(&self, name: Option<&str>, labels: &[String]) -> Result<Volume> {
        let labels = parse_labels(labels)?;
        let name = match name {
            Some(name) => {
                validate_name(name)?;
                name.to_string()
            }
            None => random_hex_id(),
        };
        Ok(self.get_or_create_volume(&name, &labels)?.0)
    }

    /// The volume `name`, with whether this call made it.
    fn get_or_create_volume(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<(Volume, bool)> {
        if let Some(v) = self.find_volume(name, false)? {
            return Ok((v, false));
        }
        let dir = self.make_volumes_dir()?;
        let tmp = dir.join(temp_name(MAKING));
        let made = (|| -> io::Result<()> {
            fs::DirBuilder::new().mode(0o755).create(&tmp)?;
            let data = tmp.join(DATA);
            fs::create_dir(&data)?;
            fs::set_permissions(&data, fs::Permissions::from_mode(0o755))?;
            let meta = Metadata {
                created_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                    .to_string(),
                labels: labels.clone(),
            };
            let bytes = serde_json::to_vec_pretty(&meta).map_err(io::Error::other)?;
            // Durable (fsynced, then renamed): a volume holds data to keep.
            wharf_image::fsutil::write_atomic(&tmp.join(METADATA), &bytes)
        })();
        if let Err(e) = made {
            let _ = fs::remove_dir_all(&tmp);
            return Err(Error::io(
                format!("creating volume {name} in {}", dir.display()),
                e,
            ));
        }
        match fs::rename(&tmp, dir.join(name)) {
            Ok(()) => {
                sync_dir(&dir).map_err(|e| Error::io(format!("creating volume {name}"), e))?;
                let v = self
                    .find_volume(name, true)?
                    .ok_or_else(|| no_such_volume(name))?;
                self.event("volume", "create", name, [("driver", "local".to_string())]);
                Ok((v, true))
            }
            // Made meanwhile by another command: theirs is the volume.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY | libc::EEXIST)) => {
                let _ = fs::remove_dir_all(&tmp);
                let v = self
                    .find_volume(name, false)?
                    .ok_or_else(|| no_such_volume(name))?;
                Ok((v, false))
            }
            Err(e) => {
                let _ = fs::remove_dir_all(&tmp);
                Err(Error::io(format!("creating volume {name}"), e))
            }
        }
    }

    /// The volume `name` if it exists. `strict`: a damaged `volume.json` is
    /// an error (else the volume is shown without what it held).
    fn find_volume(&self, name: &str, strict: bool) -> Result<Option<Volume>> {
        validate_name(name)?;
        let dir = self.volumes_dir().join(name);
        let dir_meta = match fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() => m,
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(format!("reading {}", dir.display()), e)),
        };
        if !dir.join(DATA).is_dir() {
            return Err(Error::Corrupt(format!(
                "{} holds no {DATA} directory, so it is not a volume Wharf made; move it out of {}",
                dir.display(),
                self.volumes_dir().display()
            )));
        }
        let meta_path = dir.join(METADATA);
        let fallback = || Metadata {
            created_at: dir_meta
                .modified()
                .map(|t| humantime::format_rfc3339_seconds(t).to_string())
                .unwrap_or_default(),
            labels: BTreeMap::new(),
        };
        let meta = match fs::read(&meta_path) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(meta) => meta,
                Err(e) if strict => {
                    return Err(Error::Corrupt(format!(
                        "{}: {e}; delete that file to reset the volume's labels (its data in {DATA} stays)",
                        meta_path.display()
                    )))
                }
                Err(_) => fallback(),
            },
            Err(e) if e.kind() == ErrorKind::NotFound => fallback(),
            Err(e) => return Err(Error::io(format!("reading {}", meta_path.display()), e)),
        };
        Ok(Some(Volume {
            name: name.to_string(),
            mountpoint: dir.join(DATA),
            created_at: meta.created_at,
            labels: meta.labels,
        }))
    }

    /// `volume inspect NAME`.
    pub fn volume(&self, name: &str) -> Result<Volume> {
        self.find_volume(name, true)?
            .ok_or_else(|| no_such_volume(name))
    }

    /// `volume ls`: every volume, by name.
    pub fn volume_list(&self) -> Result<Vec<Volume>> {
        let mut out = Vec::new();
        for name in self.volume_names()? {
            if let Some(v) = self.find_volume(&name, false)? {
                out.push(v);
            }
        }
        Ok(out)
    }

    /// The names in `volumes/` that are volumes, sorted.
    pub(crate) fn volume_names(&self) -> Result<Vec<String>> {
        let dir = self.volumes_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(format!("listing {}", dir.display()), e)),
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| validate_name(n).is_ok())
            .collect();
        names.sort();
        Ok(names)
    }

    /// `volume rm`: refused while a container (running or stopped) mounts
    /// the volume. `force`: a volume that does not exist is not an error.
    pub fn volume_remove(&self, name: &str, force: bool) -> Result<()> {
        validate_name(name)?;
        if !self.volumes_dir().join(name).is_dir() {
            return if force {
                Ok(())
            } else {
                Err(no_such_volume(name))
            };
        }
        let _lock = self.lock_volumes()?;
        if !self.volumes_dir().join(name).is_dir() {
            return if force {
                Ok(())
            } else {
                Err(no_such_volume(name))
            };
        }
        if let Some(users) = self.volume_users()?.remove(name) {
            let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
            let listed: Vec<String> = users
                .iter()
                .map(|u| {
                    let state = if u.running { "running" } else { "stopped" };
                    format!("{} ({}, {state})", u.name, &u.id[..12.min(u.id.len())])
                })
                .collect();
            let (them, s) = if users.len() == 1 {
                ("it", "")
            } else {
                ("them", "s")
            };
            let force = if users.iter().any(|u| u.running) {
                "-f "
            } else {
                ""
            };
            return Err(Error::Conflict(format!(
                "cannot remove volume {name}: it is in use by container{s} {}; remove {them} first (wharf rm {force}{}), then the volume",
                listed.join(", "),
                names.join(" ")
            )));
        }
        self.delete_volume(name)
    }

    /// `volume prune`: removes every volume no container mounts, and what
    /// crashed commands left in `volumes/`.
    pub fn volume_prune(&self) -> Result<PrunedVolumes> {
        let mut pruned = PrunedVolumes::default();
        let dir = self.volumes_dir();
        if !dir.is_dir() {
            return Ok(pruned);
        }
        let _lock = self.lock_volumes()?;
        remove_leftovers(&dir);
        let users = self.volume_users()?;
        for name in self.volume_names()? {
            if users.contains_key(&name) {
                continue;
            }
            let size = tree_size(&dir.join(&name).join(DATA));
            self.delete_volume(&name)?;
            pruned.removed.push(name);
            pruned.reclaimed += size;
        }
        Ok(pruned)
    }

    /// Each volume in use, with the containers that mount it.
    pub(crate) fn volume_users(&self) -> Result<BTreeMap<String, Vec<VolumeUser>>> {
        let mut users: BTreeMap<String, Vec<VolumeUser>> = BTreeMap::new();
        for c in self.containers.list()? {
            // An exited `--rm` container's owner was killed before it could
            // remove it: it is gone to everyone (the next command that
            // looks removes it), and so is its claim on its volumes.
            if c.state.auto_remove && c.state.status == Status::Exited {
                continue;
            }
            for v in &c.state.volumes {
                users.entry(v.clone()).or_default().push(VolumeUser {
                    name: c.state.name.clone(),
                    id: c.state.id.clone(),
                    running: c.is_running(),
                });
            }
        }
        Ok(users)
    }

    /// Removes a volume's directory: first renamed out of sight (so a
    /// failure half-way leaves no half volume), then deleted.
    fn delete_volume(&self, name: &str) -> Result<()> {
        let dir = self.volumes_dir();
        let doomed = dir.join(temp_name(REMOVING));
        fs::rename(dir.join(name), &doomed)
            .map_err(|e| Error::io(format!("removing volume {name}"), e))?;
        self.event("volume", "destroy", name, [("driver", "local".to_string())]);
        fs::remove_dir_all(&doomed).map_err(|e| {
            Error::io(
                format!(
                    "removing the files of volume {name} (left in {}; wharf volume prune tries again)",
                    doomed.display()
                ),
                e,
            )
        })
    }

    /// Resolves the named volumes among a starting container's `-v` flags
    /// to their directories, making those that do not exist (as Docker
    /// does) and filling an empty one with the image's files at its mount
    /// point. Takes the volumes' lock only when there are named volumes:
    /// a `run` without them pays nothing.
    pub(crate) fn use_volumes(
        &self,
        volumes: &mut [spec::Volume],
        rootfs: &Path,
    ) -> Result<VolumesInUse> {
        let mut in_use = VolumesInUse {
            names: Vec::new(),
            created: Vec::new(),
            _lock: None,
        };
        if volumes.iter().all(|v| v.name.is_none()) {
            return Ok(in_use);
        }
        in_use._lock = Some(self.lock_volumes()?);
        for v in volumes.iter_mut() {
            let Some(name) = v.name.clone() else {
                continue;
            };
            let resolved =
                self.get_or_create_volume(&name, &BTreeMap::new())
                    .and_then(|(volume, created)| {
                        if created {
                            in_use.created.push(name.clone());
                        }
                        copy_image_content(rootfs, &v.guest, &volume)?;
                        Ok(volume)
                    });
            match resolved {
                Ok(volume) => v.host = volume.mountpoint,
                Err(e) => {
                    self.abandon_volumes(&in_use);
                    return Err(e);
                }
            }
            if !in_use.names.contains(&name) {
                in_use.names.push(name);
            }
        }
        Ok(in_use)
    }

    /// Removes the volumes a `run` made for a container that was then not
    /// made (no one would know to remove them).
    pub(crate) fn abandon_volumes(&self, in_use: &VolumesInUse) {
        for name in &in_use.created {
            let _ = self.delete_volume(name);
        }
    }
}

/// `<prefix><pid>-<start time>-<random>`: a temporary name whose maker can
/// be told alive or gone (see [`remove_leftovers`]).
fn temp_name(prefix: &str) -> String {
    let pid = std::process::id() as i32;
    let start = process::start_time(pid).unwrap_or(0);
    format!("{prefix}{pid}-{start}-{}", &random_hex_id()[..16])
}

/// Whether the process that made temporary `name` is gone.
fn maker_gone(name: &str, prefix: &str) -> bool {
    let mut parts = name.strip_prefix(prefix).unwrap_or_default().split('-');
    match (
        parts.next().and_then(|p| p.parse().ok()),
        parts.next().and_then(|s| s.parse().ok()),
    ) {
        (Some(pid), Some(start)) => !process::is_same_alive(pid, start),
        _ => true,
    }
}

/// Deletes what killed commands left in `volumes/` (called under the lock):
/// volumes half removed, half made, and half-copied image files.
fn remove_leftovers(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(REMOVING) || (name.starts_with(MAKING) && maker_gone(&name, MAKING)) {
            let _ = fs::remove_dir_all(entry.path());
        } else if validate_name(&name).is_ok() {
            let Ok(inner) = fs::read_dir(entry.path()) else {
                continue;
            };
            for e in inner.filter_map(|e| e.ok()) {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.starts_with(COPYING) && maker_gone(&n, COPYING) {
                    let _ = fs::remove_dir_all(e.path());
                }
            }
        }
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The bytes of everything under `dir` but directories (a symlink counts
/// its target's length), each inode once: Docker's "reclaimed space".
pub(crate) fn tree_size(dir: &Path) -> u64 {
    let mut seen = HashSet::new();
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.filter_map(|e| e.ok()) {
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                pending.push(e.path());
            } else if meta.nlink() <= 1 || seen.insert((meta.dev(), meta.ino())) {
                total += meta.len();
            }
        }
    }
    total
}

/// Docker's copy-up: a volume that is empty when a container mounts it
/// where its image has a directory takes that directory's files, owner and
/// mode. The files are copied beside `_data` (where no container sees them
/// half made) and then moved in; a file a running container made meanwhile
/// wins over the image's.
fn copy_image_content(rootfs: &Path, guest: &str, volume: &Volume) -> Result<()> {
    let Some(source) = resolve_in_root(rootfs, guest) else {
        return Ok(());
    };
    let Ok(source_meta) = fs::symlink_metadata(&source) else {
        return Ok(());
    };
    let data = &volume.mountpoint;
    let empty = fs::read_dir(data)
        .map(|mut d| d.next().is_none())
        .map_err(|e| Error::io(format!("reading {}", data.display()), e))?;
    if !source_meta.is_dir() || !empty {
        return Ok(());
    }
    let context = || {
        format!(
            "copying the image's files at {guest} into volume {}",
            volume.name
        )
    };
    let staging = data.parent().unwrap_or(data).join(temp_name(COPYING));
    let copied = fs::DirBuilder::new()
        .mode(0o700)
        .create(&staging)
        .and_then(|()| copy_tree(&source, &staging, &mut HashMap::new()))
        .and_then(|()| {
            for entry in fs::read_dir(&staging)? {
                let entry = entry?;
                match nix::fcntl::renameat2(
                    nix::fcntl::AT_FDCWD,
                    &entry.path(),
                    nix::fcntl::AT_FDCWD,
                    &data.join(entry.file_name()),
                    nix::fcntl::RenameFlags::RENAME_NOREPLACE,
                ) {
                    Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            copy_owner_and_mode(data, &source_meta)
        });
    let _ = fs::remove_dir_all(&staging);
    copied.map_err(|e| Error::io(context(), e))
}

/// `path` (absolute, in the container) found in `root` as the container
/// would find it: symlinks are followed, but never out of `root` (an
/// absolute target starts again at `root`, `..` stops there), as Docker's
/// FollowSymlinkInScope does. None when something on the way is missing or
/// the links loop.
fn resolve_in_root(root: &Path, path: &str) -> Option<PathBuf> {
    fn push(pending: &mut Vec<OsString>, path: &Path) {
        let parts: Vec<OsString> = path
            .components()
            .filter_map(|c| match c {
                Component::Normal(s) => Some(s.to_owned()),
                Component::ParentDir => Some("..".into()),
                _ => None,
            })
            .collect();
        pending.extend(parts.into_iter().rev());
    }
    let mut resolved = PathBuf::new();
    let mut pending = Vec::new();
    push(&mut pending, Path::new(path));
    let mut links = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let candidate = resolved.join(&part);
        let meta = fs::symlink_metadata(root.join(&candidate)).ok()?;
        if meta.file_type().is_symlink() {
            links += 1;
            if links > 40 {
                return None;
            }
            let target = fs::read_link(root.join(&candidate)).ok()?;
            if target.is_absolute() {
                resolved = PathBuf::new();
            }
            push(&mut pending, &target);
        } else {
            resolved = candidate;
        }
    }
    Some(root.join(resolved))
}

/// Copies the tree under `src` into the existing directory `dst`: files,
/// directories, symlinks (as links), device nodes and fifos, with their
/// owners, modes and times; hard links within the tree stay links.
/// `links`: the first copy of each multiply-linked inode seen.
fn copy_tree(src: &Path, dst: &Path, links: &mut HashMap<(u64, u64), PathBuf>) -> io::Result<()> {
    use nix::sys::stat::{mknod, Mode, SFlag};
    for entry in fs::read_dir(src)? {
        let entry = entry?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let meta = fs::symlink_metadata(&from)?;
        let kind = meta.file_type();
        let inode = (meta.dev(), meta.ino());
        if kind.is_dir() {
            fs::DirBuilder::new().mode(0o700).create(&to)?;
            copy_tree(&from, &to, links)?;
        } else {
            if meta.nlink() > 1 {
                if let Some(first) = links.get(&inode) {
                    fs::hard_link(first, &to)?;
                    continue;
                }
            }
            if kind.is_file() {
                let mut reader = File::open(&from)?;
                let mut writer = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&to)?;
                io::copy(&mut reader, &mut writer)?;
            } else if kind.is_symlink() {
                std::os::unix::fs::symlink(fs::read_link(&from)?, &to)?;
            } else if kind.is_fifo() || kind.is_char_device() || kind.is_block_device() {
                let node = if kind.is_fifo() {
                    SFlag::S_IFIFO
                } else if kind.is_char_device() {
                    SFlag::S_IFCHR
                } else {
                    SFlag::S_IFBLK
                };
                mknod(&to, node, Mode::from_bits_truncate(0o600), meta.rdev())?;
            } else {
                // A socket belongs to the program that listened on it: a
                // copy would be a dead name.
                continue;
            }
            if meta.nlink() > 1 {
                links.insert(inode, to.clone());
            }
        }
        copy_owner_and_mode(&to, &meta)?;
        // After the contents: making them changed a directory's times.
        copy_times(&to, &meta)?;
    }
    Ok(())
}

/// Gives `path` the owner and mode of `meta` (the mode after the owner:
/// chown clears setuid bits). Without the right to chown (a rootless
/// store) the files stay ours, as in rootless Docker.
fn copy_owner_and_mode(path: &Path, meta: &fs::Metadata) -> io::Result<()> {
    match std::os::unix::fs::lchown(path, Some(meta.uid()), Some(meta.gid())) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {}
        Err(e) => return Err(e),
    }
    if !meta.file_type().is_symlink() {
        fs::set_permissions(path, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    }
    Ok(())
}

/// Gives `path` (not following a symlink) the access and modification times of `meta`.
fn copy_times(path: &Path, meta: &fs::Metadata) -> io::Result<()> {
    use nix::sys::stat::{utimensat, UtimensatFlags};
    use nix::sys::time::TimeSpec;
    let atime = TimeSpec::new(meta.atime(), meta.atime_nsec());
    let mtime = TimeSpec::new(meta.mtime(), meta.mtime_nsec());
    utimensat(
        nix::fcntl::AT_FDCWD,
        path,
        &atime,
        &mtime,
        UtimensatFlags::NoFollowSymlink,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dockers_rule() {
        for ok in ["data", "d", "0", "my-data_1.x", &"a".repeat(255)] {
            validate_name(ok).unwrap();
        }
        for bad in [
            "",
            "_x",
            ".x",
            "-x",
            "a/b",
            "a b",
            "../x",
            "é",
            &"a".repeat(256),
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn labels_are_key_value_pairs() {
        let labels = parse_labels(&["a=1".into(), "b".into(), "c=x=y".into()]).unwrap();
        assert_eq!(labels["a"], "1");
        assert_eq!(labels["b"], "");
        assert_eq!(labels["c"], "x=y");
        assert!(parse_labels(&["=v".into()]).is_err());
    }

    #[test]
    fn paths_resolve_inside_the_root_only() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        fs::create_dir_all(root.join("real/dir")).unwrap();
        std::os::unix::fs::symlink("/real", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../real/dir", root.join("real/up")).unwrap();
        std::os::unix::fs::symlink("/", root.join("top")).unwrap();
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        // A host directory the image's links must not reach.
        fs::create_dir_all(tmp.path().join("host-secret")).unwrap();
        std::os::unix::fs::symlink("../host-secret", root.join("escape")).unwrap();

        assert_eq!(
            resolve_in_root(&root, "/real/dir"),
            Some(root.join("real/dir"))
        );
        assert_eq!(
            resolve_in_root(&root, "/abs/dir"),
            Some(root.join("real/dir"))
        );
        assert_eq!(
            resolve_in_root(&root, "/real/up"),
            Some(root.join("real/dir"))
        );
        assert_eq!(resolve_in_root(&root, "/top/real"), Some(root.join("real")));
        assert_eq!(
            resolve_in_root(&root, "/escape"),
            None,
            "no host-secret in root"
        );
        assert_eq!(resolve_in_root(&root, "/loop"), None);
        assert_eq!(resolve_in_root(&root, "/missing/x"), None);
    }

    #[test]
    fn copies_keep_modes_owners_times_links_and_symlinks() {
        use std::os::unix::fs::symlink;
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        fs::create_dir_all(src.join("sub")).unwrap();
        fs::write(src.join("file"), "content").unwrap();
        fs::hard_link(src.join("file"), src.join("sub/link")).unwrap();
        symlink("../file", src.join("sub/sym")).unwrap();
        symlink("/nowhere", src.join("dangling")).unwrap();
        nix::unistd::mkfifo(
            &src.join("fifo"),
            nix::sys::stat::Mode::from_bits_truncate(0o640),
        )
        .unwrap();
        fs::set_permissions(src.join("sub"), fs::Permissions::from_mode(0o751)).unwrap();
        let old = nix::sys::time::TimeSpec::new(1_000_000, 0);
        nix::sys::stat::utimensat(
            nix::fcntl::AT_FDCWD,
            &src.join("sub"),
            &old,
            &old,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .unwrap();
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        if root {
            std::os::unix::fs::lchown(src.join("file"), Some(1234), Some(5678)).unwrap();
        }
        // After the chown, which clears setuid bits.
        fs::set_permissions(src.join("file"), fs::Permissions::from_mode(0o4750)).unwrap();

        let dst = tmp.path().join("dst");
        fs::create_dir(&dst).unwrap();
        copy_tree(&src, &dst, &mut HashMap::new()).unwrap();

        let file = fs::metadata(dst.join("file")).unwrap();
        assert_eq!(fs::read_to_string(dst.join("file")).unwrap(), "content");
        assert_eq!(file.mode() & 0o7777, 0o4750);
        if root {
            assert_eq!((file.uid(), file.gid()), (1234, 5678));
        }
        let link = fs::metadata(dst.join("sub/link")).unwrap();
        assert_eq!(link.ino(), file.ino(), "hard links stay links");
        assert_eq!(
            fs::read_link(dst.join("sub/sym")).unwrap(),
            Path::new("../file")
        );
        assert_eq!(
            fs::read_link(dst.join("dangling")).unwrap(),
            Path::new("/nowhere")
        );
        assert!(fs::symlink_metadata(dst.join("fifo"))
            .unwrap()
            .file_type()
            .is_fifo());
        assert_eq!(
            fs::symlink_metadata(dst.join("fifo")).unwrap().mode() & 0o777,
            0o640
        );
        let sub = fs::metadata(dst.join("sub")).unwrap();
        assert_eq!(sub.mode() & 0o7777, 0o751);
        assert_eq!(sub.mtime(), 1_000_000, "a directory keeps its time");
        // The file once (its second link is free), and the symlinks' targets,
        // as Docker counts a volume's size.
        assert_eq!(
            tree_size(&dst),
            ("content".len() + "../file".len() + "/nowhere".len()) as u64
        );
    }
}
