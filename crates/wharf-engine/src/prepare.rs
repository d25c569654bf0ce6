//! Turning a stored image into what a container runs over: its rootfs
//! snapshot, and for Wasm images the module file. Build, load and the first
//! run all come through here, so a bad layer or module is refused before an
//! image becomes visible, and compiled code is ready before the first start.

use std::path::PathBuf;

use wharf_image::Image;
use wharf_snapshot::{resolve_in_root, LayerSource};

use crate::kind::{image_module, ModuleSource};
use crate::{Engine, Error, Kind, Result};

pub struct Prepared {
    pub kind: Kind,
    pub rootfs: PathBuf,
    module: Option<ModuleSource>,
}

impl Prepared {
    /// Whether the module is a layer of its own (CNCF artifacts, runwasi,
    /// Spin) rather than a file named by args[0].
    pub fn module_is_layer(&self) -> bool {
        matches!(self.module, Some(ModuleSource::Layer { .. }))
    }

    /// The module's host path and, when known without reading it, what
    /// identifies its bytes for the code cache (its digest, or for a file in
    /// a snapshot the snapshot and path).
    /// `args0` is the container's first argument; `workdir` resolves a relative one.
    pub fn module_path(
        &self,
        engine: &Engine,
        args0: Option<&str>,
        workdir: &str,
    ) -> Result<(PathBuf, Option<String>)> {
        match &self.module {
            Some(ModuleSource::Layer { digest }) => {
                Ok((engine.store.blob_path(digest)?, Some(digest.clone())))
            }
            Some(ModuleSource::InRootfs) => {
                let arg = args0.ok_or_else(|| {
                    Error::InvalidArgument(
                        "this Wasm image names no module: it has no ENTRYPOINT or CMD; give the module's path as the command, e.g. `wharf run IMAGE /app.wasm`".into(),
                    )
                })?;
                let in_image = crate::spec::path_in_image(arg, workdir);
                let path = resolve_in_root(&self.rootfs, &in_image).ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "the Wasm module {in_image} (args[0]) does not exist in the image; check the image's ENTRYPOINT/CMD or the command you gave"
                    ))
                })?;
                if !path.is_file() {
                    return Err(Error::InvalidArgument(format!(
                        "the Wasm module {in_image} in the image is not a regular file"
                    )));
                }
                Ok((path.clone(), self.snapshot_identity(engine, &path)))
            }
            None => Err(Error::Unsupported("not a Wasm image".into())),
        }
    }
}

impl Prepared {
    /// What names a module file in a snapshot as surely as its digest:
    /// snapshots never change once made and are named by the chain id of
    /// their layers, so the chain id and the path inside name the bytes. It
    /// spares reading and hashing the module on every start.
    fn snapshot_identity(&self, engine: &Engine, module: &std::path::Path) -> Option<String> {
        if self.rootfs.parent() != Some(engine.snapshots.dir()) {
            return None;
        }
        let snapshot = self.rootfs.file_name()?.to_str()?;
        let inside = module.strip_prefix(&self.rootfs).ok()?.to_str()?;
        module_identity(snapshot, inside)
    }
}

/// The code-cache identity of the file `path` (in the image) of snapshot
/// `snapshot` (its directory name). None for a path with `..` in it.
pub(crate) fn module_identity(snapshot: &str, path: &str) -> Option<String> {
    let mut parts = Vec::new();
    for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
        if part == ".." {
            return None;
        }
        parts.push(part);
    }
    Some(format!("snapshot:{snapshot}:/{}", parts.join("/")))
}

impl Engine {
    /// Unpacks the image's tar layers (once per chain id) and finds its kind.
    pub(crate) fn prepare(&self, image: &Image) -> Result<Prepared> {
        let module = image_module(image);
        let kind = if module.is_some() {
            Kind::Wasm
        } else {
            Kind::Linux
        };
        let diff_ids: Vec<String> = image
            .config
            .as_ref()
            .map(|c| c.rootfs().diff_ids().clone())
            .unwrap_or_default();
        let tar_layers: Vec<_> = image
            .manifest
            .layers()
            .iter()
            .filter(|l| wharf_image::media::is_tar_layer(l.media_type().as_ref()))
            .collect();
        if tar_layers.len() != diff_ids.len() && !tar_layers.is_empty() {
            return Err(Error::Corrupt(format!(
                "image {} has {} tar layers but its config lists {} diff_ids; the image is malformed",
                image.id(),
                tar_layers.len(),
                diff_ids.len()
            )));
        }
        let mut layers = Vec::with_capacity(tar_layers.len());
        for (layer, diff_id) in tar_layers.iter().zip(diff_ids) {
            layers.push(LayerSource {
                blob: self.store.blob_path(layer.digest().as_ref())?,
                media_type: layer.media_type().to_string(),
                diff_id,
            });
        }
        let rootfs = self.snapshots.prepare(&layers)?;
        Ok(Prepared {
            kind,
            rootfs,
            module,
        })
    }

    /// Build and load call this: unpack, check that a Wasm image's module is
    /// valid, and compile it into the code cache so the first run is warm.
    pub(crate) fn prepare_and_precompile(&self, image: &Image) -> Result<Prepared> {
        let prepared = self.prepare(image)?;
        if prepared.kind == Kind::Wasm {
            let (entrypoint, cmd) = crate::spec::image_command(image, None, &[]);
            let args: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
            let workdir = crate::spec::image_workdir(image);
            if !args.is_empty() || prepared.module_is_layer() {
                let (path, digest) =
                    prepared.module_path(self, args.first().map(String::as_str), &workdir)?;
                self.wasm_runtime()?
                    .prepare_file(&path, digest.as_deref())?;
            }
        }
        Ok(prepared)
    }
}
