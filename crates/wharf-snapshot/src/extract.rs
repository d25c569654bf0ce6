//! The safe layer extractor.
//!
//! Never follows a symlink while writing: every parent component of an entry
//! is checked with `lstat` inside the destination, files are created with
//! `O_EXCL|O_NOFOLLOW` after unlinking whatever was at the path (so a hard
//! link shared with a parent snapshot is never written through), and entries
//! that could escape the tree are refused with an error naming them.

use std::collections::{BTreeMap, HashSet};
use std::ffi::CString;
use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Component, Path, PathBuf};

use crate::{io_err, Error, Result};

/// Name of the opaque-directory whiteout marker.
const OPAQUE: &[u8] = b".wh..wh..opq";
/// Prefix of a whiteout entry.
const WH_PREFIX: &[u8] = b".wh.";

pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Deferred metadata of a directory, applied after every entry of the layer
/// (adding children changes a directory's mtime, and a read-only directory
/// could not receive children when not running as root).
#[derive(Clone, Copy)]
struct DirMeta {
    mode: u32,
    mtime: Option<i64>,
}

/// The metadata a tar header gives an entry, cut down to what this process
/// may apply: the mode without setuid/setgid unless root, the owner only
/// when root.
#[derive(Clone, Copy)]
struct EntryAttrs {
    mode: u32,
    mtime: Option<i64>,
    owner: Option<(u32, u32)>,
}

pub(crate) struct Extractor<'a> {
    dest: &'a Path,
    label: &'a str,
    root: bool,
    /// Relative paths written (or walked through) by this layer; an opaque
    /// whiteout keeps these and removes everything else in its directory.
    unpacked: HashSet<PathBuf>,
    dir_meta: BTreeMap<PathBuf, DirMeta>,
}

impl<'a> Extractor<'a> {
    pub(crate) fn new(dest: &'a Path, label: &'a str) -> Self {
        Extractor {
            dest,
            label,
            root: is_root(),
            unpacked: HashSet::new(),
            dir_meta: BTreeMap::new(),
        }
    }

    /// Applies every entry of `archive`, then the deferred directory metadata.
    pub(crate) fn apply<R: Read>(&mut self, archive: &mut tar::Archive<R>) -> Result<()> {
        let entries = archive.entries().map_err(|e| self.corrupt(e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| self.corrupt(e))?;
            self.entry(&mut entry)?;
        }
        self.finish()
    }

    fn corrupt(&self, source: io::Error) -> Error {
        Error::Corrupt {
            layer: self.label.to_string(),
            source,
        }
    }

    fn unsafe_entry(&self, entry: &Path, problem: impl Into<String>) -> Error {
        Error::UnsafeEntry {
            layer: self.label.to_string(),
            entry: entry.display().to_string(),
            problem: problem.into(),
        }
    }

    /// Turns an archive path into a relative path of normal components,
    /// refusing absolute paths and `..`.
    fn clean(&self, entry: &Path, raw: &Path, what: &str) -> Result<PathBuf> {
        let mut out = PathBuf::new();
        for c in raw.components() {
            match c {
                Component::Normal(n) => out.push(n),
                Component::CurDir => {}
                Component::ParentDir => {
                    return Err(self.unsafe_entry(
                        entry,
                        format!(
                            "has a '..' component in its {what} {:?}",
                            raw.display().to_string()
                        ),
                    ))
                }
                Component::RootDir | Component::Prefix(_) => {
                    return Err(self.unsafe_entry(
                        entry,
                        format!("has an absolute {what} {:?}", raw.display().to_string()),
                    ))
                }
            }
        }
        Ok(out)
    }

    /// Checks (and, when `create`, creates) every parent directory of `rel`
    /// without following symlinks. Returns the full path of `rel`, or `None`
    /// when a parent is missing and `create` is false.
    fn parent_of(&mut self, entry: &Path, rel: &Path, create: bool) -> Result<Option<PathBuf>> {
        let mut full = self.dest.to_path_buf();
        let mut cur = PathBuf::new();
        let parent = rel.parent().unwrap_or(Path::new(""));
        for c in parent.components() {
            full.push(c);
            cur.push(c);
            match fs::symlink_metadata(&full) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(self.unsafe_entry(
                        entry,
                        format!(
                            "goes through {:?}, which is a symlink; extracting through a symlink could write outside the root",
                            cur.display().to_string()
                        ),
                    ))
                }
                Ok(m) if m.is_dir() => {
                    // Keep the directory's mode and mtime as they were
                    // unless an entry of this layer sets them.
                    let mode = m.permissions().mode() & 0o7777;
                    let mtime = Some(mtime_of(&m));
                    self.dir_meta
                        .entry(cur.clone())
                        .or_insert(DirMeta { mode, mtime });
                    if !self.root && mode & 0o300 != 0o300 {
                        fs::set_permissions(&full, Permissions::from_mode(mode | 0o700))
                            .map_err(|e| io_err(format!("making {} writable", full.display()), e))?;
                    }
                }
                Ok(_) => {
                    return Err(self.unsafe_entry(
                        entry,
                        format!(
                            "needs {:?} to be a directory, but a lower layer or an earlier entry made it a file; the layer is inconsistent",
                            cur.display().to_string()
                        ),
                    ))
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    if !create {
                        return Ok(None);
                    }
                    fs::DirBuilder::new()
                        .mode(0o755)
                        .create(&full)
                        .map_err(|e| io_err(format!("creating directory {}", full.display()), e))?;
                    // Undo the umask.
                    fs::set_permissions(&full, Permissions::from_mode(0o755))
                        .map_err(|e| io_err(format!("setting mode of {}", full.display()), e))?;
                }
                Err(e) => return Err(io_err(format!("inspecting {}", full.display()), e)),
            }
            self.unpacked.insert(cur.clone());
        }
        Ok(Some(self.dest.join(rel)))
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<R>) -> Result<()> {
        let raw = entry.path().map_err(|e| self.corrupt(e))?.into_owned();
        let rel = self.clean(&raw, &raw, "path")?;
        let kind = entry.header().entry_type();
        let name = rel
            .file_name()
            .map(|n| n.as_bytes().to_vec())
            .unwrap_or_default();

        if name.starts_with(WH_PREFIX) {
            return self.whiteout(&raw, &rel, &name);
        }

        let header = entry.header();
        let mask = if self.root { 0o7777 } else { 0o1777 };
        let mode = header.mode().map_err(|e| self.corrupt(e))? & mask;
        let mtime = header.mtime().ok().map(|t| t as i64);
        let owner = match (header.uid(), header.gid()) {
            (Ok(u), Ok(g)) => match (u32::try_from(u), u32::try_from(g)) {
                (Ok(u), Ok(g)) => Some((u, g)),
                _ => None,
            },
            _ => None,
        };
        let owner = if self.root { owner } else { None };
        let attrs = EntryAttrs { mode, mtime, owner };

        use tar::EntryType as T;
        match kind {
            T::Directory => self.directory(&raw, &rel, attrs),
            T::Regular | T::Continuous => self.regular(entry, &raw, &rel, attrs),
            T::GNUSparse => self.sparse(entry, &raw, &rel, attrs),
            T::Symlink => {
                let target = self.link_target(entry, &raw, "symlink")?;
                self.symlink(&raw, &rel, &target, attrs)
            }
            T::Link => {
                let target = self.link_target(entry, &raw, "hard link")?;
                self.hard_link(&raw, &rel, &target)
            }
            T::Fifo => self.fifo(&raw, &rel, attrs),
            T::Char | T::Block => Err(Error::DeviceNode {
                layer: self.label.to_string(),
                entry: raw.display().to_string(),
            }),
            T::XGlobalHeader => Ok(()),
            other => Err(Error::UnsupportedEntry {
                layer: self.label.to_string(),
                entry: raw.display().to_string(),
                kind: format!("{other:?}"),
            }),
        }
    }

    /// The target of a symlink or hard link entry (`kind` names which, for
    /// the error when it has none).
    fn link_target<R: Read>(
        &self,
        entry: &tar::Entry<R>,
        raw: &Path,
        kind: &str,
    ) -> Result<PathBuf> {
        Ok(entry
            .link_name()
            .map_err(|e| self.corrupt(e))?
            .ok_or_else(|| self.unsafe_entry(raw, format!("is a {kind} without a target")))?
            .into_owned())
    }

    fn whiteout(&mut self, raw: &Path, rel: &Path, name: &[u8]) -> Result<()> {
        if name == OPAQUE {
            let Some(full) = self.parent_of(raw, rel, true)? else {
                return Ok(());
            };
            let dir = full.parent().unwrap_or(self.dest).to_path_buf();
            let dir_rel = rel.parent().unwrap_or(Path::new("")).to_path_buf();
            self.unpacked.insert(dir_rel.clone());
            return self.empty_opaque(&dir, &dir_rel);
        }
        if name.starts_with(b".wh..wh.") {
            // aufs metadata (.wh..wh.plnk, .wh..wh.aufs): nothing to apply.
            return Ok(());
        }
        let target = &name[WH_PREFIX.len()..];
        if target.is_empty() || target == b"." || target == b".." {
            return Err(self.unsafe_entry(raw, "is a whiteout that names no valid file"));
        }
        let Some(full) = self.parent_of(raw, rel, false)? else {
            return Ok(());
        };
        let victim = full
            .parent()
            .unwrap_or(self.dest)
            .join(std::ffi::OsStr::from_bytes(target));
        remove_any(&victim, self.root)
            .map_err(|e| io_err(format!("applying whiteout {}", raw.display()), e))
    }

    /// Removes what lower layers put in `dir`, keeping entries of this layer.
    fn empty_opaque(&self, dir: &Path, dir_rel: &Path) -> Result<()> {
        let rd = fs::read_dir(dir).map_err(|e| io_err(format!("reading {}", dir.display()), e))?;
        for child in rd {
            let child = child.map_err(|e| io_err(format!("reading {}", dir.display()), e))?;
            let rel = dir_rel.join(child.file_name());
            let path = child.path();
            if self.unpacked.contains(&rel) {
                let ft = child
                    .file_type()
                    .map_err(|e| io_err(format!("inspecting {}", path.display()), e))?;
                if ft.is_dir() {
                    self.empty_opaque(&path, &rel)?;
                }
            } else {
                remove_any(&path, self.root).map_err(|e| {
                    io_err(format!("applying opaque whiteout in {}", dir.display()), e)
                })?;
            }
        }
        Ok(())
    }

    fn directory(&mut self, raw: &Path, rel: &Path, attrs: EntryAttrs) -> Result<()> {
        let EntryAttrs { mode, mtime, owner } = attrs;
        if rel.as_os_str().is_empty() {
            self.dir_meta
                .insert(PathBuf::new(), DirMeta { mode, mtime });
            if let Some((u, g)) = owner {
                lchown(self.dest, u, g)?;
            }
            return Ok(());
        }
        let full = self.parent_of(raw, rel, true)?.expect("created");
        match fs::symlink_metadata(&full) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                remove_any(&full, self.root)
                    .map_err(|e| io_err(format!("replacing {}", full.display()), e))?;
                make_dir(&full)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => make_dir(&full)?,
            Err(e) => return Err(io_err(format!("inspecting {}", full.display()), e)),
        }
        if let Some((u, g)) = owner {
            lchown(&full, u, g)?;
        }
        self.dir_meta
            .insert(rel.to_path_buf(), DirMeta { mode, mtime });
        self.unpacked.insert(rel.to_path_buf());
        Ok(())
    }

    fn prepare_target(&mut self, raw: &Path, rel: &Path) -> Result<PathBuf> {
        if rel.as_os_str().is_empty() {
            return Err(self.unsafe_entry(raw, "replaces the root directory with a non-directory"));
        }
        let full = self.parent_of(raw, rel, true)?.expect("created");
        remove_any(&full, self.root)
            .map_err(|e| io_err(format!("replacing {}", full.display()), e))?;
        self.unpacked.insert(rel.to_path_buf());
        Ok(full)
    }

    fn regular<R: Read>(
        &mut self,
        entry: &mut tar::Entry<R>,
        raw: &Path,
        rel: &Path,
        attrs: EntryAttrs,
    ) -> Result<()> {
        let full = self.prepare_target(raw, rel)?;
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&full)
            .map_err(|e| io_err(format!("creating {}", full.display()), e))?;
        io::copy(entry, &mut f).map_err(|e| self.corrupt(e))?;
        self.finish_file(&f, &full, attrs)
    }

    /// A GNU sparse entry: only its data blocks are written, its holes stay
    /// holes (the tar crate's unpack seeks over them instead of reading
    /// zeros), so a tiny entry with a huge logical size neither fills the
    /// disk nor keeps this process writing zeros.
    fn sparse<R: Read>(
        &mut self,
        entry: &mut tar::Entry<R>,
        raw: &Path,
        rel: &Path,
        attrs: EntryAttrs,
    ) -> Result<()> {
        let full = self.prepare_target(raw, rel)?;
        // Metadata is applied below, as for every file, not by tar.
        entry.set_preserve_permissions(false);
        entry.set_preserve_mtime(false);
        entry.set_unpack_xattrs(false);
        // `full` was just removed and its parents checked: tar creates it
        // with O_EXCL, which does not follow a symlink.
        entry.unpack(&full).map_err(|e| self.corrupt(e))?;
        let f = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&full)
            .map_err(|e| io_err(format!("opening {}", full.display()), e))?;
        if !f
            .metadata()
            .map_err(|e| io_err(format!("inspecting {}", full.display()), e))?
            .is_file()
        {
            return Err(
                self.unsafe_entry(raw, "is a sparse file entry that did not unpack to a file")
            );
        }
        self.finish_file(&f, &full, attrs)
    }

    /// Owner, mode and mtime of a file just written.
    fn finish_file(&self, f: &File, full: &Path, attrs: EntryAttrs) -> Result<()> {
        let EntryAttrs { mode, mtime, owner } = attrs;
        if let Some((u, g)) = owner {
            std::os::unix::fs::fchown(f, Some(u), Some(g))
                .map_err(|e| io_err(format!("changing owner of {}", full.display()), e))?;
        }
        // After chown: chown clears setuid/setgid.
        f.set_permissions(Permissions::from_mode(mode))
            .map_err(|e| io_err(format!("setting mode of {}", full.display()), e))?;
        if let Some(t) = mtime {
            futimes(f, t).map_err(|e| io_err(format!("setting mtime of {}", full.display()), e))?;
        }
        Ok(())
    }

    /// A symlink's mode means nothing on Linux, so only its owner and mtime
    /// are applied.
    fn symlink(&mut self, raw: &Path, rel: &Path, target: &Path, attrs: EntryAttrs) -> Result<()> {
        if !target.is_absolute() {
            let mut depth = rel.components().count() as i64 - 1;
            for c in target.components() {
                match c {
                    Component::ParentDir => {
                        depth -= 1;
                        if depth < 0 {
                            return Err(self.unsafe_entry(
                                raw,
                                format!(
                                    "is a symlink to {:?}, which points outside the root",
                                    target.display().to_string()
                                ),
                            ));
                        }
                    }
                    Component::Normal(_) => depth += 1,
                    _ => {}
                }
            }
        }
        let full = self.prepare_target(raw, rel)?;
        std::os::unix::fs::symlink(target, &full)
            .map_err(|e| io_err(format!("creating symlink {}", full.display()), e))?;
        set_metadata(&full, attrs.owner, None, attrs.mtime)
    }

    fn hard_link(&mut self, raw: &Path, rel: &Path, target: &Path) -> Result<()> {
        let target_rel = self.clean(raw, target, "hard link target")?;
        if target_rel.as_os_str().is_empty() {
            return Err(self.unsafe_entry(raw, "is a hard link to the root directory"));
        }
        if target_rel == rel {
            return Err(self.unsafe_entry(raw, "is a hard link to itself"));
        }
        let missing = |this: &Self| {
            this.unsafe_entry(
                raw,
                format!(
                    "is a hard link to {:?}, which does not exist in the tree (it must come earlier in this or a lower layer)",
                    target.display().to_string()
                ),
            )
        };
        let Some(target_full) = self.parent_of(raw, &target_rel, false)? else {
            return Err(missing(self));
        };
        match fs::symlink_metadata(&target_full) {
            Ok(m) if m.is_dir() => {
                return Err(self.unsafe_entry(
                    raw,
                    format!(
                        "is a hard link to directory {:?}",
                        target.display().to_string()
                    ),
                ))
            }
            Ok(_) => {}
            Err(_) => return Err(missing(self)),
        }
        let full = self.prepare_target(raw, rel)?;
        link_or_copy(&target_full, &full)
    }

    fn fifo(&mut self, raw: &Path, rel: &Path, attrs: EntryAttrs) -> Result<()> {
        let full = self.prepare_target(raw, rel)?;
        let c = cpath(&full)?;
        // SAFETY: c is a valid NUL-terminated path.
        if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
            return Err(io_err(
                format!("creating fifo {}", full.display()),
                io::Error::last_os_error(),
            ));
        }
        set_metadata(&full, attrs.owner, Some(attrs.mode), attrs.mtime)
    }

    /// True when every component of `rel` is a real directory (no symlinks):
    /// deferred metadata must never be applied through a symlink that a later
    /// entry put in place of a directory.
    fn real_dir_chain(&self, rel: &Path) -> bool {
        let mut full = self.dest.to_path_buf();
        for c in rel.components() {
            full.push(c);
            match fs::symlink_metadata(&full) {
                Ok(m) if m.is_dir() => {}
                _ => return false,
            }
        }
        true
    }

    fn finish(&mut self) -> Result<()> {
        for (rel, meta) in self.dir_meta.iter().rev() {
            if !self.real_dir_chain(rel) {
                continue;
            }
            set_metadata(&self.dest.join(rel), None, Some(meta.mode), meta.mtime)?;
        }
        Ok(())
    }
}

/// Applies what is given of owner, mode and mtime to the entry at `full`,
/// in that order (chown clears setuid/setgid, so the mode comes after it).
/// Owner and mtime never follow a final symlink; a mode is only given for
/// entries that are not symlinks, since `chmod` would follow one.
fn set_metadata(
    full: &Path,
    owner: Option<(u32, u32)>,
    mode: Option<u32>,
    mtime: Option<i64>,
) -> Result<()> {
    if let Some((u, g)) = owner {
        lchown(full, u, g)?;
    }
    if let Some(mode) = mode {
        fs::set_permissions(full, Permissions::from_mode(mode))
            .map_err(|e| io_err(format!("setting mode of {}", full.display()), e))?;
    }
    if let Some(t) = mtime {
        lutimes(full, t).map_err(|e| io_err(format!("setting mtime of {}", full.display()), e))?;
    }
    Ok(())
}

fn make_dir(full: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .mode(0o700)
        .create(full)
        .map_err(|e| io_err(format!("creating directory {}", full.display()), e))
}

pub(crate) fn mtime_of(m: &fs::Metadata) -> i64 {
    use std::os::unix::fs::MetadataExt;
    m.mtime()
}

pub(crate) fn cpath(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| {
        io_err(
            format!("path {} contains a NUL byte", p.display()),
            io::Error::from(io::ErrorKind::InvalidInput),
        )
    })
}

pub(crate) fn lchown(p: &Path, uid: u32, gid: u32) -> Result<()> {
    std::os::unix::fs::lchown(p, Some(uid), Some(gid))
        .map_err(|e| io_err(format!("changing owner of {}", p.display()), e))
}

fn times(secs: i64) -> [libc::timespec; 2] {
    let ts = libc::timespec {
        tv_sec: secs as libc::time_t,
        tv_nsec: 0,
    };
    [ts, ts]
}

/// Sets atime and mtime of `p` without following a final symlink.
pub(crate) fn lutimes(p: &Path, secs: i64) -> io::Result<()> {
    let c = CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let t = times(secs);
    // SAFETY: valid path pointer and a two-element timespec array.
    let r = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            t.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn futimes(f: &File, secs: i64) -> io::Result<()> {
    let t = times(secs);
    // SAFETY: valid fd and a two-element timespec array.
    if unsafe { libc::futimens(f.as_raw_fd(), t.as_ptr()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Hard-links `src` to `dst`; when the file system refuses (too many links,
/// other device), copies the file instead.
pub(crate) fn link_or_copy(src: &Path, dst: &Path) -> Result<()> {
    match fs::hard_link(src, dst) {
        Ok(()) => Ok(()),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EMLINK) | Some(libc::EXDEV)) => {
            let m = fs::symlink_metadata(src)
                .map_err(|e| io_err(format!("inspecting {}", src.display()), e))?;
            if !m.is_file() {
                return Err(io_err(
                    format!("linking {} to {}", src.display(), dst.display()),
                    e,
                ));
            }
            fs::copy(src, dst).map_err(|e| {
                io_err(format!("copying {} to {}", src.display(), dst.display()), e)
            })?;
            lutimes(dst, mtime_of(&m)).ok();
            Ok(())
        }
        Err(e) => Err(io_err(
            format!("hard-linking {} to {}", src.display(), dst.display()),
            e,
        )),
    }
}

/// Removes whatever is at `p` (file, symlink or whole directory tree) without
/// following symlinks; a missing path is not an error.
pub(crate) fn remove_any(p: &Path, root: bool) -> io::Result<()> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => match fs::remove_dir_all(p) {
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied && !root => {
                make_tree_writable(p);
                fs::remove_dir_all(p)
            }
            r => r,
        },
        Ok(_) => fs::remove_file(p),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn make_tree_writable(p: &Path) {
    if let Ok(m) = fs::symlink_metadata(p) {
        if m.is_dir() {
            let _ = fs::set_permissions(p, Permissions::from_mode(0o700));
            if let Ok(rd) = fs::read_dir(p) {
                for e in rd.flatten() {
                    make_tree_writable(&e.path());
                }
            }
        }
    }
}
