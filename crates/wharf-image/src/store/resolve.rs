//! Finding an image by what the user typed: a name, a manifest digest or an
//! image ID (prefix), resolved the way Docker does, down to one platform's
//! image.

use std::collections::{BTreeSet, HashMap};

use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest};

use super::names::{entry_matches, names_of};
use super::walk::platform_from_config;
use super::Store;
use crate::error::{Error, Result};
use crate::media;
use crate::platform::Platform;
use crate::reference::{is_lower_hex, Reference};

/// A resolved, single-platform image.
#[derive(Debug, Clone)]
pub struct Image {
    /// Names (familiar form) of every index.json entry for this image.
    pub names: Vec<String>,
    /// The platform manifest chosen (the entry itself when it is not an index).
    pub manifest_descriptor: Descriptor,
    pub manifest: ImageManifest,
    pub config_media_type: String,
    pub config_bytes: Vec<u8>,
    /// `None` when the config is not an OCI/Docker image config, e.g. the CNCF
    /// Wasm artifact config.
    pub config: Option<ImageConfiguration>,
    /// The entry was an index with no variant for the host, so a Wasm variant
    /// was picked instead.
    pub platform_fallback: bool,
}

impl Image {
    /// The image ID: its config digest, like Docker's.
    pub fn id(&self) -> String {
        self.manifest.config().digest().to_string()
    }

    /// os/architecture/variant as written in the config (works for the CNCF
    /// Wasm config too, which has `"architecture":"wasm","os":"wasip1"`).
    pub fn platform(&self) -> Option<Platform> {
        platform_from_config(&self.config_bytes)
    }
}

/// What a name given by the user points at.
pub(super) enum Target {
    /// Positions of index.json entries carrying that name.
    Named(Vec<usize>),
    /// Every entry with this (top-level manifest or index) digest.
    Digest(String),
    /// An image ID: the config digest, and the entries holding a manifest
    /// with that config.
    Config {
        config: String,
        entries: BTreeSet<String>,
    },
}

impl Store {
    /// Finds an image by name, manifest digest or ID prefix and picks its
    /// variant for `platform` (default: the host, else a Wasm variant).
    pub fn resolve(&self, name: &str, platform: Option<&Platform>) -> Result<Image> {
        let index = self.index()?;
        let by_digest = |d: &str| {
            index
                .manifests()
                .iter()
                .find(|e| e.digest().as_ref() == d)
                .cloned()
                .ok_or_else(|| Error::ImageNotFound(name.to_string()))
        };
        let (entry, pinned) = match self.lookup(&index, name)? {
            Target::Named(pos) => (index.manifests()[pos[0]].clone(), None),
            Target::Digest(d) => (by_digest(&d)?, None),
            Target::Config { config, entries } => {
                let first = entries.iter().next().cloned().unwrap_or_default();
                let entry = by_digest(&first)?;
                // The ID names one platform's image, whatever the platform.
                let leaf = self.leaf_manifests(&entry, 0).into_iter().find(|d| {
                    self.read_json::<ImageManifest>(d.digest().as_ref(), "image manifest")
                        .is_ok_and(|m| m.config().digest().as_ref() == config)
                });
                (entry, leaf)
            }
        };
        let names = names_of(&index, entry.digest().as_ref());
        let (manifest_descriptor, platform_fallback) = match pinned {
            Some(leaf) => (leaf, false),
            None => self.select_manifest(&entry, platform, name)?,
        };
        let digest = manifest_descriptor.digest().to_string();
        let manifest: ImageManifest = self.read_json(&digest, "image manifest")?;
        let config_desc = manifest.config();
        let config_media_type = config_desc.media_type().to_string();
        let config_bytes = self.read_blob(config_desc.digest().as_ref())?;
        // Configs were validated when the image came in; one that still does
        // not parse is treated as a non-image config rather than blocking a run.
        let config = if media::is_image_config(&config_media_type) {
            serde_json::from_slice(&config_bytes).ok()
        } else {
            None
        };
        Ok(Image {
            names,
            manifest_descriptor,
            manifest,
            config_media_type,
            config_bytes,
            config,
            platform_fallback,
        })
    }

    /// What `name` points at in `index`.
    pub(super) fn lookup(&self, index: &ImageIndex, name: &str) -> Result<Target> {
        let entries = index.manifests();
        let hex_part = name.strip_prefix("sha256:");
        let id_like = hex_part.is_some() || (name.len() == 64 && is_lower_hex(name));
        let mut shown = name.to_string();
        if !id_like {
            let r: Reference = name.parse()?;
            shown = r.familiar();
            let hits: Vec<usize> = entries
                .iter()
                .enumerate()
                .filter(|(_, e)| entry_matches(e, &r))
                .map(|(i, _)| i)
                .collect();
            if !hits.is_empty() {
                return Ok(Target::Named(hits));
            }
            if let Some(d) = &r.digest {
                if entries.iter().any(|e| e.digest().as_ref() == d) {
                    return Ok(Target::Digest(d.clone()));
                }
            }
        }
        // Docker resolves names first, then ID prefixes.
        let hex = hex_part.unwrap_or(name);
        if (4..=64).contains(&hex.len()) && is_lower_hex(hex) {
            let prefix = format!("sha256:{hex}");
            let found: BTreeSet<String> = entries
                .iter()
                .map(|e| e.digest().to_string())
                .filter(|d| d.starts_with(&prefix))
                .collect();
            match found.len() {
                0 => {}
                1 => return Ok(Target::Digest(found.into_iter().next().unwrap_or_default())),
                _ => {
                    return Err(Error::AmbiguousImage {
                        name: name.to_string(),
                        matches: found.into_iter().collect(),
                    })
                }
            }
            // One config can sit under several entries (two indexes sharing
            // a platform image); it is still one image.
            let mut configs: HashMap<String, BTreeSet<String>> = HashMap::new();
            for e in entries {
                for c in self.config_digests(e) {
                    if c.starts_with(&prefix) {
                        configs.entry(c).or_default().insert(e.digest().to_string());
                    }
                }
            }
            if configs.len() > 1 {
                let mut matches: Vec<String> = configs.into_keys().collect();
                matches.sort();
                return Err(Error::AmbiguousImage {
                    name: name.to_string(),
                    matches,
                });
            }
            if let Some((config, entries)) = configs.into_iter().next() {
                return Ok(Target::Config { config, entries });
            }
        }
        Err(Error::ImageNotFound(shown))
    }

    /// Config digests of the manifests under an entry (best effort).
    fn config_digests(&self, entry: &Descriptor) -> Vec<String> {
        self.leaf_manifests(entry, 0)
            .iter()
            .filter_map(|d| {
                self.read_json::<ImageManifest>(d.digest().as_ref(), "image manifest")
                    .ok()
            })
            .map(|m| m.config().digest().to_string())
            .collect()
    }
}
