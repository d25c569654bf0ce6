//! docker-archive's `manifest.json`: what `docker save` writes and `docker
//! load` reads, so both `save` (for Docker) and `load` (from Docker) use it.

use serde::{Deserialize, Serialize};

/// docker-archive's manifest.json entry.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct DockerEntry {
    #[serde(rename = "Config")]
    pub(super) config: String,
    #[serde(rename = "RepoTags", default)]
    pub(super) repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    pub(super) layers: Vec<String>,
}
