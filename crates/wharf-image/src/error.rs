//! The crate's error type. Every message names the thing that was wrong and
//! says what the user can do about it.

use std::io;

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("invalid image reference '{reference}': {reason}")]
    InvalidReference { reference: String, reason: String },

    #[error("invalid platform '{platform}': {reason}; use os/arch[/variant], e.g. linux/amd64, linux/arm64/v8 or wasip1/wasm")]
    InvalidPlatform { platform: String, reason: String },

    #[error("invalid digest '{0}': expected 'sha256:' followed by 64 lowercase hex characters")]
    InvalidDigest(String),

    #[error("blob {0} is not in the image store; the store is missing content: load or pull the image that uses it again")]
    BlobNotFound(String),

    #[error("{referenced_by} references blob {digest}, which is missing; the image is incomplete: export it again with all its content, or pull it")]
    MissingBlob {
        digest: String,
        referenced_by: String,
    },

    #[error("content does not match its digest: expected {expected}, got {actual}; the data is corrupt or truncated: fetch or export it again")]
    DigestMismatch { expected: String, actual: String },

    #[error("blob {digest} is {actual} bytes but its descriptor says {expected}; the image is inconsistent: export it again")]
    SizeMismatch {
        digest: String,
        expected: u64,
        actual: u64,
    },

    #[error("image '{0}' not found in the store; build it with `wharf build`, load it with `wharf load -i`, or pull it")]
    ImageNotFound(String),

    #[error("image '{0}' was removed (wharf rmi) while this command was using it; build, load or pull it again")]
    ImageRemoved(String),

    #[error("'{name}' matches more than one image ({}); use more characters of the ID or a name", .matches.join(", "))]
    AmbiguousImage { name: String, matches: Vec<String> },

    #[error("image '{name}' has no variant for platform {wanted} (available: {}); pick one of those with --platform", if .available.is_empty() { "none".to_string() } else { .available.join(", ") })]
    NoMatchingPlatform {
        name: String,
        wanted: String,
        available: Vec<String>,
    },

    #[error("unsupported media type '{media_type}' for {context}; Wharf handles OCI and Docker v2 images and Wasm artifacts")]
    UnsupportedMediaType { media_type: String, context: String },

    #[error("{what} is not valid JSON of the expected shape: {source}")]
    InvalidJson {
        what: String,
        #[source]
        source: serde_json::Error,
    },

    #[error("{what}: {reason}")]
    InvalidImage { what: String, reason: String },

    #[error("layer {layer} does not match the image config: its uncompressed content has digest {actual} but the config's diff_id is {expected}; the image is corrupt: export it again")]
    DiffIdMismatch {
        layer: String,
        expected: String,
        actual: String,
    },

    #[error("bad archive (member '{member}'): {reason}")]
    Archive { member: String, reason: String },

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn json(what: impl Into<String>, source: serde_json::Error) -> Self {
        Error::InvalidJson {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidImage {
            what: what.into(),
            reason: reason.into(),
        }
    }
}

/// Adds a context message to io errors, like anyhow's `with_context`.
pub(crate) trait IoContext<T> {
    fn ctx(self, f: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::result::Result<T, io::Error> {
    fn ctx(self, f: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::io(f(), e))
    }
}
