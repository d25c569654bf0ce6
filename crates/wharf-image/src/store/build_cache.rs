//! The build cache index (`build-cache.json`): what each build step made,
//! keyed by the step's cache key (computed by wharf-build from the parent
//! step's key, the instruction, the build args in effect and, for COPY/ADD,
//! the content copied). A hit reuses the layer and the history entries (with
//! their times), so a rebuild of unchanged input gives the same image id.
//!
//! The index is a GC root: the layers it names stay in the store until
//! `wharf builder prune` clears it. It is only a cache: written with a
//! rename but no fsync, and an entry whose layer blob is missing (a crash
//! before the blob reached the disk, a hand-deleted blob) is a miss.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::PathBuf;

use oci_spec::image::Descriptor;
use serde::{Deserialize, Serialize};

use super::{Store, StoreLock};
use crate::error::{IoContext, Result};
use crate::fsutil;

const FILE: &str = "build-cache.json";

/// The cache index; entries by cache key (hex).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BuildCache {
    #[serde(default)]
    pub entries: BTreeMap<String, CacheEntry>,
    /// The directories (path without '/', mode) each layer blob holds, by
    /// digest: what a COPY onto that layer needs to know, kept so a large
    /// base layer is read once, not at every build. Not a gc root: entries
    /// of blobs that are gone are dropped when the index is saved.
    #[serde(default)]
    pub layer_dirs: BTreeMap<String, BTreeMap<String, u32>>,
}

/// What one step made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CacheEntry {
    /// The layer the step added (gzip blob), if it added one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<Descriptor>,
    /// The uncompressed digest of `layer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff_id: Option<String>,
    /// The config history entries the step appended, as written then.
    #[serde(default)]
    pub history: Vec<serde_json::Value>,
}

impl Store {
    fn build_cache_path(&self) -> PathBuf {
        self.root.join(FILE)
    }

    /// The cache index; empty if there is none or it cannot be read (a
    /// cache that is lost only costs a rebuild).
    pub fn build_cache(&self) -> BuildCache {
        fs::read(self.build_cache_path())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// The entry of `key` if its layer is still in the store.
    pub fn cache_entry<'c>(&self, cache: &'c BuildCache, key: &str) -> Option<&'c CacheEntry> {
        let e = cache.entries.get(key)?;
        match &e.layer {
            Some(l) if !self.has_blob(l.digest().as_ref()) || e.diff_id.is_none() => None,
            _ => Some(e),
        }
    }

    /// Replaces the index (under the writer lock, so gc sees either the old
    /// or the new one).
    pub fn save_build_cache(&self, lock: &StoreLock, cache: &BuildCache) -> Result<()> {
        debug_assert_eq!(lock.root, self.root, "lock taken on another store");
        let mut cache = cache.clone();
        cache.layer_dirs.retain(|digest, _| self.has_blob(digest));
        let bytes = serde_json::to_vec(&cache).expect("serialising the build cache");
        let path = self.build_cache_path();
        fsutil::write_replace(&path, &bytes).ctx(|| format!("cannot write {}", path.display()))
    }

    /// Drops the whole cache; returns how many entries it had. The layers
    /// only it kept go at the next gc.
    pub fn prune_build_cache(&self, lock: &StoreLock) -> Result<usize> {
        debug_assert_eq!(lock.root, self.root, "lock taken on another store");
        let n = self.build_cache().entries.len();
        let path = self.build_cache_path();
        match fs::remove_file(&path) {
            Ok(()) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e).ctx(|| format!("cannot remove {}", path.display())),
        }
    }

    /// The blobs the cache keeps (for gc).
    pub(crate) fn build_cache_blobs(&self) -> Vec<String> {
        self.build_cache()
            .entries
            .values()
            .filter_map(|e| e.layer.as_ref().map(|l| l.digest().to_string()))
            .collect()
    }
}
