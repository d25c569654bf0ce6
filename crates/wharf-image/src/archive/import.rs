//! `load`: ingests OCI archives and docker-archives (plain, gzip or zstd),
//! streaming every blob into the store and verifying it.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::str::FromStr;

use oci_spec::image::{
    Descriptor, Digest, ImageConfiguration, ImageIndex, ImageManifestBuilder, MediaType,
};

use super::docker_manifest::DockerEntry;
use crate::error::{Error, IoContext, Result};
use crate::layout::{
    without_names, ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, MAX_JSON_BLOB,
};
use crate::media::{self, Compression};
use crate::reference::{is_lower_hex, Reference};
use crate::store::{verify_diff_ids, Store, StoreLock};

/// An image ingested by [`load`], not yet tagged: the caller unpacks and
/// checks its layers, then tags `target` as `reference`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staged {
    pub reference: Option<Reference>,
    pub target: Descriptor,
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
    // Only zstd can fail to start.
    let reader = compression
        .decoder(input)
        .ctx(|| "cannot start zstd decompression".to_string())?;
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
                target: without_names(entry),
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
                        target: without_names(child),
                    });
                }
            }
        }
        if named_children.is_empty() {
            staged.push(Staged {
                reference: None,
                target: without_names(entry),
            });
        } else {
            staged.extend(named_children);
        }
    }
    // Each image once, however many names it has.
    let mut verified = std::collections::HashSet::new();
    for s in staged
        .iter()
        .filter(|s| verified.insert(s.target.digest().to_string()))
    {
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
