//! RUN in Linux builds: each step runs in a throwaway Linux container over
//! the layers so far, through the same executor and lifecycle as `wharf
//! run`, and the overlay's upper directory — the step's changes, deletions
//! as whiteouts — becomes the new layer.

use std::path::{Path, PathBuf};

use wharf_build::RunStep;
use wharf_image::{Descriptor, ImageConfiguration};
use wharf_linux::{LinuxOptions, Network};

use crate::executor::{Bundle, Executor, PrepareInput, LINUX};
use crate::spec::{self, SpecInput};
use crate::{fsutil, Engine};

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
        let layers: Vec<&Descriptor> = base_layers.iter().collect();
        let lower = engine.unpack_layers(&layers, config.rootfs().diff_ids())?;
        let id = format!("build-{}", &fsutil::random_hex_id()[..16]);
        let dir = engine.root.join("build").join(&id);
        std::fs::create_dir_all(&dir)?;
        let bundle = Bundle { id: &id, dir: &dir };
        let result = run_step(engine, bundle, &lower, config, args);
        LINUX.delete(engine, bundle);
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    fn rootfs(&mut self, layers: &[Descriptor], diff_ids: &[String]) -> anyhow::Result<PathBuf> {
        let layers: Vec<&Descriptor> = layers.iter().collect();
        Ok(self.engine.unpack_layers(&layers, diff_ids)?)
    }

    fn fetch(&mut self, url: &str, dest: &mut std::fs::File) -> anyhow::Result<()> {
        wharf_registry::download(url, dest)?;
        Ok(())
    }
}

fn run_step(
    engine: &Engine,
    bundle: Bundle,
    lower: &Path,
    config: &ImageConfiguration,
    args: &[String],
) -> anyhow::Result<Option<Vec<u8>>> {
    let image_config = config.config().clone().unwrap_or_default();
    let mut spec = spec::build(SpecInput {
        args: args.to_vec(),
        env: image_config.env().clone().unwrap_or_default(),
        cwd: image_config
            .working_dir()
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".into()),
        rootfs: lower,
        volumes: &[],
        limits: spec::Limits::default(),
        read_only: false,
        hostname: "wharf-build".into(),
        terminal: false,
    })?;
    // Host networking, as `docker build --network host`: Wharf has no bridge,
    // and a RUN step usually needs to fetch something.
    let linux = LinuxOptions {
        network: Network::Host,
        user: image_config.user().clone().filter(|u| !u.is_empty()),
        ..LinuxOptions::default()
    };
    let input = PrepareInput {
        image: None,
        rootfs: lower,
        linux: &linux,
        // The step's upper dir is read into a layer and then deleted.
        ephemeral: true,
    };
    LINUX.prepare(engine, bundle, &mut spec, &input)?;
    spec.save(bundle.dir.join("config.json"))?;
    let mut task = LINUX.create(engine, bundle, &spec, false)?;
    task.start()?;
    let exit = task.wait()?;
    if exit.code != 0 {
        anyhow::bail!(
            "`{}` returned a non-zero code: {}",
            args.join(" "),
            exit.code
        );
    }
    // The task unmounted the overlay, so nothing moves under the upper dir.
    let mut tar = Vec::new();
    wharf_linux::layer_from_upper(&bundle.dir.join("upper"), &mut tar)?;
    Ok(Some(tar))
}
