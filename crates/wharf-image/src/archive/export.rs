//! `save`: writes images as an OCI archive (a tar of an OCI image layout),
//! plus a docker-style manifest.json so `docker load` takes it too.

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, MediaType};

use super::docker_manifest::DockerEntry;
use crate::error::{Error, IoContext, Result};
use crate::layout::{is_attestation, with_names, MAX_DEPTH, OCI_LAYOUT_JSON};
use crate::media;
use crate::reference::Reference;
use crate::store::Store;

/// Writes `images` as an OCI archive to `out`.
pub fn save(store: &Store, images: &[(Reference, Descriptor)], out: impl Write) -> Result<()> {
    // Check everything first so a missing blob fails before any output.
    for (r, d) in images {
        store.verify_graph(d, &format!("image '{r}'"), false)?;
    }
    let mut blobs = Vec::new();
    let mut seen = HashSet::new();
    for (_, d) in images {
        collect_blobs(store, d, &mut blobs, &mut seen, 0)?;
    }

    let mut index = ImageIndex::default();
    index.set_media_type(Some(MediaType::ImageIndex));
    let mut entries: Vec<Descriptor> = Vec::new();
    for (r, d) in images {
        let desc = with_names(d, r);
        entries.retain(|e| e.annotations() != desc.annotations());
        entries.push(desc);
    }
    index.set_manifests(entries);
    let index_json = serde_json::to_vec_pretty(&index).map_err(|e| Error::json("index.json", e))?;
    let docker_json = docker_manifest(store, images);

    let io_err = |e: io::Error| Error::io("cannot write the archive", e);
    let mut tar = tar::Builder::new(out);
    tar.mode(tar::HeaderMode::Deterministic);
    append_dir(&mut tar, "blobs/").map_err(io_err)?;
    append_dir(&mut tar, "blobs/sha256/").map_err(io_err)?;
    append_bytes(&mut tar, "oci-layout", OCI_LAYOUT_JSON).map_err(io_err)?;
    append_bytes(&mut tar, "index.json", &index_json).map_err(io_err)?;
    if let Some(json) = docker_json {
        append_bytes(&mut tar, "manifest.json", &json).map_err(io_err)?;
    }
    for digest in blobs {
        let (file, path) = store.open_blob(&digest)?;
        let len = file
            .metadata()
            .ctx(|| format!("cannot stat {}", path.display()))?
            .len();
        let mut header = file_header(len);
        tar.append_data(
            &mut header,
            format!("blobs/sha256/{}", &digest["sha256:".len()..]),
            file,
        )
        .map_err(io_err)?;
    }
    let mut out = tar.into_inner().map_err(io_err)?;
    out.flush().map_err(io_err)
}

fn file_header(len: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(len);
    h.set_mode(0o644);
    h.set_mtime(0);
    h
}

fn append_bytes<W: Write>(tar: &mut tar::Builder<W>, path: &str, bytes: &[u8]) -> io::Result<()> {
    let mut h = file_header(bytes.len() as u64);
    tar.append_data(&mut h, path, bytes)
}

fn append_dir<W: Write>(tar: &mut tar::Builder<W>, path: &str) -> io::Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_size(0);
    h.set_mode(0o755);
    h.set_mtime(0);
    tar.append_data(&mut h, path, io::empty())
}

fn collect_blobs(
    store: &Store,
    desc: &Descriptor,
    out: &mut Vec<String>,
    seen: &mut HashSet<String>,
    depth: usize,
) -> Result<()> {
    let digest = desc.digest().to_string();
    if depth > MAX_DEPTH || !seen.insert(digest.clone()) {
        return Ok(());
    }
    out.push(digest.clone());
    let mt = desc.media_type().to_string();
    if media::is_index(&mt) {
        let index: ImageIndex = store.read_json(&digest, "image index")?;
        for child in index.manifests() {
            if is_attestation(child) && !store.has_blob(child.digest().as_ref()) {
                continue;
            }
            collect_blobs(store, child, out, seen, depth + 1)?;
        }
    } else if media::is_manifest(&mt) {
        let m: ImageManifest = store.read_json(&digest, "image manifest")?;
        for d in std::iter::once(m.config()).chain(m.layers()) {
            if d.urls().is_some() && !store.has_blob(d.digest().as_ref()) {
                continue;
            }
            if seen.insert(d.digest().to_string()) {
                out.push(d.digest().to_string());
            }
        }
    }
    Ok(())
}

/// A docker-archive manifest.json pointing into the OCI blobs, for images
/// docker can run (image config, tar layers). `None` if there are none.
fn docker_manifest(store: &Store, images: &[(Reference, Descriptor)]) -> Option<Vec<u8>> {
    let mut entries: Vec<DockerEntry> = Vec::new();
    let mut by_manifest: HashMap<String, usize> = HashMap::new();
    let blob = |d: &Descriptor| format!("blobs/sha256/{}", &d.digest().as_ref()["sha256:".len()..]);
    for (r, d) in images {
        let Ok((md, _)) = store.select_manifest(d, None, "") else {
            continue;
        };
        let Ok(m) = store.read_json::<ImageManifest>(md.digest().as_ref(), "image manifest") else {
            continue;
        };
        if !media::is_image_config(m.config().media_type().as_ref())
            || !m
                .layers()
                .iter()
                .all(|l| media::is_tar_layer(l.media_type().as_ref()))
        {
            continue;
        }
        let i = *by_manifest
            .entry(md.digest().to_string())
            .or_insert_with(|| {
                entries.push(DockerEntry {
                    config: blob(m.config()),
                    repo_tags: Some(Vec::new()),
                    layers: m.layers().iter().map(blob).collect(),
                });
                entries.len() - 1
            });
        if let Some(tag) = &r.tag {
            let name = format!("{}:{tag}", r.familiar_name());
            let tags = entries[i].repo_tags.get_or_insert_with(Vec::new);
            if !tags.contains(&name) {
                tags.push(name);
            }
        }
    }
    if entries.is_empty() {
        return None;
    }
    serde_json::to_vec(&entries).ok()
}
