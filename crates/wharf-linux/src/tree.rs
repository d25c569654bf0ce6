//! A container's filesystem tree built for a process that is not a Linux
//! container init (a Wasm guest runs inside its owner process): the same
//! tree a Linux container gets — the image's layers under a writable
//! container layer (overlayfs), every volume bind-mounted at its path inside
//! it — mounted in a private mount namespace of the calling thread, so the
//! guest needs exactly one preopened directory for `/` and the kernel gives
//! the semantics a container has: mount points appear in listings, `:ro` is
//! enforced, a rename across mounts fails with EXDEV, writes never reach the
//! image.
//!
//! Nothing of it is visible on the host: the mounts live in the thread's
//! namespace and go with it, even when the process is killed. The upper
//! directory (the container's changes) stays in the container's directory,
//! as a Linux container's does.

use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use wharf_snapshot::resolve_in_root;

use crate::{Error, Result};

/// A directory (or file) of the host bind-mounted into the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    pub host: PathBuf,
    /// Absolute path inside the tree.
    pub dest: String,
    pub read_only: bool,
}

/// What a tree is made of.
pub struct Tree<'a> {
    /// The image's read-only layers (a snapshot).
    pub lower: &'a Path,
    /// The container's directory: the layer's `upper/` and `work/` go there.
    pub dir: &'a Path,
    /// Volumes, in the order they are mounted (a bind at `/` replaces the
    /// image's tree and the container layer).
    pub binds: &'a [Bind],
    /// `--read-only`: the root (not the volumes) refuses writes.
    pub read_only: bool,
    /// The container's changes are thrown away when it ends (`run --rm`):
    /// the overlay skips syncing them (`volatile`).
    pub ephemeral: bool,
    /// The working directory, made when missing (as Docker does) unless
    /// the root is read-only.
    pub workdir: Option<&'a str>,
}

/// Moves the calling thread (only it: mount namespaces are per thread, and
/// threads it starts afterwards inherit its namespace) into a private mount
/// namespace whose mounts do not propagate back to the host's.
pub fn private_mount_namespace() -> Result<()> {
    unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_FS).map_err(|e| Error::Mount {
        action: "making a mount namespace for",
        path: PathBuf::from("the container"),
        source: e.into(),
        hint: " (needs CAP_SYS_ADMIN)",
    })?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| Error::Mount {
        action: "making private the mounts under",
        path: PathBuf::from("/"),
        source: e.into(),
        hint: "",
    })
}

impl Tree<'_> {
    /// Mounts the tree and returns where: over `lower` itself, which hides
    /// the image's bare tree from this namespace only. Call it on a thread
    /// inside a [`private_mount_namespace`]. No mount point is made, so
    /// nothing needs unmounting before the container's directory can go:
    /// the namespace takes the mounts with it when its thread ends, after
    /// (not before) its owner has recorded the exit.
    pub fn mount(&self) -> Result<PathBuf> {
        let merged = std::fs::canonicalize(self.lower)
            .map_err(|e| Error::io("opening the image's tree", self.lower, e))?;
        let (root_bind, binds) = match self.binds.iter().position(|b| is_root(&b.dest)) {
            Some(i) => (Some(&self.binds[i]), {
                let mut rest: Vec<&Bind> = self.binds.iter().collect();
                rest.remove(i);
                rest
            }),
            None => (None, self.binds.iter().collect()),
        };
        let root_read_only = match root_bind {
            Some(bind) => {
                bind_mount(&bind.host, &merged)?;
                bind.read_only || self.read_only
            }
            None => {
                let lowers = [merged.clone()];
                crate::overlay::overlay_on(&lowers, self.dir, &merged, self.ephemeral)?;
                self.read_only
            }
        };
        for bind in binds {
            let target = mount_point(&merged, &bind.dest, bind.host.is_dir())?;
            bind_mount(&bind.host, &target)?;
            if bind.read_only {
                remount_read_only(&target)?;
            }
        }
        if let Some(workdir) = self.workdir.filter(|_| !root_read_only) {
            if resolve_in_root(&merged, workdir).is_none() {
                mount_point(&merged, workdir, true)?;
            }
        }
        if root_read_only {
            remount_read_only(&merged)?;
        }
        Ok(merged)
    }
}

fn is_root(dest: &str) -> bool {
    dest.trim_end_matches('/').is_empty()
}

fn bind_mount(source: &Path, target: &Path) -> Result<()> {
    mount(
        Some(source),
        target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| Error::Mount {
        action: "bind-mounting a volume on",
        path: target.to_path_buf(),
        source: e.into(),
        hint: "",
    })
}

fn remount_read_only(target: &Path) -> Result<()> {
    mount(
        None::<&str>,
        target,
        None::<&str>,
        MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY,
        None::<&str>,
    )
    .map_err(|e| Error::Mount {
        action: "making read-only",
        path: target.to_path_buf(),
        source: e.into(),
        hint: "",
    })
}

/// The host path of `dest` inside `root`, made when missing: directories
/// along the way, and the last component a directory or (for a file
/// volume) an empty file. Symlinks in the image are followed inside
/// `root`, never out of it.
pub fn mount_point(root: &Path, dest: &str, dir: bool) -> Result<PathBuf> {
    let parts: Vec<&str> = dest
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.contains(&"..") {
        return Err(Error::invalid(
            "mount destination",
            dest,
            "it must be an absolute path without '..'",
        ));
    }
    let mut at = root.to_path_buf();
    for (i, part) in parts.iter().enumerate() {
        let inside = parts[..=i].join("/");
        if let Some(existing) = resolve_in_root(root, &inside) {
            at = existing;
            continue;
        }
        // `at` is a real directory inside the root (resolved above), and
        // `part` does not exist in it: creating it follows no symlink.
        at = at.join(part);
        let last = i + 1 == parts.len();
        let made = if last && !dir {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&at)
                .map(drop)
        } else {
            std::fs::create_dir(&at)
        };
        made.map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Error::invalid(
                "mount destination",
                dest,
                "a symlink on the way points nowhere inside the container",
            ),
            _ => Error::io("creating the mount point", &at, e),
        })?;
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_stay_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("data")).unwrap();
        std::os::unix::fs::symlink("/../../..", root.join("up")).unwrap();
        // Through an absolute symlink: inside the root's /etc, not the host's.
        let p = mount_point(&root, "/data/vol", true).unwrap();
        assert_eq!(p, root.join("etc/vol"));
        assert!(p.is_dir());
        let p = mount_point(&root, "/up/x", true).unwrap();
        assert_eq!(p, root.join("x"));
        let f = mount_point(&root, "/a/b/file.conf", false).unwrap();
        assert!(f.is_file());
        assert!(mount_point(&root, "/a/../b", true).is_err());
        // Existing paths are returned as they are.
        assert_eq!(mount_point(&root, "/etc", true).unwrap(), root.join("etc"));
    }
}
