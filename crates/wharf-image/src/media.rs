//! Media types Wharf understands, and how to classify them.

use std::io::{self, BufRead, BufReader, Read};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const OCI_LAYER_NONDIST: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar";
pub const OCI_LAYER_NONDIST_GZIP: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
pub const OCI_LAYER_NONDIST_ZSTD: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_FOREIGN_LAYER_GZIP: &str =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

/// CNCF Wasm OCI artifact (<https://tag-runtime.cncf.io/wgs/wasm/deliverables/wasm-oci-artifact/>).
pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
pub const WASM_LAYER: &str = "application/wasm";
/// Layer types runwasi's oci-tar-builder uses for raw modules and components.
pub const RUNWASI_COMPONENT_LAYER: &str =
    "application/vnd.bytecodealliance.wasm.component.layer.v0+wasm";
pub const RUNWASI_MODULE_LAYER: &str = "application/vnd.w3c.wasm.module.v1+wasm";
/// Spin's OCI layer type for a component.
pub const SPIN_LAYER: &str = "application/vnd.wasm.content.layer.v1+wasm";

/// Compression of a layer blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// From a media type's suffix (`+gzip`, `.gzip`, `+zstd`, any case);
    /// `None` when the media type does not say (plain `tar` or unknown):
    /// sniff with [`from_magic`](Self::from_magic) then. Unlike
    /// [`tar_layer_compression`] it accepts media types Wharf does not list,
    /// so a layer with an unusual but suffixed type still unpacks.
    pub fn from_media_type(media_type: &str) -> Option<Compression> {
        let m = media_type.trim().to_ascii_lowercase();
        if m.ends_with("gzip") {
            Some(Compression::Gzip)
        } else if m.ends_with("zstd") {
            Some(Compression::Zstd)
        } else {
            None
        }
    }

    /// Guesses the compression from the first bytes of a blob.
    pub fn from_magic(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// A reader of `input` decompressed as this compression says, reading
    /// from the buffer so the bytes [`from_magic`](Self::from_magic) peeked
    /// at are not lost.
    pub(crate) fn decoder<'a>(self, input: impl BufRead + 'a) -> io::Result<Box<dyn Read + 'a>> {
        Ok(match self {
            Compression::None => Box::new(input),
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(input)?),
        })
    }

    /// The OCI tar layer media type with this compression.
    pub fn oci_layer_media_type(self) -> &'static str {
        match self {
            Compression::None => OCI_LAYER,
            Compression::Gzip => OCI_LAYER_GZIP,
            Compression::Zstd => OCI_LAYER_ZSTD,
        }
    }
}

/// Wraps `reader` in the decompressor for `compression`, sniffed from the
/// magic bytes (see [`Compression::from_magic`]) when `None`.
pub fn decompress<'a, R: Read + 'a>(
    reader: R,
    compression: Option<Compression>,
) -> io::Result<Box<dyn Read + 'a>> {
    let mut buf = BufReader::new(reader);
    let c = match compression {
        Some(c) => c,
        None => Compression::from_magic(buf.fill_buf()?),
    };
    c.decoder(buf)
}

/// The compression a tar layer media type declares; `None` if `mt` is not a
/// tar layer.
pub fn tar_layer_compression(mt: &str) -> Option<Compression> {
    match mt {
        OCI_LAYER | OCI_LAYER_NONDIST | DOCKER_LAYER => Some(Compression::None),
        OCI_LAYER_GZIP | OCI_LAYER_NONDIST_GZIP | DOCKER_LAYER_GZIP | DOCKER_FOREIGN_LAYER_GZIP => {
            Some(Compression::Gzip)
        }
        OCI_LAYER_ZSTD | OCI_LAYER_NONDIST_ZSTD => Some(Compression::Zstd),
        _ => None,
    }
}

/// OCI or Docker tar layer, plain, gzip or zstd (nondistributable included).
pub fn is_tar_layer(mt: &str) -> bool {
    tar_layer_compression(mt).is_some()
}

/// A layer that is a raw Wasm binary rather than a tar.
pub fn is_wasm_layer(mt: &str) -> bool {
    matches!(
        mt,
        WASM_LAYER | RUNWASI_COMPONENT_LAYER | RUNWASI_MODULE_LAYER | SPIN_LAYER
    )
}

/// A single-platform image manifest (OCI or Docker v2 schema 2).
pub fn is_manifest(mt: &str) -> bool {
    matches!(mt, OCI_MANIFEST | DOCKER_MANIFEST)
}

/// A multi-platform index (OCI index or Docker manifest list).
pub fn is_index(mt: &str) -> bool {
    matches!(mt, OCI_INDEX | DOCKER_MANIFEST_LIST)
}

/// A config that deserialises as an OCI/Docker image configuration.
pub fn is_image_config(mt: &str) -> bool {
    matches!(mt, OCI_CONFIG | DOCKER_CONFIG)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify() {
        for mt in [
            OCI_LAYER,
            OCI_LAYER_GZIP,
            OCI_LAYER_ZSTD,
            OCI_LAYER_NONDIST_GZIP,
            DOCKER_LAYER_GZIP,
        ] {
            assert!(is_tar_layer(mt), "{mt}");
            assert!(!is_wasm_layer(mt), "{mt}");
        }
        for mt in [
            WASM_LAYER,
            RUNWASI_COMPONENT_LAYER,
            RUNWASI_MODULE_LAYER,
            SPIN_LAYER,
        ] {
            assert!(is_wasm_layer(mt), "{mt}");
            assert!(!is_tar_layer(mt), "{mt}");
        }
        assert!(is_manifest(OCI_MANIFEST) && is_manifest(DOCKER_MANIFEST));
        assert!(is_index(OCI_INDEX) && is_index(DOCKER_MANIFEST_LIST));
        assert!(!is_index(OCI_MANIFEST) && !is_manifest(OCI_INDEX));
        assert_eq!(Compression::from_magic(&[0x1f, 0x8b, 8]), Compression::Gzip);
        assert_eq!(
            Compression::from_magic(&[0x28, 0xb5, 0x2f, 0xfd]),
            Compression::Zstd
        );
        assert_eq!(Compression::from_magic(b"ustar"), Compression::None);
    }

    #[test]
    fn compression_from_media_type_suffix() {
        assert_eq!(
            Compression::from_media_type(DOCKER_LAYER_GZIP),
            Some(Compression::Gzip)
        );
        assert_eq!(
            Compression::from_media_type(" Application/X-Tar+ZSTD "),
            Some(Compression::Zstd)
        );
        assert_eq!(Compression::from_media_type(OCI_LAYER), None);
        assert_eq!(Compression::from_media_type(""), None);
    }
}
