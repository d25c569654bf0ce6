//! Builders for test images.

use std::io::{Read, Write};
use std::str::FromStr;

use oci_spec::image::{Arch, Descriptor, Digest, MediaType, Os, PlatformBuilder};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::media::{self, Compression};
use crate::store::Store;

pub(crate) fn sha(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

pub(crate) fn desc(mt: &str, digest: &str, size: u64) -> Descriptor {
    Descriptor::new(MediaType::from(mt), size, Digest::from_str(digest).unwrap())
}

/// A tar with the given regular files.
pub(crate) fn layer_tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o755);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, *data).unwrap();
    }
    b.into_inner().unwrap()
}

pub(crate) fn compress(bytes: &[u8], c: Compression) -> Vec<u8> {
    match c {
        Compression::None => bytes.to_vec(),
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(bytes).unwrap();
            e.finish().unwrap()
        }
        Compression::Zstd => zstd::stream::encode_all(bytes, 1).unwrap(),
    }
}

pub(crate) fn decompress(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match Compression::from_magic(bytes) {
        Compression::None => out = bytes.to_vec(),
        Compression::Gzip => {
            flate2::read::MultiGzDecoder::new(bytes)
                .read_to_end(&mut out)
                .unwrap();
        }
        Compression::Zstd => out = zstd::stream::decode_all(bytes).unwrap(),
    }
    out
}

pub(crate) fn image_config(os: &str, arch: &str, diff_ids: &[String]) -> serde_json::Value {
    json!({
        "created": "2024-01-02T03:04:05Z",
        "architecture": arch,
        "os": os,
        "config": {"Cmd": ["/hello"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    })
}

/// A single-platform image with one layer per entry of `layers` (uncompressed
/// tars), stored with compression `c`. Returns the manifest descriptor, with
/// its platform set.
pub(crate) fn put_image(
    store: &Store,
    os: &str,
    arch: &str,
    layers: &[Vec<u8>],
    c: Compression,
) -> Descriptor {
    let diff_ids: Vec<String> = layers.iter().map(|l| sha(l)).collect();
    let cfg = serde_json::to_vec(&image_config(os, arch, &diff_ids)).unwrap();
    put_image_with_config(store, os, arch, &cfg, layers, c)
}

pub(crate) fn put_image_with_config(
    store: &Store,
    os: &str,
    arch: &str,
    cfg: &[u8],
    layers: &[Vec<u8>],
    c: Compression,
) -> Descriptor {
    let (cd, cs) = store.put_blob(cfg).unwrap();
    let layer_descs: Vec<serde_json::Value> = layers
        .iter()
        .map(|l| {
            let blob = compress(l, c);
            let (d, s) = store.put_blob(&blob).unwrap();
            json!({"mediaType": c.oci_layer_media_type(), "digest": d, "size": s})
        })
        .collect();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "config": {"mediaType": media::OCI_CONFIG, "digest": cd, "size": cs},
        "layers": layer_descs,
    });
    let (md, ms) = store.put_json(&manifest).unwrap();
    with_platform(desc(media::OCI_MANIFEST, &md, ms), os, arch)
}

pub(crate) fn with_platform(mut d: Descriptor, os: &str, arch: &str) -> Descriptor {
    d.set_platform(Some(
        PlatformBuilder::default()
            .os(Os::from(os))
            .architecture(Arch::from(arch))
            .build()
            .unwrap(),
    ));
    d
}

/// A CNCF Wasm artifact: wasm config + one application/wasm layer.
pub(crate) fn put_wasm_artifact(store: &Store, os: &str, wasm: &[u8]) -> Descriptor {
    let (ld, ls) = store.put_blob(wasm).unwrap();
    let cfg = json!({
        "created": "2024-01-02T03:04:05Z",
        "architecture": "wasm",
        "os": os,
        "layerDigests": [ld],
    });
    let (cd, cs) = store.put_json(&cfg).unwrap();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "artifactType": media::WASM_CONFIG,
        "config": {"mediaType": media::WASM_CONFIG, "digest": cd, "size": cs},
        "layers": [{"mediaType": media::WASM_LAYER, "digest": ld, "size": ls}],
    });
    let (md, ms) = store.put_json(&manifest).unwrap();
    with_platform(desc(media::OCI_MANIFEST, &md, ms), os, "wasm")
}

pub(crate) fn put_index(store: &Store, manifests: &[Descriptor]) -> Descriptor {
    let index = json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_INDEX,
        "manifests": manifests,
    });
    let (d, s) = store.put_json(&index).unwrap();
    desc(media::OCI_INDEX, &d, s)
}

pub(crate) const WASM: &[u8] = b"\0asm\x01\0\0\0";

pub(crate) fn host_arch() -> String {
    crate::Platform::host().architecture
}

/// Some Linux architecture that is not this host's.
pub(crate) fn other_arch() -> &'static str {
    if host_arch() == "s390x" {
        "riscv64"
    } else {
        "s390x"
    }
}
