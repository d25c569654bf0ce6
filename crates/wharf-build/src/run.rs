//! RUN: the build cannot execute commands itself, so it hands the layers so
//! far and the config to a [`RunStep`] (the engine's Linux executor) and
//! commits the diff it returns as a new layer.

use std::path::PathBuf;

use crate::dockerfile::{CommandForm, Instruction};
use crate::driver::Builder;
use crate::error::{step_err, Result};
use crate::image;
use crate::layer::scan_dirs;
use crate::{Descriptor, ImageConfiguration};

/// What a build needs from the engine. The engine implements it for Linux.
pub trait RunStep {
    /// Executes a RUN instruction in a container over the layers so far
    /// and returns the layer diff (an uncompressed tar), or `None` when
    /// nothing changed.
    fn run(
        &mut self,
        base_layers: &[Descriptor],
        config: &ImageConfiguration,
        args: &[String],
    ) -> anyhow::Result<Option<Vec<u8>>>;

    /// The unpacked, read-only filesystem of `layers` (for `COPY --from`):
    /// the engine's snapshot of the chain, which it keeps and collects.
    fn rootfs(&mut self, layers: &[Descriptor], diff_ids: &[String]) -> anyhow::Result<PathBuf>;

    /// Downloads `url` (http or https) into `dest`, for `ADD <url>`.
    fn fetch(&mut self, url: &str, dest: &mut std::fs::File) -> anyhow::Result<()>;
}

impl Builder<'_> {
    /// RUN: refused for Wasm images (no OS to run in) and without a runner.
    pub(crate) fn run<'r>(
        &mut self,
        ins: &Instruction,
        form: &CommandForm,
        runner: Option<&mut (dyn RunStep + 'r)>,
    ) -> Result<()> {
        let wasm = self.stage.as_ref().is_some_and(|s| s.platform.is_wasm());
        if wasm {
            return Err(step_err(
                ins,
                "RUN cannot run in a Wasm image build: there is no shell or OS to run commands; build the module outside and COPY it in",
            ));
        }
        let Some(runner) = runner else {
            return Err(step_err(
                ins,
                "RUN in Linux builds needs the Linux executor (not available in this build yet); build the files outside and COPY them in",
            ));
        };
        if self.cached_layer_step(ins, "")? {
            return Ok(());
        }
        let stage = self.stage.as_ref().expect("checked");
        let args = stage.argv(form);
        // Build args are visible to RUN as environment variables.
        let mut run_stage = stage.clone();
        for (k, v) in &stage.args {
            if !run_stage.env.iter().any(|(n, _)| n == k) {
                run_stage.env.push((k.clone(), v.clone()));
            }
        }
        let (bytes, _) = image::config_json(&run_stage, &self.created);
        let config: ImageConfiguration = serde_json::from_slice(&bytes)
            .map_err(|e| step_err(ins, format!("internal error: image config: {e}")))?;
        let layers = stage.layers.clone();
        let diff = runner
            .run(&layers, &config, &args)
            .map_err(|e| step_err(ins, format!("RUN failed: {e:#}")))?;
        match diff {
            Some(tar) => {
                self.commit_tar(ins, &mut &tar[..])?;
                if let Some(s) = self.stage.as_mut() {
                    if let Some(d) = s.dirs.as_mut() {
                        scan_dirs(&mut &tar[..], d);
                    }
                }
                self.history(ins, false);
            }
            None => self.history(ins, true),
        }
        Ok(())
    }
}
