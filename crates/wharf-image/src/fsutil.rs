//! Atomic file primitives: write a temp file in the target directory, then
//! rename it over the target, so that readers see the old or the new file,
//! never half of one.
//!
//! [`write_atomic`] also fsyncs (the file before the rename, the directory
//! after it) so the new content survives a crash: the image store needs
//! that. [`write_replace`] skips both fsyncs, for files that describe
//! processes, which do not survive a crash either. Both are public so that
//! other crates (the engine's state files) use these instead of a copy.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, IoContext, Result};

/// A time as Go's RFC3339Nano writes it (Docker, containerd, skopeo): the
/// fraction without trailing zeros, so a config that round-trips through
/// those tools keeps its bytes, and with them the image's digest.
pub fn rfc3339_nano(t: SystemTime) -> String {
    let full = humantime::format_rfc3339_nanos(t).to_string();
    let body = full.trim_end_matches('Z').trim_end_matches('0');
    format!("{}Z", body.trim_end_matches('.'))
}

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

/// Whether a write must survive a crash, or only be atomic for readers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// fsync the file before it is renamed or linked into place, and the
    /// directory after.
    Durable,
    /// No fsync: readers never see a torn file, but after a crash the file
    /// may hold its old content (or, on some filesystems, be empty).
    RenameOnly,
}

/// Writes `bytes` to a fresh temp file next to `dest` (fsynced when
/// `durability` asks for it); returns the directory and the temp path for the
/// caller to rename or link. The temp file is removed if the write fails.
fn write_temp(dest: &Path, bytes: &[u8], durability: Durability) -> Result<(PathBuf, PathBuf)> {
    let dir = dest.parent().unwrap_or(Path::new(".")).to_path_buf();
    let (mut f, tmp) = create_temp(&dir)?;
    let res = f.write_all(bytes).and_then(|_| match durability {
        Durability::Durable => f.sync_all(),
        Durability::RenameOnly => Ok(()),
    });
    if let Err(e) = res {
        let _ = fs::remove_file(&tmp);
        return Err(e).ctx(|| format!("cannot write {}", tmp.display()));
    }
    Ok((dir, tmp))
}

/// Replaces `dest` with `bytes` through a temp file and a rename; the temp
/// file is removed on any failure.
fn replace(dest: &Path, bytes: &[u8], durability: Durability) -> Result<()> {
    let (dir, tmp) = write_temp(dest, bytes, durability)?;
    if let Err(e) = fs::rename(&tmp, dest) {
        let _ = fs::remove_file(&tmp);
        return Err(e).ctx(|| format!("cannot rename into {}", dest.display()));
    }
    match durability {
        Durability::Durable => sync_dir(&dir),
        Durability::RenameOnly => Ok(()),
    }
}

/// The store's durable replace of `dest`, with errors that name the step
/// and the file that failed.
pub(crate) fn write_durable(dest: &Path, bytes: &[u8]) -> Result<()> {
    replace(dest, bytes, Durability::Durable)
}

/// The bare io error under one of ours: the public functions leave it to
/// their callers to say what they were writing.
fn into_io(e: Error) -> io::Error {
    match e {
        Error::Io { source, .. } => source,
        other => io::Error::other(other),
    }
}

/// Replaces `dest` with `bytes` atomically and durably: a temp file in the
/// same directory (so the rename cannot cross filesystems), fsync, rename
/// over `dest`, fsync the directory (so the rename itself is on disk).
/// Readers see the old or the new file, never half of one, and after a
/// crash `dest` holds one of the two. For files that must survive a crash;
/// [`write_replace`] is cheaper when they need not.
pub fn write_atomic(dest: &Path, bytes: &[u8]) -> io::Result<()> {
    replace(dest, bytes, Durability::Durable).map_err(into_io)
}

/// Replaces `dest` with `bytes` so readers see the old or the new file, never
/// half of one, but without any fsync: for files that describe processes
/// (container state, a container's config), which do not survive a crash
/// either, so paying for durability on every start would buy nothing.
///
/// The temp file is named after this process and a per-process counter
/// (`.tmp-<pid>-<n>-...`, created exclusively) in `dest`'s directory, so
/// concurrent writers in other threads or processes never share one; it is
/// removed if the write or the rename fails.
pub fn write_replace(dest: &Path, bytes: &[u8]) -> io::Result<()> {
    replace(dest, bytes, Durability::RenameOnly).map_err(into_io)
}

/// Creates `dest` with `bytes` unless it already exists. A hard link fails if
/// the name exists, so a concurrent creator can never overwrite content that
/// another process has already updated.
pub(crate) fn create_atomic_if_absent(dest: &Path, bytes: &[u8]) -> Result<()> {
    if dest.exists() {
        return Ok(());
    }
    let (dir, tmp) = write_temp(dest, bytes, Durability::Durable)?;
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

/// Makes `dir` (and missing parents) closed to everyone but its owner, as
/// Docker keeps /var/lib/docker: the store holds images' setuid binaries and
/// containers' specs (with their `-e` secrets), which no other user may
/// reach. An existing directory of ours that is open wider is closed; one
/// owned by someone else is left as it is (its owner chose).
pub(crate) fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    match fs::metadata(dir) {
        Ok(meta) => {
            // SAFETY: geteuid has no preconditions.
            let ours = meta.uid() == unsafe { libc::geteuid() };
            if ours && meta.mode() & 0o077 != 0 {
                fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn public_writes_replace_the_file_and_leave_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("state.json");
        write_replace(&dest, b"one").unwrap();
        write_replace(&dest, b"two").unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"two");
        write_atomic(&dest, b"three").unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"three");
        assert_eq!(names_in(dir.path()), ["state.json"]);
    }

    #[test]
    fn concurrent_replacers_never_share_a_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("state.json");
        std::thread::scope(|s| {
            for t in 0..8u8 {
                let dest = &dest;
                s.spawn(move || {
                    for _ in 0..50 {
                        write_replace(dest, &[t; 4096]).unwrap();
                    }
                });
            }
        });
        let bytes = fs::read(&dest).unwrap();
        assert_eq!(bytes.len(), 4096);
        assert!(bytes.iter().all(|b| *b == bytes[0]), "a torn file");
        assert_eq!(names_in(dir.path()), ["state.json"]);
    }

    #[test]
    fn public_errors_are_the_bare_io_error_and_leave_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-dir").join("state.json");
        let err = write_replace(&missing, b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert_eq!(
            write_atomic(&missing, b"x").unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        // A directory in the way: the rename fails after the temp file exists.
        let blocked = dir.path().join("blocked");
        fs::create_dir(&blocked).unwrap();
        fs::write(blocked.join("inside"), b"keep").unwrap();
        assert!(write_replace(&blocked, b"x").is_err());
        assert_eq!(names_in(dir.path()), ["blocked"]);
    }
}

#[cfg(test)]
mod time_tests {
    use super::rfc3339_nano;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn fractions_lose_trailing_zeros_as_go_writes_them() {
        let at = |s, n| rfc3339_nano(UNIX_EPOCH + Duration::new(s, n));
        assert_eq!(
            at(1_796_613_494, 38_390_780),
            "2026-12-07T03:18:14.03839078Z"
        );
        assert_eq!(at(1_796_613_494, 500_000_000), "2026-12-07T03:18:14.5Z");
        assert_eq!(at(1_796_613_490, 0), "2026-12-07T03:18:10Z");
    }
}
