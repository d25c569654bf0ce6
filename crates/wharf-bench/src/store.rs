//! Image sizes, read from the bench's own store (an OCI image layout).

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn blob(root: &Path, digest: &str) -> Result<Vec<u8>> {
    let hex = digest
        .strip_prefix("sha256:")
        .ok_or_else(|| anyhow!("unsupported digest {digest}"))?;
    let p = root.join("blobs/sha256").join(hex);
    std::fs::read(&p).with_context(|| format!("reading {}", p.display()))
}

fn json_blob(root: &Path, digest: &str) -> Result<Value> {
    Ok(serde_json::from_slice(&blob(root, digest)?)?)
}

/// (compressed bytes = sum of the manifest's layer sizes, unpacked bytes =
/// regular-file bytes of the image's snapshot tree) of tag `reference`
/// (Docker short form, e.g. `hello:wasm`).
pub fn image_sizes(root: &Path, reference: &str) -> Result<(u64, u64)> {
    let index: Value = serde_json::from_slice(&std::fs::read(root.join("index.json"))?)?;
    let desc = index["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == reference)
        .ok_or_else(|| anyhow!("image {reference} not found in {}", root.display()))?;
    let mut manifest = json_blob(root, desc["digest"].as_str().unwrap_or_default())?;
    // An index (multi-platform image): take its first manifest.
    if manifest["manifests"].is_array() {
        let d = manifest["manifests"][0]["digest"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        manifest = json_blob(root, &d)?;
    }
    let compressed = manifest["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| l["size"].as_u64().unwrap_or(0))
        .sum();
    let config = json_blob(
        root,
        manifest["config"]["digest"].as_str().unwrap_or_default(),
    )?;
    let diff_ids: Vec<&str> = config["rootfs"]["diff_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let chain = chain_id(&diff_ids).ok_or_else(|| anyhow!("image {reference} has no layers"))?;
    let hex = chain.trim_start_matches("sha256:");
    let snap = root.join("snapshots").join(hex);
    if !snap.is_dir() {
        return Err(anyhow!(
            "snapshot {} of {reference} is missing",
            snap.display()
        ));
    }
    Ok((compressed, tree_bytes(&snap)))
}

/// OCI chain id of the layer stack `diff_ids`.
pub fn chain_id(diff_ids: &[&str]) -> Option<String> {
    let mut it = diff_ids.iter();
    let mut chain = it.next()?.to_string();
    for d in it {
        let h = Sha256::digest(format!("{chain} {d}").as_bytes());
        chain = format!("sha256:{}", hex::encode(h));
    }
    Some(chain)
}

/// Bytes of regular files under `dir` (symlinks not followed).
pub fn tree_bytes(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => tree_bytes(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}
