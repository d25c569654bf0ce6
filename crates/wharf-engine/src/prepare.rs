//! Turning a stored image into what a container runs over: its layers
//! unpacked into a read-only snapshot. Build, load and pull then let the
//! image's executor ready what its containers need (a Wasm module compiled
//! into the code cache), so a bad layer or module is refused before an
//! image becomes visible and the first start is warm.

use std::path::PathBuf;

use wharf_image::{Descriptor, Image};
use wharf_snapshot::LayerSource;

use crate::{executor, Engine, Error, Result};

impl Engine {
    /// Unpacks the image's tar layers (once per chain id) and returns the tree.
    pub(crate) fn unpack(&self, image: &Image) -> Result<PathBuf> {
        let diff_ids: Vec<String> = image
            .config
            .as_ref()
            .map(|c| c.rootfs().diff_ids().clone())
            .unwrap_or_default();
        let tar_layers: Vec<&Descriptor> = image
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
        self.unpack_layers(&tar_layers, &diff_ids)
    }

    /// The snapshot of `layers` (tar layers, bottom first, each with its
    /// diff_id), unpacked once per chain id.
    pub(crate) fn unpack_layers(
        &self,
        layers: &[&Descriptor],
        diff_ids: &[String],
    ) -> Result<PathBuf> {
        let mut sources = Vec::with_capacity(layers.len());
        for (layer, diff_id) in layers.iter().zip(diff_ids) {
            sources.push(LayerSource {
                blob: self.store.blob_path(layer.digest().as_ref())?,
                media_type: layer.media_type().to_string(),
                diff_id: diff_id.clone(),
            });
        }
        Ok(self.snapshots.prepare(&sources)?)
    }

    /// Build and load call this: unpack, then let the image's executor
    /// check and ready what its containers will need.
    pub(crate) fn ready_image(&self, image: &Image) -> Result<PathBuf> {
        let rootfs = self.unpack(image)?;
        executor::for_image(image).image_ready(self, image, &rootfs)?;
        Ok(rootfs)
    }
}
