//! Snapshots: image layers unpacked into flattened, read-only rootfs trees.
//!
//! `<dir>/<chain-id hex>/` holds the flattened tree of layers `1..=N` (like
//! containerd's native snapshotter). It is built by hard-link-copying the
//! parent snapshot (directories recreated, files hard-linked, symlinks
//! recreated) into `<dir>/.tmp-<random>`, applying layer N on top with the
//! safe extractor ([`extract_layer`]), checking the layer's diff id, and
//! renaming into place. A snapshot directory therefore exists only when it
//! is complete; a crash leaves only `.tmp-*` directories, which
//! [`Snapshots::remove_except`] collects.
//!
//! This crate knows nothing of wasmtime or namespaces: a container's rootfs
//! is just the directory [`Snapshots::prepare`] returns.

mod extract;

use std::collections::HashSet;
use std::fs::{self, File, Permissions};
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use wharf_image::expansion::ExpansionMeter;
/// Layer decompression lives with the media types in `wharf-image`;
/// re-exported because callers that unpack layers (engine, build) reach it
/// through this crate.
pub use wharf_image::media::{decompress, Compression};

/// Errors of this crate. Every message names what was wrong (layer, entry)
/// and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An entry that could escape the tree or is otherwise unsafe.
    #[error("entry {entry:?} in {layer} {problem}; the whole layer was refused (nothing was unpacked): the image is corrupt or malicious, use an image from a trusted source")]
    UnsafeEntry {
        layer: String,
        entry: String,
        problem: String,
    },
    /// Character or block device node.
    #[error("device node {entry:?} in {layer} is not supported: image layers may not create devices (containers get their devices at run time); remove it from the image")]
    DeviceNode { layer: String, entry: String },
    /// A tar entry type the extractor does not handle.
    #[error("entry {entry:?} in {layer} has unsupported type {kind}; only files, directories, symlinks, hard links and FIFOs are supported; rebuild the image without it")]
    UnsupportedEntry {
        layer: String,
        entry: String,
        kind: String,
    },
    /// The uncompressed layer does not hash to its declared diff id.
    #[error("{layer}: the uncompressed content has digest {actual} but the image config declares diff_id {expected}; the blob is corrupt or does not belong to this image: remove the image and pull it again")]
    DiffIdMismatch {
        layer: String,
        expected: String,
        actual: String,
    },
    /// A diff id that is not `sha256:<64 hex>`.
    #[error("invalid diff_id {0:?} in the image config: expected \"sha256:\" followed by 64 lowercase hex digits; the image config is malformed, rebuild or re-pull the image")]
    InvalidDiffId(String),
    /// A layer whose media type is not a (compressed) tar.
    #[error("{layer} has media type {media_type:?}, which is not a filesystem layer (tar, tar+gzip or tar+zstd) and cannot be unpacked into a rootfs")]
    UnsupportedMediaType { layer: String, media_type: String },
    /// The (decompressed) stream is not a readable tar archive.
    #[error("reading {layer}: {source}; the blob is truncated or corrupt: remove the image and pull it again")]
    Corrupt {
        layer: String,
        #[source]
        source: io::Error,
    },
    /// The layer expands far more than a filesystem layer does.
    #[error("{layer}: {source}")]
    TooExpanded {
        layer: String,
        #[source]
        source: wharf_image::expansion::TooExpanded,
    },
    /// The layer does not fit in the free space of the store's filesystem.
    #[error("{layer} does not fit: it unpacks to more than {needed} and the filesystem of {dir} has {available} free; nothing of it was kept: free space (wharf system prune, wharf rmi) or put the store (--root) on a larger filesystem")]
    NoSpace {
        layer: String,
        dir: String,
        needed: String,
        available: String,
    },
    /// A file-system operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io_err(context: impl Into<String>, source: io::Error) -> Error {
    Error::Io {
        context: context.into(),
        source,
    }
}

/// One layer to apply: its blob on disk, the blob's media type and the
/// digest of its uncompressed tar (from the image config's `rootfs.diff_ids`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerSource {
    pub blob: PathBuf,
    pub media_type: String,
    pub diff_id: String,
}

/// A locked temp directory among the snapshots; see [`Snapshots::scratch`].
/// Removed when dropped.
#[derive(Debug)]
pub struct Scratch {
    dir: tempfile::TempDir,
    /// Held for the scratch's life: garbage collection skips it.
    lock: File,
}

impl Scratch {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// The snapshot directory (`<root>/snapshots`).
#[derive(Debug, Clone)]
pub struct Snapshots {
    dir: PathBuf,
}

/// A reader that hashes what passes through it.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Extracts a layer tar (plain, gzip or zstd: sniffed from the magic bytes)
/// into `dest`, which must exist, applying OCI whiteouts and refusing unsafe
/// entries (see the crate docs). On error `dest` may hold part of the
/// archive; the caller owns it and should discard it.
pub fn extract_layer(reader: impl Read, dest: &Path) -> Result<()> {
    extract_layer_labeled(reader, dest, "layer archive")
}

/// Like [`extract_layer`], with a label naming the archive in error
/// messages (e.g. `"layer sha256:..."` or `"archive app.tar.gz"`).
///
/// The archive may expand no more than a layer may (see
/// [`wharf_image::expansion`]) nor beyond the free space of `dest`'s
/// filesystem; sparse entries are unpacked as sparse files.
pub fn extract_layer_labeled(reader: impl Read, dest: &Path, label: &str) -> Result<()> {
    let corrupt = |source| Error::Corrupt {
        layer: label.to_string(),
        source,
    };
    let meter = ExpansionMeter::for_stream();
    let space = SpaceMeter::new(dest, label)?;
    let stream = decompress(meter.input(reader), None).map_err(corrupt)?;
    let mut archive = tar::Archive::new(space.output(meter.output(stream)));
    let result = extract::Extractor::new(dest, label).apply(&mut archive);
    bounded(result, &meter, &space, label)
}

/// Replaces the error of an unpacking that a meter stopped by the meter's
/// own (the tar reader reports it as a read error of the entry).
fn bounded<T>(
    result: Result<T>,
    meter: &ExpansionMeter,
    space: &SpaceMeter,
    label: &str,
) -> Result<T> {
    if result.is_ok() {
        return result;
    }
    if let Some(source) = meter.exceeded() {
        return Err(Error::TooExpanded {
            layer: label.to_string(),
            source,
        });
    }
    if let Some(e) = space.exceeded() {
        return Err(e);
    }
    result
}

/// Stops an unpacking once it has read more uncompressed bytes than the
/// destination's filesystem had free when it started (statvfs): a layer
/// that cannot fit fails with a clear error before it fills the disk for
/// every other user of it.
#[derive(Debug, Clone)]
struct SpaceMeter {
    dir: PathBuf,
    label: String,
    available: u64,
    tripped: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl SpaceMeter {
    fn new(dir: &Path, label: &str) -> Result<SpaceMeter> {
        let c = extract::cpath(dir)?;
        // SAFETY: statvfs fills the zeroed struct from a valid C string path.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
            return Err(io_err(
                format!("checking the free space of {}", dir.display()),
                io::Error::last_os_error(),
            ));
        }
        Ok(SpaceMeter {
            dir: dir.to_path_buf(),
            label: label.to_string(),
            available: (st.f_bavail as u64).saturating_mul(st.f_frsize as u64),
            tripped: Default::default(),
        })
    }

    fn output<R: Read>(&self, inner: R) -> SpaceReader<R> {
        SpaceReader {
            inner,
            meter: self.clone(),
            read: 0,
        }
    }

    fn exceeded(&self) -> Option<Error> {
        use std::sync::atomic::Ordering;
        let needed = self.tripped.load(Ordering::Relaxed);
        (needed > 0).then(|| Error::NoSpace {
            layer: self.label.clone(),
            dir: self.dir.display().to_string(),
            needed: wharf_image::expansion::human(needed),
            available: wharf_image::expansion::human(self.available),
        })
    }
}

struct SpaceReader<R> {
    inner: R,
    meter: SpaceMeter,
    read: u64,
}

impl<R: Read> Read for SpaceReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.meter.available {
            self.meter
                .tripped
                .store(self.read, std::sync::atomic::Ordering::Relaxed);
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                format!("the filesystem of {} is full", self.meter.dir.display()),
            ));
        }
        Ok(n)
    }
}

fn parse_digest(d: &str) -> Option<&str> {
    let hex = d.strip_prefix("sha256:")?;
    (hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then_some(hex)
}

impl Snapshots {
    /// Snapshots kept in `dir` (normally `<root>/snapshots`); created on
    /// first use.
    pub fn new(dir: PathBuf) -> Snapshots {
        Snapshots { dir }
    }

    /// The snapshot directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// OCI chain ids of a list of diff ids: `ChainID(L0) = DiffID(L0)`,
    /// `ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))`.
    pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
        let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
        for d in diff_ids {
            let next = match out.last() {
                None => d.clone(),
                Some(prev) => {
                    let h = Sha256::digest(format!("{prev} {d}").as_bytes());
                    format!("sha256:{}", hex::encode(h))
                }
            };
            out.push(next);
        }
        out
    }

    /// Where the snapshot of `chain_id` lives (`dir/<hex>`). It is complete
    /// when it exists. A chain id that is not `sha256:<hex>` or `<hex>` is
    /// hashed, so the result always stays inside `dir`.
    pub fn path(&self, chain_id: &str) -> PathBuf {
        let hex = chain_id.split_once(':').map(|(_, h)| h).unwrap_or(chain_id);
        if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            self.dir.join(hex.to_ascii_lowercase())
        } else {
            self.dir
                .join(hex::encode(Sha256::digest(chain_id.as_bytes())))
        }
    }

    /// A scratch directory among the snapshots (`.tmp-*`, locked while the
    /// returned value lives): for unpacking that is not a snapshot (a
    /// build's `ADD archive.tar.gz`), on the store's filesystem and collected
    /// with the snapshots' temp dirs once its holder is gone, even killed.
    pub fn scratch(&self) -> Result<Scratch> {
        fs::create_dir_all(&self.dir).map_err(|e| {
            io_err(
                format!("creating snapshot directory {}", self.dir.display()),
                e,
            )
        })?;
        let dir = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempdir_in(&self.dir)
            .map_err(|e| {
                io_err(
                    format!("creating a temporary directory in {}", self.dir.display()),
                    e,
                )
            })?;
        let lock = File::open(dir.path())
            .map_err(|e| io_err(format!("opening {}", dir.path().display()), e))?;
        // SAFETY: valid fd.
        unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        Ok(Scratch { dir, lock })
    }

    /// Whether the complete snapshot of `chain_id` exists.
    pub fn exists(&self, chain_id: &str) -> bool {
        self.path(chain_id).is_dir()
    }

    /// Builds the missing chain snapshots of `layers` bottom-up and returns
    /// the top one's path. An empty list gives the empty snapshot
    /// `dir/empty`.
    pub fn prepare(&self, layers: &[LayerSource]) -> Result<PathBuf> {
        fs::create_dir_all(&self.dir).map_err(|e| {
            io_err(
                format!("creating snapshot directory {}", self.dir.display()),
                e,
            )
        })?;
        if layers.is_empty() {
            let p = self.dir.join("empty");
            match fs::create_dir(&p) {
                Ok(()) => fs::set_permissions(&p, Permissions::from_mode(0o755))
                    .map_err(|e| io_err(format!("setting mode of {}", p.display()), e))?,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_err(format!("creating {}", p.display()), e)),
            }
            return Ok(p);
        }
        for l in layers {
            if parse_digest(&l.diff_id).is_none() {
                return Err(Error::InvalidDiffId(l.diff_id.clone()));
            }
        }
        let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id.clone()).collect();
        let chains = Self::chain_ids(&diff_ids);
        let start = (0..chains.len())
            .rev()
            .find(|&i| self.exists(&chains[i]))
            .map(|i| i + 1)
            .unwrap_or(0);
        for i in start..chains.len() {
            let parent = (i > 0).then(|| self.path(&chains[i - 1]));
            self.build_one(parent.as_deref(), &layers[i], &chains[i])?;
        }
        Ok(self.path(&chains[chains.len() - 1]))
    }

    fn build_one(&self, parent: Option<&Path>, layer: &LayerSource, chain_id: &str) -> Result<()> {
        let label = layer_label(layer);
        // Locked while building: garbage collection skips locked temp dirs.
        let Scratch { dir: tmp, lock } = self.scratch()?;

        match parent {
            Some(p) => copy_tree(p, tmp.path())?,
            None => fs::set_permissions(tmp.path(), Permissions::from_mode(0o755))
                .map_err(|e| io_err(format!("setting mode of {}", tmp.path().display()), e))?,
        }

        let mt = layer.media_type.to_ascii_lowercase();
        if !(mt.is_empty() || mt.contains("tar") || mt.contains("rootfs")) {
            return Err(Error::UnsupportedMediaType {
                layer: label,
                media_type: layer.media_type.clone(),
            });
        }
        let corrupt = |source| Error::Corrupt {
            layer: label.clone(),
            source,
        };
        let blob = File::open(&layer.blob).map_err(|e| {
            io_err(
                format!("opening blob {} of {label}", layer.blob.display()),
                e,
            )
        })?;
        let size = blob
            .metadata()
            .map_err(|e| io_err(format!("inspecting blob {}", layer.blob.display()), e))?
            .len();
        let meter = ExpansionMeter::for_blob(size);
        let space = SpaceMeter::new(tmp.path(), &label)?;
        let stream =
            decompress(blob, Compression::from_media_type(&layer.media_type)).map_err(corrupt)?;
        let mut hashing = HashingReader {
            inner: space.output(meter.output(stream)),
            hasher: Sha256::new(),
        };
        {
            let mut archive = tar::Archive::new(&mut hashing);
            let result = extract::Extractor::new(tmp.path(), &label).apply(&mut archive);
            bounded(result, &meter, &space, &label)?;
        }
        // Hash what follows the last entry too (end blocks, padding).
        let rest = io::copy(&mut hashing, &mut io::sink()).map_err(corrupt);
        bounded(rest, &meter, &space, &label)?;
        let actual = format!("sha256:{}", hex::encode(hashing.hasher.finalize()));
        if actual != layer.diff_id {
            return Err(Error::DiffIdMismatch {
                layer: label,
                expected: layer.diff_id.clone(),
                actual,
            });
        }

        // SAFETY: valid fd.
        if unsafe { libc::syncfs(lock.as_raw_fd()) } != 0 {
            return Err(io_err(
                format!("syncing {}", tmp.path().display()),
                io::Error::last_os_error(),
            ));
        }
        let target = self.path(chain_id);
        match fs::rename(tmp.path(), &target) {
            Ok(()) => {
                let _ = tmp.keep();
                if let Ok(d) = File::open(&self.dir) {
                    let _ = d.sync_all();
                }
                Ok(())
            }
            // A concurrent process won: keep its snapshot, drop ours.
            Err(_) if target.is_dir() => {
                let _ = remove_any_dir(tmp.path());
                Ok(())
            }
            Err(e) => Err(io_err(
                format!("renaming {} to {}", tmp.path().display(), target.display()),
                e,
            )),
        }
    }

    /// Garbage collection: removes every snapshot whose chain id is not in
    /// `keep` (given as `sha256:<hex>` or `<hex>`) and every stale `.tmp-*`
    /// directory (not locked by a build in progress). Returns the number of
    /// directories removed. The empty snapshot and unknown names are kept.
    pub fn remove_except(&self, keep: &HashSet<String>) -> Result<u64> {
        let keep: HashSet<String> = keep
            .iter()
            .map(|k| {
                k.split_once(':')
                    .map(|(_, h)| h)
                    .unwrap_or(k)
                    .to_ascii_lowercase()
            })
            .collect();
        let rd = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io_err(format!("reading {}", self.dir.display()), e)),
        };
        let mut removed = 0;
        for entry in rd {
            let entry = entry.map_err(|e| io_err(format!("reading {}", self.dir.display()), e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if name.starts_with(".tmp-") {
                if is_locked(&path) {
                    continue;
                }
                remove_any_dir(&path)?;
                removed += 1;
            } else if name.len() == 64
                && name.bytes().all(|b| b.is_ascii_hexdigit())
                && !keep.contains(&name)
            {
                // Rename first so nobody sees a half-removed snapshot.
                let doomed = self
                    .dir
                    .join(format!(".tmp-del-{name}-{}", std::process::id()));
                match fs::rename(&path, &doomed) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => {
                        return Err(io_err(
                            format!("renaming {} for removal", path.display()),
                            e,
                        ))
                    }
                }
                remove_any_dir(&doomed)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// "layer sha256:<blob hex>" when the blob is named by its digest (as in
/// the content store), else "layer <blob path>".
fn layer_label(layer: &LayerSource) -> String {
    let name = layer
        .blob
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
        format!("layer sha256:{name}")
    } else {
        format!("layer {}", layer.blob.display())
    }
}

fn remove_any_dir(p: &Path) -> Result<()> {
    extract::remove_any(p, extract::is_root())
        .map_err(|e| io_err(format!("removing {}", p.display()), e))
}

fn is_locked(p: &Path) -> bool {
    let Ok(f) = File::open(p) else {
        return false;
    };
    // SAFETY: valid fd.
    let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    r != 0
}

/// Hard-link copy of the tree at `src` into the existing directory `dst`:
/// directories recreated with the same mode, owner and mtime, symlinks
/// recreated, everything else hard-linked.
fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    let root = extract::is_root();
    copy_dir_contents(src, dst, root)?;
    copy_dir_meta(src, dst, root)
}

fn copy_dir_meta(src: &Path, dst: &Path, root: bool) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let m = fs::symlink_metadata(src)
        .map_err(|e| io_err(format!("inspecting {}", src.display()), e))?;
    if root {
        extract::lchown(dst, m.uid(), m.gid())?;
    }
    fs::set_permissions(dst, Permissions::from_mode(m.mode() & 0o7777))
        .map_err(|e| io_err(format!("setting mode of {}", dst.display()), e))?;
    extract::lutimes(dst, m.mtime())
        .map_err(|e| io_err(format!("setting mtime of {}", dst.display()), e))
}

fn copy_dir_contents(src: &Path, dst: &Path, root: bool) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let rd = fs::read_dir(src).map_err(|e| io_err(format!("reading {}", src.display()), e))?;
    for entry in rd {
        let entry = entry.map_err(|e| io_err(format!("reading {}", src.display()), e))?;
        let s = entry.path();
        let d = dst.join(entry.file_name());
        let ft = entry
            .file_type()
            .map_err(|e| io_err(format!("inspecting {}", s.display()), e))?;
        if ft.is_dir() {
            fs::create_dir(&d).map_err(|e| io_err(format!("creating {}", d.display()), e))?;
            copy_dir_contents(&s, &d, root)?;
            copy_dir_meta(&s, &d, root)?;
        } else if ft.is_symlink() {
            let m = fs::symlink_metadata(&s)
                .map_err(|e| io_err(format!("inspecting {}", s.display()), e))?;
            let target = fs::read_link(&s)
                .map_err(|e| io_err(format!("reading link {}", s.display()), e))?;
            std::os::unix::fs::symlink(&target, &d)
                .map_err(|e| io_err(format!("creating symlink {}", d.display()), e))?;
            if root {
                extract::lchown(&d, m.uid(), m.gid())?;
            }
            extract::lutimes(&d, m.mtime())
                .map_err(|e| io_err(format!("setting mtime of {}", d.display()), e))?;
        } else {
            extract::link_or_copy(&s, &d)?;
        }
    }
    Ok(())
}

/// Resolves `path` inside `root` the way the container will see it: `root`
/// is `/`, symlinks (absolute ones too) are followed within it, and `..`
/// never climbs above it. None when a component does not exist.
pub fn resolve_in_root(root: &Path, path: impl AsRef<Path>) -> Option<PathBuf> {
    walk_in_root(root, path.as_ref(), false)
}

/// Like [`resolve_in_root`], for a path that may not exist yet (a mount
/// point or working directory to be made): symlinks of the existing part
/// are followed inside `root`, as runc's securejoin does, and the missing
/// rest is appended as it is (`..` in it stays within `root`). The result
/// is inside `root` and none of its existing components is a symlink.
pub fn resolve_in_root_for_create(root: &Path, path: impl AsRef<Path>) -> PathBuf {
    walk_in_root(root, path.as_ref(), true).unwrap_or_else(|| root.to_path_buf())
}

/// The walk behind both: a stack of resolved components and a stack of
/// pending ones, a symlink's target pushed onto the pending ones (an
/// absolute one clearing the resolved ones first), at most 40 links
/// followed. `for_create` appends a missing rest as it is and takes a link
/// it cannot follow as a plain name; otherwise either is None.
fn walk_in_root(root: &Path, path: &Path, for_create: bool) -> Option<PathBuf> {
    fn push_reversed(pending: &mut Vec<std::ffi::OsString>, path: &Path) {
        for c in path.components().rev() {
            match c {
                std::path::Component::Normal(n) => pending.push(n.to_os_string()),
                std::path::Component::ParentDir => pending.push("..".into()),
                _ => {}
            }
        }
    }
    let joined =
        |stack: &[std::ffi::OsString]| stack.iter().fold(root.to_path_buf(), |p, c| p.join(c));
    let mut stack: Vec<std::ffi::OsString> = Vec::new();
    let mut pending = Vec::new();
    push_reversed(&mut pending, path);
    let mut hops = 0;
    let mut missing = false;
    while let Some(part) = pending.pop() {
        if part == ".." {
            stack.pop();
            continue;
        }
        if !missing {
            let host = joined(&stack).join(&part);
            match std::fs::symlink_metadata(&host) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    let target = (hops < 40)
                        .then(|| std::fs::read_link(&host).ok())
                        .flatten();
                    match target {
                        Some(target) => {
                            hops += 1;
                            if target.is_absolute() {
                                stack.clear();
                            }
                            push_reversed(&mut pending, &target);
                            continue;
                        }
                        None if !for_create => return None,
                        None => {}
                    }
                }
                Ok(_) => {}
                Err(_) if !for_create => return None,
                Err(_) => missing = true,
            }
        }
        stack.push(part);
    }
    Some(joined(&stack))
}

#[cfg(test)]
mod resolve_tests {
    use super::*;

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("opt/app")).unwrap();
        std::fs::write(root.join("opt/app/app.wasm"), b"x").unwrap();
        std::os::unix::fs::symlink("/opt/app/app.wasm", root.join("app.wasm")).unwrap();
        std::os::unix::fs::symlink("../../../../etc", root.join("opt/escape")).unwrap();
        assert_eq!(
            resolve_in_root(root, "/app.wasm").unwrap(),
            root.join("opt/app/app.wasm")
        );
        assert_eq!(
            resolve_in_root(root, "/../../opt/app/app.wasm").unwrap(),
            root.join("opt/app/app.wasm")
        );
        // `../../../../etc` from /opt climbs to the root and no further.
        assert_eq!(resolve_in_root(root, "/opt/escape"), None);
        assert_eq!(resolve_in_root(root, "/missing"), None);
        // Dangling absolute links and missing rests stay inside the root.
        std::os::unix::fs::symlink("/real/work", root.join("work")).unwrap();
        assert_eq!(
            resolve_in_root_for_create(root, "/work/new"),
            root.join("real/work/new")
        );
        assert_eq!(
            resolve_in_root_for_create(root, "/opt/escape/x"),
            root.join("etc/x")
        );
        assert_eq!(
            resolve_in_root_for_create(root, "/app.wasm"),
            root.join("opt/app/app.wasm")
        );
    }
}
