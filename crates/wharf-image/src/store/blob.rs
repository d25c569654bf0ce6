//! The store's blobs: content-addressed files under `blobs/sha256/`, written
//! through a temp file and renamed into place under their digest, so a blob
//! that is visible is always complete.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::Store;
use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::layout::MAX_JSON_BLOB;
use crate::reference::is_sha256_digest;

/// Streams a blob into the store, hashing as it goes. Dropping it without
/// `commit` removes the temp file.
#[derive(Debug)]
pub struct BlobWriter {
    out: Option<BufWriter<File>>,
    tmp: PathBuf,
    dir: PathBuf,
    hasher: Sha256,
    size: u64,
    done: bool,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let out = self
            .out
            .as_mut()
            .ok_or_else(|| io::Error::other("blob writer already committed"))?;
        let n = out.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.out.as_mut() {
            Some(out) => out.flush(),
            None => Ok(()),
        }
    }
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Makes the blob visible under its digest. With `expected`, content that
    /// hashes differently is discarded with `Error::DigestMismatch`.
    pub fn commit(self, expected: Option<&str>) -> Result<(String, u64)> {
        let dir = self.dir.clone();
        let (digest, size, renamed) = self.finish(expected)?.publish_inner()?;
        if renamed {
            fsutil::sync_dir(&dir)?;
        }
        Ok((digest, size))
    }

    /// The slow half of [`commit`](Self::commit): flushes and fsyncs the
    /// temp file and checks its digest (hashed while it was written: no
    /// second pass over the data). Nothing is visible yet; the result is
    /// made visible with [`FinishedBlob::publish`], and dropping it instead
    /// removes the temp file.
    pub fn finish(mut self, expected: Option<&str>) -> Result<FinishedBlob> {
        if let Some(e) = expected {
            if !is_sha256_digest(e) {
                return Err(Error::InvalidDigest(e.to_string()));
            }
        }
        let out = self.out.take().expect("blob writer used after commit");
        let file = out.into_inner().map_err(|e| {
            Error::io(
                format!("cannot write {}", self.tmp.display()),
                e.into_error(),
            )
        })?;
        file.sync_all()
            .ctx(|| format!("cannot sync {}", self.tmp.display()))?;
        drop(file);
        let digest = format!(
            "sha256:{}",
            hex::encode(std::mem::take(&mut self.hasher).finalize())
        );
        if let Some(e) = expected {
            if e != digest {
                // Drop removes the temp file.
                return Err(Error::DigestMismatch {
                    expected: e.to_string(),
                    actual: digest,
                });
            }
        }
        // The temp file now belongs to the FinishedBlob.
        self.done = true;
        Ok(FinishedBlob {
            tmp: std::mem::take(&mut self.tmp),
            dir: std::mem::take(&mut self.dir),
            digest,
            size: self.size,
            done: false,
        })
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if !self.done {
            self.out = None;
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// A blob written, fsynced and verified against its digest, still under its
/// temp name. Dropping it without [`publish`](Self::publish) removes it.
#[derive(Debug)]
pub struct FinishedBlob {
    tmp: PathBuf,
    dir: PathBuf,
    digest: String,
    size: u64,
    done: bool,
}

impl FinishedBlob {
    /// `sha256:<hex>` of the content.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Where the content is until [`publish`](Self::publish) (a temp file
    /// in the blobs directory): to read it early. An fd opened on it stays
    /// valid across the rename.
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// Renames the blob into place: a quick step, no I/O wait. The rename
    /// is made durable by the next fsync of the blobs directory: call
    /// [`Store::sync_blobs`] (or write a blob with [`Store::put_blob`],
    /// which syncs it) before anything durable refers to the blob.
    pub fn publish(self) -> Result<(String, u64)> {
        self.publish_inner().map(|(d, size, _)| (d, size))
    }

    /// Also says whether a rename happened (false: the blob was there).
    fn publish_inner(mut self) -> Result<(String, u64, bool)> {
        let dest = self.dir.join(&self.digest["sha256:".len()..]);
        let renamed = if dest.exists() {
            let _ = fs::remove_file(&self.tmp);
            false
        } else {
            fs::rename(&self.tmp, &dest)
                .ctx(|| format!("cannot move blob into {}", dest.display()))?;
            true
        };
        self.done = true;
        Ok((std::mem::take(&mut self.digest), self.size, renamed))
    }
}

impl Drop for FinishedBlob {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

impl Store {
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        if !is_sha256_digest(digest) {
            return Err(Error::InvalidDigest(digest.to_string()));
        }
        Ok(self.blobs_dir().join(&digest["sha256:".len()..]))
    }

    pub fn has_blob(&self, digest: &str) -> bool {
        self.blob_path(digest).is_ok_and(|p| p.is_file())
    }

    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>> {
        let path = self.blob_path(digest)?;
        fs::read(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::BlobNotFound(digest.to_string()),
            _ => Error::io(format!("cannot read blob {}", path.display()), e),
        })
    }

    /// Opens a blob to stream it; also returns its path, for messages.
    pub(crate) fn open_blob(&self, digest: &str) -> Result<(File, PathBuf)> {
        let path = self.blob_path(digest)?;
        match File::open(&path) {
            Ok(file) => Ok((file, path)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(Error::BlobNotFound(digest.to_string()))
            }
            Err(e) => Err(Error::io(format!("cannot read {}", path.display()), e)),
        }
    }

    /// Reads and parses a JSON blob (manifest, index, config).
    pub(crate) fn read_json<T: DeserializeOwned>(&self, digest: &str, what: &str) -> Result<T> {
        let path = self.blob_path(digest)?;
        if let Ok(m) = fs::metadata(&path) {
            if m.len() > MAX_JSON_BLOB {
                return Err(Error::invalid(
                    format!("{what} {digest}"),
                    format!("it is {} bytes, too large to be one", m.len()),
                ));
            }
        }
        let bytes = self.read_blob(digest)?;
        serde_json::from_slice(&bytes).map_err(|e| Error::json(format!("{what} {digest}"), e))
    }

    pub fn put_blob(&self, bytes: &[u8]) -> Result<(String, u64)> {
        let hex = hex::encode(Sha256::digest(bytes));
        let dest = self.blobs_dir().join(&hex);
        if !dest.exists() {
            fsutil::write_durable(&dest, bytes)?;
        }
        Ok((format!("sha256:{hex}"), bytes.len() as u64))
    }

    pub fn put_json<T: Serialize>(&self, v: &T) -> Result<(String, u64)> {
        let bytes = serde_json::to_vec(v).map_err(|e| Error::json("value to store", e))?;
        self.put_blob(&bytes)
    }

    /// Makes the renames of blobs published with [`FinishedBlob::publish`]
    /// durable: one fsync of the blobs directory for any number of them.
    pub fn sync_blobs(&self) -> Result<()> {
        fsutil::sync_dir(&self.blobs_dir())
    }

    pub fn blob_writer(&self) -> Result<BlobWriter> {
        let dir = self.blobs_dir();
        let (file, tmp) = fsutil::create_temp(&dir)?;
        Ok(BlobWriter {
            out: Some(BufWriter::with_capacity(256 * 1024, file)),
            tmp,
            dir,
            hasher: Sha256::new(),
            size: 0,
            done: false,
        })
    }
}
