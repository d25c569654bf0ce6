//! Small filesystem helpers shared by the engine's state files.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Replaces `path` with `bytes` so readers see the old or the new file,
/// never half of one. No fsync: container state describes processes, which
/// do not survive a crash either; the image store (which must) fsyncs.
pub use wharf_image::fsutil::write_replace as write_atomic;

/// 32 random bytes as 64 lowercase hex digits, like a Docker container id.
pub fn random_hex_id() -> String {
    let mut buf = [0u8; 32];
    let mut filled = 0;
    while filled < buf.len() {
        // SAFETY: the pointer and length describe the unfilled tail of `buf`.
        let n =
            unsafe { libc::getrandom(buf[filled..].as_mut_ptr().cast(), buf.len() - filled, 0) };
        if n > 0 {
            filled += n as usize;
        }
    }
    hex::encode(buf)
}

/// RFC 3339 with nanoseconds, as Docker prints times.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

/// `wharf-<hash of store><suffix>` under the first of `candidates` that is a
/// tmpfs: a per-store home for state that must not outlive a boot, kept off
/// the disk (where every file made and removed on a start costs inodes,
/// blocks and discards). Not created here.
pub fn tmpfs_dir_for(
    store: &Path,
    suffix: &str,
    candidates: impl IntoIterator<Item = PathBuf>,
) -> Option<PathBuf> {
    let store = fs::canonicalize(store).ok()?;
    let tag = hex::encode(&Sha256::digest(store.as_os_str().as_bytes())[..8]);
    candidates
        .into_iter()
        .find(|p| is_tmpfs(p))
        .map(|p| p.join(format!("wharf-{tag}{suffix}")))
}

/// A directory that is really ours: not a symlink, owned by this user,
/// closed to everyone else. /dev/shm lets anyone create names in it, so a
/// directory found there is trusted only after this check.
pub fn is_private_dir(dir: &Path) -> bool {
    fs::symlink_metadata(dir).is_ok_and(|m| {
        // SAFETY: geteuid has no preconditions.
        m.is_dir() && m.uid() == unsafe { libc::geteuid() } && m.mode() & 0o077 == 0
    })
}

/// Creates `dir` closed to others unless it exists; true when it is then
/// [`is_private_dir`].
pub fn ensure_private_dir(dir: &Path) -> bool {
    let _ = fs::DirBuilder::new().mode(0o700).create(dir);
    is_private_dir(dir)
}

fn is_tmpfs(path: &Path) -> bool {
    nix::sys::statfs::statfs(path)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC)
}
