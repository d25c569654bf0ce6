//! "Is it Wasm?": the one place that decides which executor runs a container,
//! for images (`wharf run`) and for runtime bundles (`wharf-runtime`).

use serde::{Deserialize, Serialize};
use wharf_image::{media, Image};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Wasm,
    Linux,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Wasm => "wasm",
            Kind::Linux => "linux",
        }
    }
}

/// Where a Wasm image keeps its module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleSource {
    /// A layer that is the module itself (CNCF wasm artifacts, runwasi, Spin).
    Layer { digest: String },
    /// A file inside the tar layers, named by the container's args[0]
    /// (Docker's `wasi/wasm` images).
    InRootfs,
}

/// An image is Wasm when its config says `architecture: wasm`, when its config
/// is the CNCF wasm config, or when a layer has one of the raw Wasm layer
/// types. Returns the module's source for Wasm images, None for Linux ones.
pub fn image_module(image: &Image) -> Option<ModuleSource> {
    if let Some(layer) = image
        .manifest
        .layers()
        .iter()
        .find(|l| media::is_wasm_layer(l.media_type().as_ref()))
    {
        return Some(ModuleSource::Layer {
            digest: layer.digest().to_string(),
        });
    }
    let wasm_config = image.config_media_type == media::WASM_CONFIG;
    let wasm_platform = image.platform().is_some_and(|p| p.is_wasm());
    (wasm_config || wasm_platform).then_some(ModuleSource::InRootfs)
}

pub fn image_kind(image: &Image) -> Kind {
    if image_module(image).is_some() {
        Kind::Wasm
    } else {
        Kind::Linux
    }
}

/// The bundle rule (containerd hands the runtime a bundle, not an image):
/// Wasm when annotated `run.oci.handler=wasm` or
/// `module.wasm.image/variant=compat`; for the `compat-smart` variant only when
/// args[0] really is Wasm (magic bytes, or a `.wasm`/`.wat` name). A native
/// executable is never Wasm, whatever the annotations say.
pub fn bundle_kind(
    annotations: &std::collections::HashMap<String, String>,
    program_header: Option<&[u8]>,
    program_name: &str,
) -> Kind {
    let is_native =
        program_header.is_some_and(|h| h.starts_with(b"\x7fELF") || h.starts_with(b"#!"));
    if is_native {
        return Kind::Linux;
    }
    let looks_wasm = program_header.is_some_and(|h| h.starts_with(b"\0asm"))
        || program_name.ends_with(".wasm")
        || program_name.ends_with(".wat");
    let handler = annotations.get("run.oci.handler").map(String::as_str);
    let variant = annotations
        .get("module.wasm.image/variant")
        .map(String::as_str);
    let annotated = handler == Some("wasm") || variant == Some("compat");
    // `compat-smart` asks for Wasm only when args[0] is Wasm, which is
    // already enough on its own, so it adds nothing to the rule.
    if annotated || looks_wasm {
        Kind::Wasm
    } else {
        Kind::Linux
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn bundle_rule() {
        let none = HashMap::new();
        assert_eq!(
            bundle_kind(&none, Some(b"\0asm\x01\0\0\0"), "/app"),
            Kind::Wasm
        );
        assert_eq!(bundle_kind(&none, None, "/app.wasm"), Kind::Wasm);
        assert_eq!(
            bundle_kind(&none, Some(b"\x7fELF...."), "/bin/sh"),
            Kind::Linux
        );
        let handler = HashMap::from([("run.oci.handler".to_string(), "wasm".to_string())]);
        assert_eq!(bundle_kind(&handler, None, "/app"), Kind::Wasm);
        assert_eq!(
            bundle_kind(&handler, Some(b"\x7fELF"), "/app.wasm"),
            Kind::Linux
        );
        let smart = HashMap::from([(
            "module.wasm.image/variant".to_string(),
            "compat-smart".to_string(),
        )]);
        assert_eq!(bundle_kind(&smart, Some(b"#!/bin/sh"), "/x"), Kind::Linux);
        assert_eq!(bundle_kind(&smart, None, "/bin/busybox"), Kind::Linux);
    }
}
