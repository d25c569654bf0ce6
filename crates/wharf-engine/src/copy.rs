//! `wharf cp` and `wharf export`: files between a container's filesystem
//! and the host (or a tar stream), with Docker's rules for what lands
//! where. The container's side is [`Engine::container_fs`], the one place
//! that says what a container's root directory is (its executor's
//! `filesystem`). Container paths resolve inside that root: symlinks,
//! absolute ones too, are followed as the container would see them and
//! `..` stops at its `/`; archives are unpacked by wharf-snapshot's
//! extractor, which never writes through a symlink.

use std::fs;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use crate::container::Container;
use crate::executor::Filesystem;
use crate::{Engine, Error, Result};

/// Where a copy's tree goes: into directory `dir`, its top entry named
/// `name` (empty: the source directory's contents go straight in).
struct Placement {
    dir: PathBuf,
    name: String,
}

impl Engine {
    /// The container's root filesystem as the host sees it (mounted for
    /// the caller when it needs to be, unmounted when dropped).
    pub(crate) fn container_fs(&self, c: &Container) -> Result<Filesystem> {
        let owner = c.is_running().then_some(c.state.pid);
        self.executor_of(c)?
            .filesystem(c.bundle(), &c.state.rootfs, owner)
    }

    /// `wharf cp CONTAINER:PATH HOST_PATH`.
    pub fn copy_out(&self, key: &str, path: &str, dest: &Path) -> Result<()> {
        let c = self.container(key)?;
        let loc = self.locate(&c, key, path)?;
        let src = source_in(&loc.root, &loc.path, key, path)?;
        let src_is_dir = src.symlink_metadata().is_ok_and(|m| m.is_dir());
        let place = placement(
            dest,
            &dest.to_string_lossy(),
            dest.symlink_metadata().is_ok(),
            dest.is_dir(),
            &src,
            path,
            src_is_dir,
        )?;
        // Unpacked on the host as Docker does: links kept as they are
        // (they point into the container's tree), no entry outside the
        // destination (tar's unpack_in checks each one).
        let (reader, mut writer) =
            std::io::pipe().map_err(|e| Error::io("creating the copy's pipe", e))?;
        std::thread::scope(|s| {
            let writing = s.spawn(move || {
                let r = tar_tree(&src, &place.name, &mut writer);
                drop(writer);
                r
            });
            let mut archive = tar::Archive::new(reader);
            archive.set_preserve_permissions(true);
            archive.set_overwrite(true);
            let unpacked = archive.unpack(&place.dir);
            let written = writing
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the archiving thread panicked")));
            written.map_err(|e| Error::io(format!("reading {key}:{path}"), e))?;
            unpacked.map_err(|e| Error::io(format!("writing into {}", place.dir.display()), e))
        })
    }

    /// `wharf cp CONTAINER:PATH -`: a tar of PATH (its last name at the top) on `out`.
    pub fn copy_out_tar(&self, key: &str, path: &str, out: &mut dyn Write) -> Result<()> {
        let c = self.container(key)?;
        let loc = self.locate(&c, key, path)?;
        let src = source_in(&loc.root, &loc.path, key, path)?;
        let name = if wants_contents(path) {
            String::new()
        } else {
            last_name(&src)
        };
        tar_tree(&src, &name, out).map_err(|e| Error::io(format!("archiving {key}:{path}"), e))
    }

    /// `wharf cp HOST_PATH CONTAINER:PATH`.
    pub fn copy_in(&self, key: &str, src: &Path, path: &str) -> Result<()> {
        let c = self.container(key)?;
        let loc = self.locate_writable(&c, key, path)?;
        let meta = src.symlink_metadata().map_err(|e| {
            Error::io(
                format!("reading {} (the source of the copy)", src.display()),
                e,
            )
        })?;
        let target = in_root(&loc.root, &loc.path);
        let (exists, is_dir) = match &target {
            Some(t) => (true, t.is_dir()),
            None => (false, false),
        };
        let dest = match target {
            Some(t) => t,
            None => new_path_in(&loc.root, &loc.path, key, path)?,
        };
        let place = placement(
            &dest,
            path,
            exists,
            is_dir,
            src,
            &src.to_string_lossy(),
            meta.is_dir(),
        )?;
        unpack(
            |w| tar_tree(src, &place.name, w),
            &place.dir,
            &src.to_string_lossy(),
        )
    }

    /// `wharf cp - CONTAINER:DIR`: a tar stream unpacked into directory DIR.
    pub fn copy_in_tar(&self, key: &str, input: &mut dyn Read, path: &str) -> Result<()> {
        let c = self.container(key)?;
        let loc = self.locate_writable(&c, key, path)?;
        let dir = existing_in(&loc.root, &loc.path, key, path)?;
        if !dir.is_dir() {
            return Err(Error::InvalidArgument(format!(
                "{key}:{path} is not a directory: a tar stream from stdin is unpacked into a directory"
            )));
        }
        wharf_snapshot::extract_layer_labeled(input, &dir, "the archive on stdin")?;
        Ok(())
    }

    /// `wharf export`: the container's whole filesystem as a tar stream.
    pub fn export(&self, key: &str, out: &mut dyn Write) -> Result<()> {
        let c = self.container(key)?;
        let fs = self.container_fs(&c)?;
        tar_tree(&fs.root, "", out).map_err(|e| Error::io(format!("exporting {key}"), e))
    }
}

/// Where a container path lives on the host: the container's root, or
/// the source of the bind mount (a `-v` directory or volume, a file such as
/// /etc/hosts) it is under, as the container sees it.
struct Located {
    /// Kept mounted while the copy runs.
    _fs: Filesystem,
    root: PathBuf,
    /// The path inside `root`.
    path: String,
    /// Why it must not be written, if so.
    read_only: Option<String>,
}

impl Engine {
    fn locate(&self, c: &Container, key: &str, path: &str) -> Result<Located> {
        let fs = self.container_fs(c)?;
        let spec = oci_spec::runtime::Spec::load(c.config_path()).ok();
        let lexical = lexical(path);
        let mounts = spec
            .as_ref()
            .and_then(|s| s.mounts().clone())
            .unwrap_or_default();
        // The innermost bind mount the path is under.
        let mount = mounts
            .iter()
            .filter(|m| m.typ().as_deref() == Some("bind"))
            .filter_map(|m| Some((m, m.source().as_ref()?)))
            .filter(|(m, source)| source.is_absolute() && lexical.starts_with(m.destination()))
            .max_by_key(|(m, _)| m.destination().components().count());
        if let Some((m, source)) = mount {
            let rest = lexical
                .strip_prefix(m.destination())
                .unwrap_or(Path::new(""));
            let ro = m
                .options()
                .as_ref()
                .is_some_and(|o| o.iter().any(|o| o == "ro"));
            let read_only = ro.then(|| {
                format!(
                    "{path} is on a read-only mount ({}) of container {key}",
                    m.destination().display()
                )
            });
            let (root, inside) = if source.is_dir() {
                (source.clone(), rest.to_path_buf())
            } else {
                // A file mounted on its own: it is the whole tree.
                let parent = source.parent().unwrap_or(Path::new("/")).to_path_buf();
                (
                    parent,
                    Path::new(source.file_name().unwrap_or_default()).join(rest),
                )
            };
            let mut inside = inside.to_string_lossy().into_owned();
            if wants_contents(path) {
                inside.push_str("/.");
            }
            return Ok(Located {
                _fs: fs,
                root,
                path: inside,
                read_only,
            });
        }
        let read_only = if spec
            .as_ref()
            .and_then(|s| s.root().as_ref())
            .and_then(|r| r.readonly())
            .unwrap_or(false)
        {
            Some(format!(
                "container {key}'s root filesystem is read-only (--read-only); copy into one of its -v mounts"
            ))
        } else {
            None
        };
        Ok(Located {
            root: fs.root.clone(),
            _fs: fs,
            path: path.to_string(),
            read_only,
        })
    }

    /// [`Engine::locate`], refused when it must not be written.
    fn locate_writable(&self, c: &Container, key: &str, path: &str) -> Result<Located> {
        let loc = self.locate(c, key, path)?;
        match &loc.read_only {
            Some(why) => Err(Error::Unsupported(why.clone())),
            None => Ok(loc),
        }
    }
}

/// `path` made absolute with `.` and `..` applied (no symlinks read): what
/// mount destinations are matched against.
fn lexical(path: &str) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in Path::new(path).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// `path` resolved inside `root` as the container sees it; None when it
/// does not exist.
fn in_root(root: &Path, path: &str) -> Option<PathBuf> {
    wharf_snapshot::resolve_in_root(root, Path::new("/").join(path))
}

/// The source of a copy out of the container: the directories on the way
/// resolve inside `root`, the last name is taken as it is (a symlink is
/// copied as a link, as Docker does without -L); a trailing `/` or `/.`
/// resolves it too.
fn source_in(root: &Path, inside: &str, key: &str, shown: &str) -> Result<PathBuf> {
    let p = Path::new("/").join(inside);
    if !inside.ends_with('/') && !wants_contents(inside) {
        if let (Some(Component::Normal(name)), Some(parent)) =
            (p.components().next_back(), p.parent())
        {
            return wharf_snapshot::resolve_in_root(root, parent)
                .map(|dir| dir.join(name))
                .filter(|full| full.symlink_metadata().is_ok())
                .ok_or_else(|| not_found(key, shown));
        }
    }
    existing_in(root, inside, key, shown)
}

fn not_found(key: &str, shown: &str) -> Error {
    Error::InvalidArgument(format!(
        "could not find the file {shown} in container {key}"
    ))
}

fn existing_in(root: &Path, inside: &str, key: &str, shown: &str) -> Result<PathBuf> {
    in_root(root, inside).ok_or_else(|| not_found(key, shown))
}

/// A path that does not exist yet: its parent resolved inside `root`
/// (it must be a directory), plus its last name.
fn new_path_in(root: &Path, inside: &str, key: &str, shown: &str) -> Result<PathBuf> {
    let p = Path::new(inside);
    let name = match p.components().next_back() {
        Some(Component::Normal(n)) => n.to_owned(),
        _ => {
            return Err(Error::InvalidArgument(format!(
                "{key}:{shown} names no file; give a path ending in a name"
            )))
        }
    };
    let parent = p.parent().unwrap_or(Path::new("/"));
    let dir = in_root(root, &parent.to_string_lossy())
        .filter(|d| d.is_dir())
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "the directory {} does not exist in container {key}; create it first",
                Path::new(shown)
                    .parent()
                    .unwrap_or(Path::new("/"))
                    .display()
            ))
        })?;
    Ok(dir.join(name))
}

/// Docker's `cp` rules for a destination `dest` (as the user wrote it:
/// `dest_text`) and a source `src` (written `src_text`).
fn placement(
    dest: &Path,
    dest_text: &str,
    dest_exists: bool,
    dest_is_dir: bool,
    src: &Path,
    src_text: &str,
    src_is_dir: bool,
) -> Result<Placement> {
    if dest_exists && dest_is_dir {
        let name = if src_is_dir && wants_contents(src_text) {
            String::new()
        } else {
            last_name(src)
        };
        return Ok(Placement {
            dir: dest.to_path_buf(),
            name,
        });
    }
    if dest_exists && src_is_dir {
        return Err(Error::InvalidArgument(format!(
            "cannot copy a directory to {dest_text}, which is a file"
        )));
    }
    if !dest_exists && dest_text.ends_with('/') && !src_is_dir {
        return Err(Error::InvalidArgument(format!(
            "the destination directory {dest_text} does not exist; create it or drop the trailing /"
        )));
    }
    let dir = match dest.parent() {
        Some(p) if p.as_os_str().is_empty() => PathBuf::from("."),
        Some(p) => p.to_path_buf(),
        None => PathBuf::from("/"),
    };
    if !dir.is_dir() {
        return Err(Error::InvalidArgument(format!(
            "the directory {} does not exist; create it first",
            dir.display()
        )));
    }
    Ok(Placement {
        dir,
        name: last_name(dest),
    })
}

/// `SRC/.`: the directory's contents rather than the directory.
fn wants_contents(text: &str) -> bool {
    text == "." || text.ends_with("/.")
}

fn last_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Streams `write_tar`'s archive into the extractor, unpacked in `dir`.
fn unpack(
    write_tar: impl FnOnce(&mut dyn Write) -> std::io::Result<()> + Send,
    dir: &Path,
    label: &str,
) -> Result<()> {
    let (reader, mut writer) =
        std::io::pipe().map_err(|e| Error::io("creating the copy's pipe", e))?;
    std::thread::scope(|s| {
        let writing = s.spawn(move || {
            let r = write_tar(&mut writer);
            drop(writer);
            r
        });
        let unpacked = wharf_snapshot::extract_layer_labeled(reader, dir, label);
        let written = writing
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the archiving thread panicked")));
        unpacked?;
        written.map_err(|e| Error::io(format!("reading {label}"), e))
    })
}

/// A tar of `src` (file, symlink, directory tree) with `name` as its top
/// entry; an empty name puts a directory's contents at the top. Symlinks
/// are archived as links, never followed; sockets are left out (a tar
/// cannot hold them, and Docker leaves them out too).
fn tar_tree(src: &Path, name: &str, out: &mut dyn Write) -> std::io::Result<()> {
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    append(&mut b, src, Path::new(name))?;
    b.finish()
}

fn append(b: &mut tar::Builder<&mut dyn Write>, src: &Path, name: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let meta = fs::symlink_metadata(src)?;
    let ft = meta.file_type();
    if ft.is_socket() {
        return Ok(());
    }
    if ft.is_fifo() || ft.is_char_device() || ft.is_block_device() {
        // tar's own path for these names the entry by its host path.
        use std::os::unix::fs::MetadataExt;
        let mut h = tar::Header::new_gnu();
        h.set_metadata(&meta);
        h.set_entry_type(if ft.is_fifo() {
            tar::EntryType::Fifo
        } else if ft.is_char_device() {
            tar::EntryType::Char
        } else {
            tar::EntryType::Block
        });
        h.set_size(0);
        let dev = meta.rdev();
        h.set_device_major(libc::major(dev))?;
        h.set_device_minor(libc::minor(dev))?;
        return b.append_data(&mut h, name, std::io::empty());
    }
    if !ft.is_dir() {
        return b.append_path_with_name(src, name);
    }
    if !name.as_os_str().is_empty() {
        b.append_dir(name, src)?;
    }
    let mut entries: Vec<_> = fs::read_dir(src)?.collect::<std::io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        append(b, &e.path(), &name.join(e.file_name()))?;
    }
    Ok(())
}
