//! `wharf images`: one summary per index.json entry.

use std::collections::HashSet;

use oci_spec::image::{Descriptor, ImageManifest};
use serde::Serialize;

use super::names::entry_display_name;
use super::walk::{descriptor_platform, platform_from_config};
use super::Store;
use crate::error::Result;

/// One line of `wharf images`: one index.json entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageSummary {
    pub names: Vec<String>,
    pub manifest_digest: String,
    /// Config digest (of the variant `resolve` would pick, for an index).
    pub id: String,
    pub created: Option<String>,
    /// Config plus layers, compressed, summed over all platforms present.
    pub size: u64,
    pub platforms: Vec<String>,
}

impl Store {
    /// One summary per index.json entry. Best effort: an entry whose blobs
    /// cannot be read is still listed, with what is known.
    pub fn list(&self) -> Result<Vec<ImageSummary>> {
        let index = self.index()?;
        Ok(index
            .manifests()
            .iter()
            .map(|e| self.summarize(e))
            .collect())
    }

    fn summarize(&self, entry: &Descriptor) -> ImageSummary {
        let manifest_digest = entry.digest().to_string();
        let mut s = ImageSummary {
            names: entry_display_name(entry).into_iter().collect(),
            manifest_digest: manifest_digest.clone(),
            id: manifest_digest,
            created: None,
            size: 0,
            platforms: Vec::new(),
        };
        let mut counted = HashSet::new();
        for leaf in self.leaf_manifests(entry, 0) {
            let Ok(m) = self.read_json::<ImageManifest>(leaf.digest().as_ref(), "image manifest")
            else {
                continue;
            };
            for d in std::iter::once(m.config()).chain(m.layers()) {
                if counted.insert(d.digest().to_string()) {
                    s.size += d.size();
                }
            }
            let platform = descriptor_platform(&leaf).or_else(|| {
                self.read_blob(m.config().digest().as_ref())
                    .ok()
                    .and_then(|b| platform_from_config(&b))
            });
            if let Some(p) = platform {
                let p = p.to_string();
                if !s.platforms.contains(&p) {
                    s.platforms.push(p);
                }
            }
        }
        if let Ok((chosen, _)) = self.select_manifest(entry, None, "") {
            if let Ok(m) =
                self.read_json::<ImageManifest>(chosen.digest().as_ref(), "image manifest")
            {
                s.id = m.config().digest().to_string();
                if let Ok(bytes) = self.read_blob(&s.id) {
                    s.created = serde_json::from_slice::<serde_json::Value>(&bytes)
                        .ok()
                        .and_then(|v| v.get("created")?.as_str().map(str::to_string));
                }
            }
        }
        s
    }
}
