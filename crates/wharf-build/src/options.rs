//! What a build is asked for ([`BuildOptions`]) and what it hands back
//! ([`Built`]).

use std::io;
use std::path::PathBuf;

use crate::error::{io_err, Result};
use crate::stage::last_value;
use crate::{Descriptor, Platform};

/// What to build.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The build context directory.
    pub context: PathBuf,
    /// Default: `context/Dockerfile`.
    pub dockerfile: Option<PathBuf>,
    /// `--build-arg K=V`.
    pub build_args: Vec<(String, String)>,
    /// Default: the FROM image's platform, or the host's.
    pub platform: Option<Platform>,
    /// No progress output.
    pub quiet: bool,
    /// `--target`: build up to this stage (by name); default the last.
    pub target: Option<String>,
    /// `--no-cache`: run every step (the results are still cached).
    pub no_cache: bool,
}

/// The result of a build: an untagged image in the store.
#[derive(Debug, Clone)]
pub struct Built {
    pub manifest: Descriptor,
    pub config_digest: String,
    pub platform: Platform,
    /// Warnings (also printed unless quiet), e.g. unused build args.
    pub warnings: Vec<String>,
}

impl BuildOptions {
    /// The Dockerfile to read: `-f`, or the context's `Dockerfile`.
    pub(crate) fn dockerfile_path(&self) -> PathBuf {
        self.dockerfile
            .clone()
            .unwrap_or_else(|| self.context.join("Dockerfile"))
    }

    /// The value of `--build-arg name=...` (the last one wins).
    pub(crate) fn build_arg(&self, name: &str) -> Option<String> {
        last_value(&self.build_args, name)
    }

    /// `SOURCE_DATE_EPOCH` from the build args, else from the environment:
    /// when set, the time of the image and its history (otherwise the
    /// build's), as BuildKit does, so the same inputs give the same digest
    /// in any store.
    pub(crate) fn source_date_epoch(&self) -> Result<Option<u64>> {
        let from_args = self.build_arg("SOURCE_DATE_EPOCH");
        let raw = from_args.or_else(|| std::env::var("SOURCE_DATE_EPOCH").ok());
        match raw {
            None => Ok(None),
            Some(s) if s.trim().is_empty() => Ok(None),
            Some(s) => s.trim().parse::<u64>().map(Some).map_err(|_| {
                io_err(
                    format!(
                        "SOURCE_DATE_EPOCH={s:?} is not a number of seconds since 1970; set it to e.g. $(git log -1 --format=%ct)"
                    ),
                    io::Error::from(io::ErrorKind::InvalidInput),
                )
            }),
        }
    }
}
