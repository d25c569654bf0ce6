//! The content store: an OCI image layout on disk.
//!
//! Readers take no lock: blobs are immutable once renamed into place and
//! `index.json` is only ever replaced by rename, so a reader sees either the
//! old or the new index, never a torn one. Writers serialise on an flock of
//! `root/.lock` for their whole read-modify-write transaction.
//!
//! This module opens and locks the store; its submodules each add one job to
//! [`Store`]: blobs (`blob`), index.json and tags (`index`, with entry names
//! in `names`), finding an image by name (`resolve`), walking from an entry
//! to its platform manifests (`walk`), listing (`list`), checking image
//! graphs (`verify`), the build cache index (`build_cache`) and garbage
//! collection (`gc`).

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use oci_spec::image::{ImageIndex, MediaType};

use crate::error::{IoContext, Result};
use crate::fsutil;
use crate::layout::OCI_LAYOUT_JSON;

mod blob;
mod build_cache;
mod gc;
mod index;
mod list;
mod names;
mod resolve;
mod verify;
mod walk;

pub use blob::{BlobWriter, FinishedBlob};
pub use build_cache::{BuildCache, CacheEntry};
pub use list::ImageSummary;
pub use resolve::Image;
pub use verify::verify_diff_ids;

/// An image store rooted at a directory holding an OCI image layout.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// Proof that this process holds the store's writer lock; released on drop.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
    root: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the layout at `root`.
    pub fn open(root: &Path) -> Result<Store> {
        fsutil::private_dir(root).ctx(|| {
            format!(
                "cannot create the image store at {}; check permissions or pick another --root",
                root.display()
            )
        })?;
        let blobs = root.join("blobs").join("sha256");
        fs::create_dir_all(&blobs).ctx(|| {
            format!(
                "cannot create the image store at {}; check permissions or pick another --root",
                root.display()
            )
        })?;
        fsutil::create_atomic_if_absent(&root.join("oci-layout"), OCI_LAYOUT_JSON)?;
        let empty = serde_json::to_vec_pretty(&empty_index()).expect("serialising an empty index");
        fsutil::create_atomic_if_absent(&root.join("index.json"), &empty)?;
        Ok(Store {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Takes the writer lock (blocking). flock is per open file, so never
    /// call this twice in one process without dropping the first lock.
    pub fn lock(&self) -> Result<StoreLock> {
        let file = fsutil::flock_exclusive(&self.root.join(".lock"))?;
        Ok(StoreLock {
            _file: file,
            root: self.root.clone(),
        })
    }

    fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }
}

fn empty_index() -> ImageIndex {
    let mut index = ImageIndex::default();
    index.set_media_type(Some(MediaType::ImageIndex));
    index.set_manifests(Vec::new());
    index
}

#[cfg(test)]
mod tests;
