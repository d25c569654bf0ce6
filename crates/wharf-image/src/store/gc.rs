//! Garbage collection: deletes blobs no index.json entry (nor the build
//! cache) reaches, and temp files of writers that are gone.

use std::collections::HashSet;
use std::fs;
use std::io;

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};

use super::{Store, StoreLock};
use crate::error::{IoContext, Result};
use crate::fsutil::{self, TMP_PREFIX};
use crate::layout::MAX_DEPTH;
use crate::media;
use crate::reference::is_lower_hex;

impl Store {
    /// Deletes blobs unreachable from index.json and temp files of writers
    /// that are gone; returns the bytes freed.
    pub fn gc(&self, lock: &StoreLock) -> Result<u64> {
        debug_assert_eq!(lock.root, self.root, "lock taken on another store");
        let index = self.index()?;
        let mut reachable = HashSet::new();
        for e in index.manifests() {
            self.mark(e, &mut reachable, 0);
        }
        // Layers of build steps stay while the build cache names them.
        reachable.extend(self.build_cache_blobs());
        let mut freed = 0;
        let blobs = self.blobs_dir();
        for dir in [&blobs, &self.root] {
            let rd = fs::read_dir(dir).ctx(|| format!("cannot list {}", dir.display()))?;
            let mut changed = false;
            for ent in rd {
                let ent = ent.ctx(|| format!("cannot list {}", dir.display()))?;
                let name = ent.file_name().to_string_lossy().into_owned();
                let garbage = if name.starts_with(TMP_PREFIX) {
                    fsutil::temp_is_stale(&name)
                } else {
                    dir == &blobs
                        && name.len() == 64
                        && is_lower_hex(&name)
                        && !reachable.contains(&format!("sha256:{name}"))
                };
                if !garbage {
                    continue;
                }
                let size = ent.metadata().map(|m| m.len()).unwrap_or(0);
                match fs::remove_file(ent.path()) {
                    Ok(()) => {
                        freed += size;
                        changed = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(e).ctx(|| format!("cannot remove {}", ent.path().display()))
                    }
                }
            }
            if changed {
                fsutil::sync_dir(dir)?;
            }
        }
        Ok(freed)
    }

    /// Adds `desc` and everything reachable from it to `set`.
    fn mark(&self, desc: &Descriptor, set: &mut HashSet<String>, depth: usize) {
        let digest = desc.digest().to_string();
        if depth > MAX_DEPTH || !set.insert(digest.clone()) {
            return;
        }
        let mt = desc.media_type().to_string();
        if media::is_index(&mt) {
            if let Ok(index) = self.read_json::<ImageIndex>(&digest, "image index") {
                for child in index.manifests() {
                    self.mark(child, set, depth + 1);
                }
            }
        } else if media::is_manifest(&mt) {
            if let Ok(m) = self.read_json::<ImageManifest>(&digest, "image manifest") {
                set.insert(m.config().digest().to_string());
                for l in m.layers() {
                    set.insert(l.digest().to_string());
                }
            }
        }
    }
}
