//! Compiled-code cache entries.
//!
//! File layout: `payload | kind (1 byte) | sha256(payload | kind) (32) | MAGIC (8)`.
//! The payload is wasmtime's serialized module/component. The trailer is
//! checked before the payload is handed to `deserialize` (which trusts its
//! input), so a truncated, corrupted or foreign file is never used.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Engine, Module};

use crate::{BinaryKind, Compiled};

const MAGIC: &[u8; 8] = b"WHRFWC01";
const TRAILER: usize = 1 + 32 + MAGIC.len();
const KIND_MODULE: u8 = b'M';
const KIND_COMPONENT: u8 = b'C';

/// Loads and verifies a cache entry. `None` on a miss or any problem: the
/// caller then compiles and rewrites the entry.
pub(crate) fn load(engine: &Engine, path: &Path) -> Option<(BinaryKind, Compiled)> {
    let bytes = fs::read(path).ok()?;
    if bytes.len() <= TRAILER {
        return None;
    }
    let (body, trailer) = bytes.split_at(bytes.len() - TRAILER + 1);
    let (payload, kind) = body.split_at(body.len() - 1);
    let (sum, magic) = trailer.split_at(32);
    if magic != MAGIC {
        return None;
    }
    let mut h = Sha256::new();
    h.update(payload);
    h.update(kind);
    if h.finalize().as_slice() != sum {
        return None;
    }
    // SAFETY: `deserialize` trusts its input to be wasmtime output. The
    // entry was written by `store` below (checksum over exactly these bytes)
    // into a directory owned by the engine; wasmtime additionally checks its
    // own header, version and engine compatibility and errors on mismatch.
    match kind[0] {
        KIND_MODULE => unsafe { Module::deserialize(engine, payload) }
            .ok()
            .map(|m| (BinaryKind::Module, Compiled::Module(m))),
        KIND_COMPONENT => unsafe { Component::deserialize(engine, payload) }
            .ok()
            .map(|c| (BinaryKind::Component, Compiled::Component(c))),
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
    let sum = Sha256::digest(&payload);
    payload.extend_from_slice(&sum);
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
