//! Image archives: `save` writes an OCI archive (a tar of an OCI image
//! layout, plus a docker-style manifest.json so `docker load` takes it too);
//! `load` ingests OCI archives and docker-archives, verifying every blob.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::str::FromStr;

use oci_spec::image::{
    Descriptor, Digest, ImageConfiguration, ImageIndex, ImageManifest, ImageManifestBuilder,
    MediaType,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, IoContext, Result};
use crate::media::{self, Compression};
use crate::reference::{is_lower_hex, Reference};
use crate::store::{is_attestation, Store, StoreLock, MAX_DEPTH, MAX_JSON_BLOB};
use crate::{ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME};

/// An image ingested by [`load`], not yet tagged: the caller unpacks and
/// checks its layers, then tags `target` as `reference`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staged {
    pub reference: Option<Reference>,
    pub target: Descriptor,
}

/// docker-archive's manifest.json entry.
#[derive(Debug, Serialize, Deserialize)]
struct DockerEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

const OCI_LAYOUT_JSON: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

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
        let mut desc = d.clone();
        let mut ann = desc.annotations().clone().unwrap_or_default();
        ann.insert(ANNOTATION_REF_NAME.to_string(), r.familiar());
        ann.insert(ANNOTATION_CONTAINERD_NAME.to_string(), r.full());
        desc.set_annotations(Some(ann));
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
        let path = store.blob_path(&digest)?;
        let file = File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::BlobNotFound(digest.clone()),
            _ => Error::io(format!("cannot read {}", path.display()), e),
        })?;
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

/// What one archive member became.
#[derive(Debug, Clone)]
struct Member {
    digest: String,
    size: u64,
    /// First bytes, to detect layer compression.
    head: Vec<u8>,
}

#[derive(Default)]
struct Ingest {
    files: HashMap<String, Member>,
    links: HashMap<String, String>,
    index_json: Option<Vec<u8>>,
    manifest_json: Option<Vec<u8>>,
    oci_layout: Option<Vec<u8>>,
    members: usize,
}

impl Ingest {
    fn member(&self, path: &str) -> Option<&Member> {
        let mut p = normalize(path)?;
        for _ in 0..16 {
            if let Some(m) = self.files.get(&p) {
                return Some(m);
            }
            p = self.links.get(&p)?.clone();
        }
        None
    }
}

/// Reads an OCI archive or docker-archive (plain, gzip or zstd) into the
/// store and returns the images in it, untagged.
pub fn load(store: &Store, lock: &StoreLock, input: impl Read) -> Result<Vec<Staged>> {
    // The lock keeps gc from deleting blobs between ingest and tagging.
    let _ = lock;
    let mut input = BufReader::with_capacity(256 * 1024, input);
    let head = input
        .fill_buf()
        .ctx(|| "cannot read the archive".to_string())?;
    if head.is_empty() {
        return Err(Error::Archive {
            member: "<input>".into(),
            reason: "the input is empty; expected a tar from `wharf save`, `docker save` or skopeo"
                .into(),
        });
    }
    let compression = Compression::from_magic(head);
    let reader: Box<dyn Read + '_> = match compression {
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(input)
                .ctx(|| "cannot start zstd decompression".to_string())?,
        ),
        Compression::None => Box::new(input),
    };
    let ingest = read_members(store, reader)?;
    let staged = if let Some(index_json) = &ingest.index_json {
        load_oci(store, &ingest, index_json)?
    } else if let Some(manifest_json) = &ingest.manifest_json {
        load_docker(store, &ingest, manifest_json)?
    } else {
        return Err(Error::Archive {
            member: "<archive>".into(),
            reason: format!(
                "it has neither index.json (OCI layout) nor manifest.json (docker-archive) among its {} members; is it an image archive?",
                ingest.members
            ),
        });
    };
    let mut unique: Vec<Staged> = Vec::new();
    for s in staged {
        if !unique.contains(&s) {
            unique.push(s);
        }
    }
    Ok(unique)
}

fn read_members<'a>(store: &Store, reader: Box<dyn Read + 'a>) -> Result<Ingest> {
    let mut ingest = Ingest::default();
    let mut archive = tar::Archive::new(reader);
    let not_tar = |e: io::Error| {
        Error::Archive {
        member: "<start of archive>".into(),
        reason: format!("the input is not a tar archive ({e}); expected a tar from `wharf save`, `docker save` or skopeo"),
    }
    };
    let entries = archive.entries().map_err(not_tar)?;
    let mut last = String::from("<start of archive>");
    for entry in entries {
        let mut entry = entry.map_err(|e| {
            if ingest.members == 0 {
                not_tar(e)
            } else {
                Error::Archive {
                    member: last.clone(),
                    reason: format!("the archive is corrupt or truncated after this member: {e}"),
                }
            }
        })?;
        ingest.members += 1;
        let raw_path = entry
            .path()
            .map(|p| p.to_string_lossy().into_owned())
            .map_err(|e| Error::Archive {
                member: last.clone(),
                reason: format!("the next member has an unreadable name: {e}"),
            })?;
        last = raw_path.clone();
        let Some(path) = normalize(&raw_path) else {
            continue;
        };
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            if let Ok(Some(target)) = entry.link_name() {
                let target = target.to_string_lossy().into_owned();
                let resolved = if kind.is_symlink() && !target.starts_with('/') {
                    let parent = path.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
                    normalize(&format!("{parent}/{target}"))
                } else {
                    normalize(&target)
                };
                if let Some(t) = resolved {
                    ingest.links.insert(path, t);
                }
            }
            continue;
        }
        if !kind.is_file() {
            continue;
        }
        let declared = entry.header().size().unwrap_or(0);
        match path.as_str() {
            "index.json" | "manifest.json" | "oci-layout" | "repositories" => {
                if declared > MAX_JSON_BLOB {
                    return Err(Error::Archive {
                        member: raw_path,
                        reason: format!("it is {declared} bytes, too large for a JSON document"),
                    });
                }
                let mut buf = Vec::with_capacity(declared as usize);
                entry
                    .read_to_end(&mut buf)
                    .map_err(|e| truncated(&raw_path, e.to_string()))?;
                if buf.len() as u64 != declared {
                    return Err(truncated(&raw_path, "it ended early".into()));
                }
                match path.as_str() {
                    "index.json" => ingest.index_json = Some(buf),
                    "manifest.json" => ingest.manifest_json = Some(buf),
                    "oci-layout" => ingest.oci_layout = Some(buf),
                    _ => {}
                }
            }
            _ => {
                let expected = match path.strip_prefix("blobs/") {
                    Some(rest) => match rest.strip_prefix("sha256/") {
                        Some(hex) if hex.len() == 64 && is_lower_hex(hex) => {
                            Some(format!("sha256:{hex}"))
                        }
                        Some(_) => {
                            return Err(Error::Archive {
                                member: raw_path,
                                reason: "a blob's file name must be its 64-character lowercase hex sha256 digest".into(),
                            })
                        }
                        // Other digest algorithms: not supported, and only
                        // an error if something references them.
                        None => continue,
                    },
                    None => None,
                };
                let member =
                    ingest_blob(store, &mut entry, &raw_path, declared, expected.as_deref())?;
                ingest.files.insert(path, member);
            }
        }
    }
    Ok(ingest)
}

fn truncated(member: &str, why: String) -> Error {
    Error::Archive {
        member: member.to_string(),
        reason: format!("the archive is truncated or corrupt while reading this member: {why}; copy or export it again"),
    }
}

/// Streams one member into the store, verifying it when its digest is known.
fn ingest_blob(
    store: &Store,
    entry: &mut impl Read,
    member: &str,
    declared: u64,
    expected: Option<&str>,
) -> Result<Member> {
    let mut w = store.blob_writer()?;
    let mut head = Vec::new();
    let mut buf = vec![0u8; 128 * 1024];
    loop {
        let n = match entry.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(truncated(member, e.to_string())),
        };
        if head.len() < 8 {
            let take = (8 - head.len()).min(n);
            head.extend_from_slice(&buf[..take]);
        }
        w.write_all(&buf[..n])
            .ctx(|| format!("cannot store archive member '{member}'"))?;
    }
    // tar hands out a short read, not an error, when the input ends early.
    if w.size() != declared {
        return Err(truncated(
            member,
            format!("got {} of its {declared} bytes", w.size()),
        ));
    }
    let (digest, size) = w.commit(expected)?;
    Ok(Member { digest, size, head })
}

/// Archive paths relative to its root: no leading `./` or `/`, `..` resolved.
fn normalize(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        None
    } else {
        Some(parts.join("/"))
    }
}

fn load_oci(store: &Store, ingest: &Ingest, index_json: &[u8]) -> Result<Vec<Staged>> {
    if let Some(layout) = &ingest.oci_layout {
        let v: serde_json::Value = serde_json::from_slice(layout)
            .map_err(|e| Error::json("oci-layout in the archive", e))?;
        let version = v.get("imageLayoutVersion").and_then(|v| v.as_str());
        if !version.is_some_and(|v| v.starts_with("1.")) {
            return Err(Error::Archive {
                member: "oci-layout".into(),
                reason: format!(
                    "unsupported imageLayoutVersion {}; Wharf reads version 1.x layouts",
                    version.unwrap_or("(missing)")
                ),
            });
        }
    }
    let index: ImageIndex = serde_json::from_slice(index_json)
        .map_err(|e| Error::json("index.json in the archive", e))?;
    let mut staged = Vec::new();
    for entry in index.manifests() {
        let mt = entry.media_type().to_string();
        if !media::is_manifest(&mt) && !media::is_index(&mt) {
            return Err(Error::UnsupportedMediaType {
                media_type: mt,
                context: format!("entry {} of index.json in the archive", entry.digest()),
            });
        }
        if let Some(r) = archive_entry_reference(entry)? {
            staged.push(Staged {
                reference: Some(r),
                target: strip_names(entry),
            });
            continue;
        }
        // An unnamed index may carry the names on its children (a layout
        // nested one level down).
        let mut named_children = Vec::new();
        if media::is_index(&mt) {
            store.verify_graph(entry, "index.json in the archive", false)?;
            let child_index: ImageIndex =
                store.read_json(entry.digest().as_ref(), "image index")?;
            for child in child_index.manifests() {
                if let Some(r) = archive_entry_reference(child)? {
                    named_children.push(Staged {
                        reference: Some(r),
                        target: strip_names(child),
                    });
                }
            }
        }
        if named_children.is_empty() {
            staged.push(Staged {
                reference: None,
                target: strip_names(entry),
            });
        } else {
            staged.extend(named_children);
        }
    }
    for s in &staged {
        let by = match &s.reference {
            Some(r) => format!("the archive's index.json entry for '{r}'"),
            None => "the archive's index.json".to_string(),
        };
        store.verify_graph(&s.target, &by, true)?;
    }
    Ok(staged)
}

/// The name of an archive's index entry. Docker's OCI export puts a bare tag
/// (`1`) in ref.name and the real name in the containerd annotation; skopeo
/// and others put a name (`bb`, `bb:l1`) in ref.name.
fn archive_entry_reference(d: &Descriptor) -> Result<Option<Reference>> {
    let ann = d.annotations().as_ref();
    if let Some(full) = ann.and_then(|a| a.get(ANNOTATION_CONTAINERD_NAME)) {
        return full.parse().map(Some);
    }
    let Some(name) = ann.and_then(|a| a.get(ANNOTATION_REF_NAME)) else {
        return Ok(None);
    };
    if name.contains(['/', ':', '@']) {
        return name.parse().map(Some);
    }
    let b = name.as_bytes();
    let tag_like = name == "latest"
        || b.first().is_some_and(u8::is_ascii_digit)
        || (b.len() > 1 && b[0] == b'v' && b[1].is_ascii_digit());
    if tag_like {
        return Ok(None);
    }
    Ok(name.parse().ok())
}

fn strip_names(d: &Descriptor) -> Descriptor {
    let mut d = d.clone();
    if let Some(mut ann) = d.annotations().clone() {
        ann.remove(ANNOTATION_REF_NAME);
        ann.remove(ANNOTATION_CONTAINERD_NAME);
        d.set_annotations(if ann.is_empty() { None } else { Some(ann) });
    }
    d
}

fn descriptor(mt: &str, size: u64, digest: &str) -> Result<Descriptor> {
    let digest = Digest::from_str(digest).map_err(|_| Error::InvalidDigest(digest.to_string()))?;
    Ok(Descriptor::new(MediaType::from(mt), size, digest))
}

fn load_docker(store: &Store, ingest: &Ingest, manifest_json: &[u8]) -> Result<Vec<Staged>> {
    let entries: Vec<DockerEntry> = serde_json::from_slice(manifest_json)
        .map_err(|e| Error::json("manifest.json in the archive", e))?;
    if entries.is_empty() {
        return Err(Error::Archive {
            member: "manifest.json".into(),
            reason: "it lists no images".into(),
        });
    }
    let missing = |path: &str, what: &str| Error::Archive {
        member: path.to_string(),
        reason: format!("manifest.json names this {what} but the archive has no such file"),
    };
    let mut staged = Vec::new();
    for e in entries {
        let cfg = ingest
            .member(&e.config)
            .ok_or_else(|| missing(&e.config, "config"))?;
        let config: ImageConfiguration =
            store.read_json(&cfg.digest, &format!("image config '{}'", e.config))?;
        let mut layers = Vec::new();
        for path in &e.layers {
            let m = ingest.member(path).ok_or_else(|| missing(path, "layer"))?;
            let mt = Compression::from_magic(&m.head).oci_layer_media_type();
            layers.push(descriptor(mt, m.size, &m.digest)?);
        }
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(descriptor(media::OCI_CONFIG, cfg.size, &cfg.digest)?)
            .layers(layers)
            .build()
            .map_err(|err| {
                Error::invalid(
                    format!("image with config '{}'", e.config),
                    format!("cannot build its manifest: {err}"),
                )
            })?;
        verify_diff_ids(store, &manifest, &config)?;
        let (digest, size) = store.put_json(&manifest)?;
        let target = descriptor(media::OCI_MANIFEST, size, &digest)?;
        let tags: Vec<&String> = e
            .repo_tags
            .iter()
            .flatten()
            .filter(|t| t.as_str() != "<none>:<none>")
            .collect();
        if tags.is_empty() {
            staged.push(Staged {
                reference: None,
                target: target.clone(),
            });
        }
        for t in tags {
            staged.push(Staged {
                reference: Some(t.parse()?),
                target: target.clone(),
            });
        }
    }
    Ok(staged)
}

/// Checks that every tar layer decompresses, is a tar, and hashes
/// (uncompressed) to the config's diff_id. Wasm layers are not unpacked, so
/// they are not compared.
pub fn verify_diff_ids(
    store: &Store,
    manifest: &ImageManifest,
    config: &ImageConfiguration,
) -> Result<()> {
    let diff_ids = config.rootfs().diff_ids();
    let layers = manifest.layers();
    let pairs: Vec<(&Descriptor, &String)> = if diff_ids.len() == layers.len() {
        layers.iter().zip(diff_ids).collect()
    } else {
        let tar_layers: Vec<&Descriptor> = layers
            .iter()
            .filter(|l| media::is_tar_layer(l.media_type().as_ref()))
            .collect();
        if tar_layers.len() != diff_ids.len() {
            return Err(Error::invalid(
                format!("image config {}", manifest.config().digest()),
                format!(
                    "it lists {} diff_ids but the manifest has {} layers; the image is inconsistent: rebuild or export it again",
                    diff_ids.len(),
                    layers.len()
                ),
            ));
        }
        tar_layers.into_iter().zip(diff_ids).collect()
    };
    for (layer, diff_id) in pairs {
        let Some(declared) = media::tar_layer_compression(layer.media_type().as_ref()) else {
            continue;
        };
        let digest = layer.digest().to_string();
        if layer.urls().is_some() && !store.has_blob(&digest) {
            continue;
        }
        let actual = uncompressed_digest(store, &digest, declared)?;
        if &actual != diff_id {
            return Err(Error::DiffIdMismatch {
                layer: digest,
                expected: diff_id.clone(),
                actual,
            });
        }
    }
    Ok(())
}

struct HashReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

fn uncompressed_digest(store: &Store, digest: &str, declared: Compression) -> Result<String> {
    let path = store.blob_path(digest)?;
    let file = File::open(&path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => Error::BlobNotFound(digest.to_string()),
        _ => Error::io(format!("cannot read {}", path.display()), e),
    })?;
    let mut r = BufReader::with_capacity(256 * 1024, file);
    let actual = Compression::from_magic(
        r.fill_buf()
            .ctx(|| format!("cannot read {}", path.display()))?,
    );
    let bad = |reason: String| Error::invalid(format!("layer {digest}"), reason);
    if actual != declared {
        return Err(bad(format!(
            "its media type says {} but its content is {}; the image is mislabelled: rebuild or export it again",
            describe(declared),
            describe(actual)
        )));
    }
    let decoder: Box<dyn Read> = match declared {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(r)
                .map_err(|e| bad(format!("cannot start zstd decompression: {e}")))?,
        ),
    };
    let mut hr = HashReader {
        inner: decoder,
        hasher: Sha256::new(),
    };
    {
        let mut archive = tar::Archive::new(&mut hr);
        let entries = archive
            .entries()
            .map_err(|e| bad(format!("it is not a valid tar archive: {e}")))?;
        for entry in entries {
            entry.map_err(|e| bad(format!("it is not a valid (complete) tar archive: {e}")))?;
        }
    }
    // The diff_id covers the end-of-archive padding tar stops before.
    io::copy(&mut hr, &mut io::sink()).map_err(|e| bad(format!("cannot decompress it: {e}")))?;
    Ok(format!("sha256:{}", hex::encode(hr.hasher.finalize())))
}

fn describe(c: Compression) -> &'static str {
    match c {
        Compression::None => "an uncompressed tar",
        Compression::Gzip => "gzip",
        Compression::Zstd => "zstd",
    }
}

#[cfg(test)]
mod tests;
