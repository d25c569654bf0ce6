//! Crash-safe file primitives: temp file in the target directory, fsync,
//! rename, fsync the directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{IoContext, Result};

pub(crate) const TMP_PREFIX: &str = ".tmp-";

/// A fresh temp file name in `dir`. The pid is part of the name so gc can
/// tell a crashed writer's leftovers from a live writer's file.
pub(crate) fn temp_path(dir: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    dir.join(format!("{TMP_PREFIX}{}-{n}-{nanos:x}", std::process::id()))
}

/// Creates a new temp file in `dir` (never reusing an existing name).
pub(crate) fn create_temp(dir: &Path) -> Result<(File, PathBuf)> {
    loop {
        let path = temp_path(dir);
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(f) => return Ok((f, path)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(e).ctx(|| {
                    format!(
                    "cannot create a temporary file in {}; check that it exists and is writable",
                    dir.display()
                )
                })
            }
        }
    }
}

pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .ctx(|| format!("cannot sync directory {}", dir.display()))
}

/// Writes `bytes` to a temp file next to `dest` and fsyncs it; returns the
/// temp path for the caller to rename or link.
fn write_temp(dest: &Path, bytes: &[u8]) -> Result<(PathBuf, PathBuf)> {
    let dir = dest.parent().unwrap_or(Path::new(".")).to_path_buf();
    let (mut f, tmp) = create_temp(&dir)?;
    let res = f.write_all(bytes).and_then(|_| f.sync_all());
    if let Err(e) = res {
        let _ = fs::remove_file(&tmp);
        return Err(e).ctx(|| format!("cannot write {}", tmp.display()));
    }
    Ok((dir, tmp))
}

/// Replaces `dest` atomically with `bytes`.
pub(crate) fn write_atomic(dest: &Path, bytes: &[u8]) -> Result<()> {
    let (dir, tmp) = write_temp(dest, bytes)?;
    if let Err(e) = fs::rename(&tmp, dest) {
        let _ = fs::remove_file(&tmp);
        return Err(e).ctx(|| format!("cannot rename into {}", dest.display()));
    }
    sync_dir(&dir)
}

/// Creates `dest` with `bytes` unless it already exists. A hard link fails if
/// the name exists, so a concurrent creator can never overwrite content that
/// another process has already updated.
pub(crate) fn create_atomic_if_absent(dest: &Path, bytes: &[u8]) -> Result<()> {
    if dest.exists() {
        return Ok(());
    }
    let (dir, tmp) = write_temp(dest, bytes)?;
    let res = fs::hard_link(&tmp, dest);
    let _ = fs::remove_file(&tmp);
    match res {
        Ok(()) => sync_dir(&dir),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).ctx(|| format!("cannot create {}", dest.display())),
    }
}

/// Whether a `.tmp-<pid>-...` file belongs to a writer that is gone.
pub(crate) fn temp_is_stale(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(TMP_PREFIX) else {
        return false;
    };
    let pid = rest.split('-').next().and_then(|p| p.parse::<i32>().ok());
    match pid {
        Some(pid) if pid > 0 => {
            if pid as u32 == std::process::id() {
                return false;
            }
            // SAFETY: signal 0 only checks that the process exists.
            let alive = unsafe { libc::kill(pid, 0) } == 0
                || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
            !alive
        }
        _ => true,
    }
}

/// Takes an exclusive flock on `path`, blocking until it is free.
pub(crate) fn flock_exclusive(path: &Path) -> Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .ctx(|| format!("cannot open lock file {}", path.display()))?;
    use std::os::fd::AsRawFd;
    loop {
        // SAFETY: flock on a valid, owned descriptor.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if rc == 0 {
            return Ok(file);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e).ctx(|| format!("cannot lock {}", path.display()));
        }
    }
}
