//! Overlay rootfs over a read-only flattened snapshot.

use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::{Error, Result};

fn is_mount_point(path: &Path) -> bool {
    let Ok(canon) = std::fs::canonicalize(path) else {
        return false;
    };
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = canon.to_string_lossy().into_owned();
    info.lines().any(|l| {
        l.split(' ')
            .nth(4)
            .map(unescape_mountinfo)
            .is_some_and(|m| m == want)
    })
}

fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            if let Some(n) = std::str::from_utf8(&b[i + 1..i + 4])
                .ok()
                .and_then(|d| u8::from_str_radix(d, 8).ok())
            {
                out.push(n);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Docker's "init layer": the mount points the runtime needs (/proc, /sys,
/// /dev and the /etc files it bind-mounts) exist below the upper dir, so
/// creating them never leaves traces in the container's changes. Its content
/// never varies, so one copy (with or without the /etc files: an image whose
/// /etc is not a directory gets none) serves every container made next to
/// `container_dir`; it is made once, atomically, and only ever read, being a
/// lower layer. That spares a start seven inode creations and deletions.
fn init_layer(lower: &Path, container_dir: &Path) -> Result<PathBuf> {
    // Only shadow /etc entries when the image's /etc is a real directory.
    let etc_is_dir = std::fs::symlink_metadata(lower.join("etc"))
        .map(|m| m.is_dir())
        .unwrap_or(true);
    let parent = container_dir.parent().unwrap_or(container_dir);
    let init = parent.join(if etc_is_dir { ".init-etc" } else { ".init" });
    if !init.is_dir() {
        let tmp = parent.join(format!(".init-tmp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let made = (|| {
            for d in ["proc", "sys", "dev"] {
                std::fs::create_dir_all(tmp.join(d))?;
            }
            if etc_is_dir {
                std::fs::create_dir_all(tmp.join("etc"))?;
                for f in ["hosts", "hostname", "resolv.conf"] {
                    std::fs::write(tmp.join("etc").join(f), b"")?;
                }
            }
            std::fs::rename(&tmp, &init)
        })();
        if let Err(e) = made {
            let _ = std::fs::remove_dir_all(&tmp);
            // Another container made it first.
            if !init.is_dir() {
                return Err(Error::io("creating", &init, e));
            }
        }
    }
    std::fs::canonicalize(&init).map_err(|e| Error::io("opening", &init, e))
}

/// Mounts an overlay with `lower` (read-only) as lowerdir and
/// `container_dir/{upper,work}` as upper and work dirs on
/// `container_dir/merged`, which it returns. Between the two sits
/// `container_dir/init` with the runtime's mount points (Docker's init layer),
/// so the upper dir only holds the process's own changes. Mounting twice is a
/// no-op.
///
/// An `ephemeral` container's changes are thrown away when it ends (`run
/// --rm`, a build step), so its overlay is `volatile`, as Podman does for
/// `--rm`: overlayfs then skips syncing the upper filesystem, which at unmount
/// is a sync of the whole filesystem the store is on. Kernels older than 5.10
/// lack the option and get a plain overlay.
pub fn mount_overlay(lower: &Path, container_dir: &Path, ephemeral: bool) -> Result<PathBuf> {
    std::fs::create_dir_all(container_dir).map_err(|e| Error::io("creating", container_dir, e))?;
    let merged = container_dir.join("merged");
    // A merged dir made just now cannot be a mount point yet.
    match std::fs::create_dir(&merged) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            if is_mount_point(&merged) {
                return Ok(merged);
            }
        }
        Err(e) => return Err(Error::io("creating", &merged, e)),
    }
    let lower = std::fs::canonicalize(lower)
        .map_err(|e| Error::io("opening overlay lower directory", lower, e))?;
    let init = init_layer(&lower, container_dir)?;
    overlay_on(&[init, lower], container_dir, &merged, ephemeral)?;
    Ok(merged)
}

/// [`mount_overlay`] without the init layer: the container's tree exactly
/// as a process that is not a Linux init sees it (a Wasm guest), for a
/// copy from outside it.
pub fn mount_plain_overlay(lower: &Path, container_dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(container_dir).map_err(|e| Error::io("creating", container_dir, e))?;
    let merged = container_dir.join("merged");
    match std::fs::create_dir(&merged) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            return Err(Error::io("creating", &merged, e))
        }
        _ => {}
    }
    let lower = std::fs::canonicalize(lower)
        .map_err(|e| Error::io("opening overlay lower directory", lower, e))?;
    overlay_on(&[lower], container_dir, &merged, false)?;
    Ok(merged)
}

/// Mounts on `target` an overlay of `lowers` (top first) under
/// `container_dir/{upper,work}`, made when missing.
pub(crate) fn overlay_on(
    lowers: &[PathBuf],
    container_dir: &Path,
    target: &Path,
    ephemeral: bool,
) -> Result<()> {
    let upper = container_dir.join("upper");
    let work = container_dir.join("work");
    for d in [&upper, &work] {
        std::fs::create_dir_all(d).map_err(|e| Error::io("creating", d, e))?;
    }
    let (upper, work) = (
        std::fs::canonicalize(&upper).map_err(|e| Error::io("opening", &upper, e))?,
        std::fs::canonicalize(&work).map_err(|e| Error::io("opening", &work, e))?,
    );
    for p in lowers.iter().chain([&upper, &work]) {
        let s = p.to_string_lossy();
        if s.contains(',') || s.contains(':') {
            return Err(Error::invalid(
                "overlay directory",
                s.into_owned(),
                "overlayfs cannot take paths containing ',' or ':'; move the data directory",
            ));
        }
    }
    let lowerdir: Vec<String> = lowers.iter().map(|l| l.display().to_string()).collect();
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowerdir.join(":"),
        upper.display(),
        work.display()
    );
    let mount_with = |data: &str| {
        mount(
            Some("overlay"),
            target,
            Some("overlay"),
            MsFlags::empty(),
            Some(data),
        )
    };
    let volatile = format!("{data},volatile");
    let mounted = match mount_with(if ephemeral { &volatile } else { &data }) {
        Err(nix::errno::Errno::EINVAL) if ephemeral => mount_with(&data),
        other => other,
    };
    mounted.map_err(|e| Error::Mount {
        action: "mounting overlay on",
        path: target.to_path_buf(),
        source: e.into(),
        hint: " (needs root and overlayfs; the upper dir must not be on overlayfs itself)",
    })
}

/// Whether `container_dir/merged` has the overlay mounted on it.
pub fn is_overlay_mounted(container_dir: &Path) -> bool {
    is_mount_point(&container_dir.join("merged"))
}

/// Unmounts `container_dir/merged` (lazily, so a still-busy mount goes away
/// once released). Succeeds when nothing is mounted. The upper dir is kept
/// for [`crate::layer_from_upper`].
pub fn unmount_overlay(container_dir: &Path) -> Result<()> {
    let merged = container_dir.join("merged");
    // Unmount until umount(2) says there is nothing mounted there (EINVAL),
    // which spares reading the mount table.
    loop {
        match umount2(&merged, MntFlags::MNT_DETACH) {
            Ok(()) => {}
            Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => break,
            Err(e) => {
                return Err(Error::Mount {
                    action: "unmounting",
                    path: merged,
                    source: e.into(),
                    hint: "",
                })
            }
        }
    }
    // The work dir holds root-only leftovers overlayfs needs no more.
    let _ = std::fs::remove_dir_all(container_dir.join("work"));
    Ok(())
}
