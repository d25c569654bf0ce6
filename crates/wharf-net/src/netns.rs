//! Network namespaces as files, the way `ip netns` keeps them: a namespace
//! lives as long as something refers to it, so Wharf bind-mounts it onto a
//! file and the namespace outlives the thread that made it. netavark is given
//! that path; the container's runtime joins the same path later.
//!
//! Wharf makes them itself (not netavark, not `ip`) because the namespace must
//! exist before netavark configures it and before the container starts, and a
//! thread plus two system calls is all it takes.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsFd;
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::statfs::{statfs, NSFS_MAGIC};

use crate::error::{Error, IoContext, Result};

/// Creates a new, empty network namespace and pins it at `path` (a file that
/// is created if missing). A stale file left by a lost namespace is reused.
pub(crate) fn create(path: &Path) -> Result<()> {
    if is_live(path) {
        return Err(Error::InvalidRequest(format!(
            "network namespace {} already exists",
            path.display()
        )));
    }
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .context(|| format!("creating {}", path.display()))?;
    // unshare() changes the calling thread only; a fresh thread keeps this
    // one (and the rest of the process) in the host's namespace.
    let made = std::thread::scope(|scope| {
        scope
            .spawn(|| -> nix::Result<()> {
                unshare(CloneFlags::CLONE_NEWNET)?;
                mount(
                    Some("/proc/thread-self/ns/net"),
                    path,
                    None::<&str>,
                    MsFlags::MS_BIND,
                    None::<&str>,
                )
            })
            .join()
    });
    let made = match made {
        Ok(result) => result.context(|| format!("creating network namespace {}", path.display())),
        Err(_) => Err(Error::InvalidRequest(
            "network namespace thread panicked".to_string(),
        )),
    };
    if made.is_err() {
        let _ = fs::remove_file(path);
    }
    made
}

/// Unpins and deletes the namespace file. The namespace itself goes away when
/// nothing else holds it (its interfaces with it). Missing is fine.
pub(crate) fn remove(path: &Path) -> Result<()> {
    match umount2(path, MntFlags::MNT_DETACH) {
        // EINVAL: not a mount point (already unmounted); ENOENT: no file.
        Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(e).context(|| format!("unmounting {}", path.display())),
    }
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(format!("removing {}", path.display()), e)),
    }
}

/// Moves the pin of a namespace from `from` to `to` (a new file): the
/// namespace and everything in it stay as they are. A pool slot and the
/// container that takes it each own the file named after them, so a late
/// clean-up by the other's id never removes the namespace.
pub(crate) fn relocate(from: &Path, to: &Path) -> Result<()> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(to)
        .context(|| format!("creating {}", to.display()))?;
    if let Err(e) = mount(Some(from), to, None::<&str>, MsFlags::MS_BIND, None::<&str>) {
        let _ = fs::remove_file(to);
        return Err(e).context(|| format!("pinning {} at {}", from.display(), to.display()));
    }
    remove(from)
}

/// True when `path` pins a namespace (an nsfs mount), false for a missing
/// file or a plain file whose namespace is gone (e.g. after a reboot).
pub(crate) fn is_live(path: &Path) -> bool {
    // nsfs is the file system namespace files live on.
    statfs(path).is_ok_and(|fs| fs.filesystem_type() == NSFS_MAGIC)
}

/// Makes `dir` a mount point of its own with shared propagation, as
/// `ip netns` does for /run/netns: then the namespace mounts made in it, and
/// their removal, reach every mount namespace that has a copy of `dir`
/// (containers started meanwhile), so no copy keeps a namespace alive.
pub(crate) fn make_shared_mount_point(dir: &Path) -> Result<()> {
    let shared = |dir: &Path| {
        mount(
            None::<&str>,
            dir,
            None::<&str>,
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&str>,
        )
    };
    match shared(dir) {
        Ok(()) => return Ok(()),
        // EINVAL: not a mount point yet.
        Err(Errno::EINVAL) => {}
        Err(e) => return Err(e).context(|| format!("making {} a shared mount", dir.display())),
    }
    mount(
        Some(dir),
        dir,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .context(|| format!("bind-mounting {} onto itself", dir.display()))?;
    shared(dir).context(|| format!("making {} a shared mount", dir.display()))
}

/// Undoes [`make_shared_mount_point`] once `dir` holds no namespace, so a
/// host without containers keeps no trace in its mount table. Not a mount
/// point (or missing) is fine.
pub(crate) fn unmount_if_empty(dir: &Path) -> Result<()> {
    let empty = match fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(format!("reading {}", dir.display()), e)),
    };
    if !empty {
        return Ok(());
    }
    match umount2(dir, MntFlags::MNT_DETACH) {
        Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(e).context(|| format!("unmounting {}", dir.display())),
    }
}

/// Runs `f` on a thread that has joined the network namespace at `path`, and
/// returns its result. Sockets `f` creates belong to that namespace for their
/// whole life, whichever thread uses them later: this is how a host process
/// talks from inside a container's network (tests, health checks).
pub fn run_in_netns<T: Send>(path: &Path, f: impl FnOnce() -> T + Send) -> Result<T> {
    let namespace =
        File::open(path).context(|| format!("opening network namespace {}", path.display()))?;
    std::thread::scope(|scope| {
        scope
            .spawn(|| -> Result<T> {
                setns(namespace.as_fd(), CloneFlags::CLONE_NEWNET)
                    .context(|| format!("joining network namespace {}", path.display()))?;
                Ok(f())
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}
