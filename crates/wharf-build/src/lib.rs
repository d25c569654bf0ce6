//! Dockerfile → OCI image in the Wharf content store.
//!
//! [`build`] parses the Dockerfile, applies each instruction to an in-memory
//! image state (layers, config, history), writes new layers (deterministic
//! tars, gzip-compressed) and finally the config and manifest blobs. It does
//! not tag: it returns the manifest descriptor, and the caller unpacks,
//! precompiles and tags.
//!
//! Layers are deterministic: tar entries are sorted, owned by 0:0 (unless a
//! numeric `--chown`), with mtime `SOURCE_DATE_EPOCH` (or 0). The image's
//! `created` and history times are the build's (or `SOURCE_DATE_EPOCH`'s,
//! which makes the digest reproducible across stores); in one store an
//! unchanged rebuild keeps its id through the build cache, whose hits
//! reuse each step's history entry, time included.

pub mod dockerfile;
pub mod ignore;

mod cache;
mod context;
mod copy;
mod driver;
mod error;
mod image;
mod instructions;
mod layer;
mod options;
mod paths;
mod run;
mod stage;
mod substitution;
#[cfg(test)]
mod tests;

use std::io::Write;

pub use error::{Error, Result};
pub use options::{BuildOptions, Built};
pub use run::RunStep;
pub use wharf_image::{Descriptor, ImageConfiguration, Platform, Store, StoreLock};

/// Builds the Dockerfile of `opts` into `store` (whose writer lock the
/// caller holds); returns the (untagged) manifest. Progress goes to `out`
/// unless `opts.quiet`.
pub fn build(
    store: &Store,
    lock: &StoreLock,
    opts: &BuildOptions,
    runner: Option<&mut dyn RunStep>,
    out: &mut dyn Write,
) -> Result<Built> {
    let instructions = driver::read_dockerfile(opts)?;
    let mut builder = driver::Builder::new(store, opts, out)?;
    let steps = builder.run_steps(&instructions, runner);
    // The steps that worked are cached even when a later one failed.
    builder.save_cache(lock)?;
    steps?;
    builder.finish()
}
