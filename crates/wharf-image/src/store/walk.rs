//! Walking from an index.json entry down to its platform manifests, and
//! which platform each is for: what resolving, listing and lookups by image
//! ID have in common.

use oci_spec::image::{Descriptor, ImageIndex};

use super::Store;
use crate::error::{Error, Result};
use crate::layout::{is_attestation, MAX_DEPTH};
use crate::media;
use crate::platform::Platform;

impl Store {
    /// The platform manifests under `desc` (itself, if it is one), skipping
    /// attestations and anything unreadable.
    pub(super) fn leaf_manifests(&self, desc: &Descriptor, depth: usize) -> Vec<Descriptor> {
        let mt = desc.media_type().to_string();
        if media::is_manifest(&mt) {
            return vec![desc.clone()];
        }
        if !media::is_index(&mt) || depth > MAX_DEPTH {
            return Vec::new();
        }
        let Ok(index) = self.read_json::<ImageIndex>(desc.digest().as_ref(), "image index") else {
            return Vec::new();
        };
        index
            .manifests()
            .iter()
            .filter(|c| !is_attestation(c))
            .flat_map(|c| self.leaf_manifests(c, depth + 1))
            .collect()
    }

    /// Walks indexes down to one platform manifest.
    pub(crate) fn select_manifest(
        &self,
        entry: &Descriptor,
        platform: Option<&Platform>,
        name: &str,
    ) -> Result<(Descriptor, bool)> {
        let mut desc = entry.clone();
        let mut fallback = false;
        for _ in 0..=MAX_DEPTH {
            let mt = desc.media_type().to_string();
            if media::is_manifest(&mt) {
                return Ok((desc, fallback));
            }
            if !media::is_index(&mt) {
                return Err(Error::UnsupportedMediaType {
                    media_type: mt,
                    context: format!("image '{name}' (expected an image manifest or index)"),
                });
            }
            let index: ImageIndex = self.read_json(desc.digest().as_ref(), "image index")?;
            let (child, fb) = choose_platform(&index, platform, name)?;
            fallback |= fb;
            desc = child;
        }
        Err(Error::invalid(
            format!("image '{name}'"),
            "its indexes are nested too deeply",
        ))
    }
}

/// The platform an index entry declares, if it declares one.
pub(super) fn descriptor_platform(d: &Descriptor) -> Option<Platform> {
    d.platform().as_ref().map(|p| {
        Platform::new(
            &p.os().to_string(),
            &p.architecture().to_string(),
            p.variant().as_deref(),
        )
    })
}

fn descriptor_matches(d: &Descriptor, want: &Platform) -> bool {
    match d.platform() {
        Some(p) => want.matches(
            &p.os().to_string(),
            &p.architecture().to_string(),
            p.variant().as_deref(),
        ),
        // containerd treats a descriptor without a platform as matching.
        None => true,
    }
}

/// Picks the child for `platform`, else the host's, else (flagged) Wasm.
fn choose_platform(
    index: &ImageIndex,
    platform: Option<&Platform>,
    name: &str,
) -> Result<(Descriptor, bool)> {
    let candidates: Vec<&Descriptor> = index
        .manifests()
        .iter()
        .filter(|d| !is_attestation(d))
        .collect();
    let no_match = |wanted: &Platform| Error::NoMatchingPlatform {
        name: name.to_string(),
        wanted: wanted.to_string(),
        available: candidates
            .iter()
            .filter_map(|d| descriptor_platform(d).map(|p| p.to_string()))
            .collect(),
    };
    if let Some(want) = platform {
        return candidates
            .iter()
            .find(|d| descriptor_matches(d, want))
            .map(|d| ((*d).clone(), false))
            .ok_or_else(|| no_match(want));
    }
    let host = Platform::host();
    if let Some(d) = candidates.iter().find(|d| descriptor_matches(d, &host)) {
        return Ok(((*d).clone(), false));
    }
    candidates
        .iter()
        .find(|d| descriptor_platform(d).is_some_and(|p| p.is_wasm()))
        .map(|d| ((*d).clone(), true))
        .ok_or_else(|| no_match(&host))
}

/// The platform an image config names (os, architecture, variant); works
/// for the CNCF Wasm config too.
pub(super) fn platform_from_config(bytes: &[u8]) -> Option<Platform> {
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let os = v.get("os")?.as_str()?;
    let arch = v.get("architecture")?.as_str()?;
    let variant = v.get("variant").and_then(|x| x.as_str());
    Some(Platform::new(os, arch, variant))
}
