//! Image archives: `save` writes an OCI archive (a tar of an OCI image
//! layout, plus a docker-style manifest.json so `docker load` takes it too);
//! `load` ingests OCI archives and docker-archives, verifying every blob.

mod docker_manifest;
mod export;
mod import;

pub use crate::store::verify_diff_ids;
pub use export::save;
pub use import::{load, Staged};

#[cfg(test)]
mod tests;
