//! Wharf's content store and image model.
//!
//! The store is a plain OCI image layout (`oci-layout`, `index.json`,
//! `blobs/sha256/..`) so that skopeo and umoci can read it directly; tags are
//! `org.opencontainers.image.ref.name` annotations in `index.json`. This crate
//! knows nothing about unpacking layers or running anything.

pub mod archive;
pub mod error;
pub mod expansion;
pub mod fsutil;
pub mod media;
pub mod platform;
pub mod reference;
pub mod store;

mod layout;
#[cfg(test)]
mod testutil;

pub use error::{Error, Result};
pub use layout::{ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME};
pub use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest, MediaType};
pub use platform::Platform;
pub use reference::Reference;
pub use store::{
    BlobWriter, BuildCache, CacheEntry, FinishedBlob, Image, ImageSummary, Store, StoreLock,
};

/// Where Wharf keeps its store (and, beside it, snapshots, the code cache
/// and containers) when neither `--root` nor `$WHARF_ROOT` says:
/// `/var/lib/wharf` for root, else `$XDG_DATA_HOME/wharf` (default
/// `~/.local/share/wharf`). Both binaries, `wharf` and `wharf-runtime`, use it.
pub fn default_root() -> std::path::PathBuf {
    use std::path::PathBuf;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return PathBuf::from("/var/lib/wharf");
    }
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("wharf");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into());
    PathBuf::from(home).join(".local/share/wharf")
}
