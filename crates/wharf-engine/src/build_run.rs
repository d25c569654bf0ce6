//! RUN in Linux builds: each step runs in a throwaway Linux container over
//! the layers so far (the same executor as `wharf run`), and the overlay's
//! upper directory — the step's changes, deletions as whiteouts — becomes
//! the new layer.

use oci_spec::runtime::Spec;
use wharf_build::RunStep;
use wharf_image::{Descriptor, ImageConfiguration};
use wharf_linux::{LinuxOptions, Network};
use wharf_snapshot::LayerSource;

use crate::spec::{self, SpecInput};
use crate::{fsutil, linux_exec, Engine, Kind};

pub struct LinuxRunStep<'a> {
    pub engine: &'a Engine,
}

impl RunStep for LinuxRunStep<'_> {
    fn run(
        &mut self,
        base_layers: &[Descriptor],
        config: &ImageConfiguration,
        args: &[String],
    ) -> anyhow::Result<Option<Vec<u8>>> {
        let engine = self.engine;
        let diff_ids = config.rootfs().diff_ids();
        let mut layers = Vec::with_capacity(base_layers.len());
        for (layer, diff_id) in base_layers.iter().zip(diff_ids) {
            layers.push(LayerSource {
                blob: engine.store.blob_path(layer.digest().as_ref())?,
                media_type: layer.media_type().to_string(),
                diff_id: diff_id.clone(),
            });
        }
        let lower = engine.snapshots.prepare(&layers)?;
        let id = format!("build-{}", &fsutil::random_hex_id()[..16]);
        let dir = engine.root.join("build").join(&id);
        std::fs::create_dir_all(&dir)?;
        let result = run_step(engine, &id, &dir, &lower, config, args);
        linux_exec::cleanup(&engine.root, &dir, &id);
        let _ = std::fs::remove_dir_all(&dir);
        result
    }
}

fn run_step(
    engine: &Engine,
    id: &str,
    dir: &std::path::Path,
    lower: &std::path::Path,
    config: &ImageConfiguration,
    args: &[String],
) -> anyhow::Result<Option<Vec<u8>>> {
    let image_config = config.config().clone().unwrap_or_default();
    let mut spec: Spec = spec::build(SpecInput {
        kind: Kind::Linux,
        args: args.to_vec(),
        env: image_config.env().clone().unwrap_or_default(),
        cwd: image_config
            .working_dir()
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".into()),
        rootfs: lower,
        volumes: &[],
        memory: None,
        hostname: "wharf-build".into(),
        module: None,
        terminal: false,
    })?;
    // Host networking, as `docker build --network host`: Wharf has no bridge,
    // and a RUN step usually needs to fetch something.
    let opts = LinuxOptions {
        network: Network::Host,
        user: image_config.user().clone().filter(|u| !u.is_empty()),
        hostname: "wharf-build".into(),
        ..LinuxOptions::default()
    };
    // The step's upper dir is read into a layer and then deleted.
    linux_exec::prepare_bundle(dir, id, &mut spec, lower, &opts, true)?;
    spec.save(dir.join("config.json"))?;
    let state_root = linux_exec::state_root(&engine.root);
    let stdio = linux_exec::inherit_stdio(false)?;
    let started = wharf_linux::start(&state_root, id, dir, stdio)?;
    let exit = wharf_linux::wait(&state_root, id, &started)?;
    if exit.code != 0 {
        anyhow::bail!(
            "`{}` returned a non-zero code: {}",
            args.join(" "),
            exit.code
        );
    }
    // The layer is read from upper after the overlay is gone, so nothing moves under it.
    linux_exec::cleanup(&engine.root, dir, id);
    let mut tar = Vec::new();
    wharf_linux::layer_from_upper(&dir.join("upper"), &mut tar)?;
    Ok(Some(tar))
}
