//! Compiled-code cache entries.
//!
//! File layout: `payload | kind (1 byte) | crc32(payload | kind) (4, LE) | MAGIC (8)`.
//! The payload is wasmtime's serialized module/component. The trailer is
//! checked before the payload is handed to `deserialize` (which trusts its
//! input), so a truncated, corrupted or foreign file is never used. A CRC
//! catches every truncation and bit-rot pattern a disk produces and, with
//! hardware CRC instructions, costs a few microseconds on the start path
//! where SHA-256 cost a fifth of a millisecond; the entries are written by
//! Wharf into its own root, so there is no forger to defend against here.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use wasmtime::component::Component;
use wasmtime::{Engine, Module};

use crate::{BinaryKind, Compiled};

const MAGIC: &[u8; 8] = b"WHRFWC02";
const SUM: usize = 4;
const TRAILER: usize = 1 + SUM + MAGIC.len();
const KIND_MODULE: u8 = b'M';
const KIND_COMPONENT: u8 = b'C';

/// Loads and verifies a cache entry. `None` on a miss or any problem: the
/// caller then compiles and rewrites the entry.
///
/// The entry is mapped, not read: the check runs over page-cache pages and
/// wasmtime maps the same file for the code, so a start copies and zeroes
/// no memory for it.
pub(crate) fn load(engine: &Engine, path: &Path) -> Option<(BinaryKind, Compiled)> {
    let file = File::open(path).ok()?;
    let kind = verify(&file)?;
    // SAFETY: `deserialize_*` trusts its input to be wasmtime output. The
    // entry was written by `store` below (checksum over exactly these bytes,
    // checked just now) into a directory owned by the engine; wasmtime also
    // checks its own header, version and engine compatibility and errors on
    // mismatch. The mapping stays valid because entries are never modified
    // in place: `store` writes a new file and renames it over the old one.
    //
    // A file mapping cannot be made executable on a `noexec` mount: then the
    // verified bytes are read into anonymous memory instead.
    let mapped = match kind {
        BinaryKind::Module => unsafe { Module::deserialize_open_file(engine, file) }
            .ok()
            .map(Compiled::Module),
        BinaryKind::Component => unsafe { Component::deserialize_file(engine, path) }
            .ok()
            .map(Compiled::Component),
    };
    let compiled = match mapped {
        Some(c) => c,
        None => {
            let bytes = fs::read(path).ok()?;
            // Checked again: the path may name a newer entry by now.
            if check(&bytes)? != kind {
                return None;
            }
            let payload = &bytes[..bytes.len() - TRAILER];
            match kind {
                BinaryKind::Module => {
                    Compiled::Module(unsafe { Module::deserialize(engine, payload) }.ok()?)
                }
                BinaryKind::Component => {
                    Compiled::Component(unsafe { Component::deserialize(engine, payload) }.ok()?)
                }
            }
        }
    };
    Some((kind, compiled))
}

/// Checks the trailer and checksum of an entry through a read-only mapping.
fn verify(file: &File) -> Option<BinaryKind> {
    let len = usize::try_from(file.metadata().ok()?.len()).ok()?;
    if len <= TRAILER {
        return None;
    }
    // SAFETY: a fresh read-only shared mapping of `len` bytes of an open file.
    let addr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    if addr == libc::MAP_FAILED {
        return None;
    }
    // SAFETY: the mapping is `len` readable bytes until the munmap below.
    let kind = check(unsafe { std::slice::from_raw_parts(addr as *const u8, len) });
    // SAFETY: unmaps exactly the mapping made above, no longer borrowed.
    unsafe { libc::munmap(addr, len) };
    kind
}

/// The kind of a whole entry whose magic and checksum are right.
fn check(bytes: &[u8]) -> Option<BinaryKind> {
    if bytes.len() <= TRAILER {
        return None;
    }
    let (body, trailer) = bytes.split_at(bytes.len() - TRAILER + 1);
    let (sum, magic) = trailer.split_at(SUM);
    match body[body.len() - 1] {
        _ if magic != MAGIC || crc32fast::hash(body).to_le_bytes() != sum => None,
        KIND_MODULE => Some(BinaryKind::Module),
        KIND_COMPONENT => Some(BinaryKind::Component),
        _ => None,
    }
}

/// Writes an entry atomically: temp file in the same directory, fsync,
/// rename, fsync of the directory. Creates the directory when missing.
pub(crate) fn store(
    dir: &Path,
    key: &str,
    kind: BinaryKind,
    mut payload: Vec<u8>,
) -> io::Result<()> {
    payload.push(match kind {
        BinaryKind::Module => KIND_MODULE,
        BinaryKind::Component => KIND_COMPONENT,
    });
    let sum = crc32fast::hash(&payload);
    payload.extend_from_slice(&sum.to_le_bytes());
    payload.extend_from_slice(MAGIC);

    fs::create_dir_all(dir)?;
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".tmp-{key}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)?;
        f.write_all(&payload)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, dir.join(key))?;
        // Make the rename durable; failure here does not undo a good entry.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
