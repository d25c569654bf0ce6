//! Wharf's content store and image model.
//!
//! The store is a plain OCI image layout (`oci-layout`, `index.json`,
//! `blobs/sha256/..`) so that skopeo and umoci can read it directly; tags are
//! `org.opencontainers.image.ref.name` annotations in `index.json`. This crate
//! knows nothing about unpacking layers or running anything.

pub mod archive;
pub mod error;
pub mod media;
pub mod platform;
pub mod reference;
pub mod store;

mod fsutil;
#[cfg(test)]
mod testutil;

pub use error::{Error, Result};
pub use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest, MediaType};
pub use platform::Platform;
pub use reference::Reference;
pub use store::{BlobWriter, FinishedBlob, Image, ImageSummary, Store, StoreLock};

/// Annotation holding the tag of an index.json entry, in Docker's short form.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Annotation containerd (and Docker's OCI export) uses for the full name.
pub const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";
