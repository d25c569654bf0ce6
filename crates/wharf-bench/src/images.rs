//! The bench images: every example program built by `wharf build` into
//! the private store, and their sizes.

use anyhow::{Context, Result};

use crate::guests::{artifact_name, image_of, KINDS, PROGRAMS};
use crate::proc::Cmd;
use crate::results::Size;
use crate::session::Bench;
use crate::store;

impl Bench<'_> {
    /// `wharf build` of every program in every packaging, timed, with the
    /// resulting image sizes.
    pub(crate) fn build_images(&mut self) -> Result<Vec<Size>> {
        let mut sizes = Vec::new();
        for program in PROGRAMS {
            for (kind, _, _, _) in KINDS {
                let image = image_of(program, kind);
                self.pb.set_message(format!("wharf build {image}"));
                let ctx = self.examples.join(program);
                let cmd = self.build_cmd(program, kind)?;
                let sample = self
                    .timed(&cmd)
                    .with_context(|| format!("building {image}"))?;
                let (compressed, unpacked) = store::image_sizes(&self.root, &image)?;
                let artifact = artifact_name(program, kind);
                let artifact_bytes = std::fs::metadata(ctx.join(&artifact))?.len();
                sizes.push(Size {
                    kind: kind.into(),
                    program: program.into(),
                    image,
                    compressed_bytes: compressed,
                    unpacked_bytes: unpacked,
                    artifact_bytes,
                    artifact: format!("examples/{program}/{artifact}"),
                    build_ms: sample.ms,
                });
            }
        }
        Ok(sizes)
    }

    /// The `wharf build` of `program` packaged as `kind`, into its image.
    pub(crate) fn build_cmd(&self, program: &str, kind: &str) -> Result<Cmd> {
        let (_, _, dockerfile, platform) = KINDS
            .iter()
            .find(|k| k.0 == kind)
            .with_context(|| format!("no packaging {kind}"))?;
        let ctx = self.examples.join(program);
        Ok(self.wharf(&[
            "build",
            "-q",
            "-f",
            &self.path(&ctx.join(dockerfile)),
            "--platform",
            platform,
            "-t",
            &image_of(program, kind),
            &self.path(&ctx),
        ]))
    }
}
