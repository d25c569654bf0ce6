//! The content store: an OCI image layout on disk.
//!
//! Readers take no lock: blobs are immutable once renamed into place and
//! `index.json` is only ever replaced by rename, so a reader sees either the
//! old or the new index, never a torn one. Writers serialise on an flock of
//! `root/.lock` for their whole read-modify-write transaction.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest, MediaType};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::error::{Error, IoContext, Result};
use crate::fsutil::{self, TMP_PREFIX};
use crate::media;
use crate::platform::Platform;
use crate::reference::{is_lower_hex, is_sha256_digest, Reference};
use crate::{ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME};

/// Manifests, indexes and configs larger than this are refused rather than
/// read into memory: no real one comes close, a hostile archive might.
pub(crate) const MAX_JSON_BLOB: u64 = 64 << 20;
/// Index → index → ... nesting deeper than this is refused.
pub(crate) const MAX_DEPTH: usize = 8;

const OCI_LAYOUT_JSON: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;
const ATTESTATION_ANNOTATION: &str = "vnd.docker.reference.type";

/// An image store rooted at a directory holding an OCI image layout.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// Proof that this process holds the store's writer lock; released on drop.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
    root: PathBuf,
}

/// A resolved, single-platform image.
#[derive(Debug, Clone)]
pub struct Image {
    /// Names (familiar form) of every index.json entry for this image.
    pub names: Vec<String>,
    /// The platform manifest chosen (the entry itself when it is not an index).
    pub manifest_descriptor: Descriptor,
    pub manifest: ImageManifest,
    pub config_media_type: String,
    pub config_bytes: Vec<u8>,
    /// `None` when the config is not an OCI/Docker image config, e.g. the CNCF
    /// Wasm artifact config.
    pub config: Option<ImageConfiguration>,
    /// The entry was an index with no variant for the host, so a Wasm variant
    /// was picked instead.
    pub platform_fallback: bool,
}

impl Image {
    /// The image ID: its config digest, like Docker's.
    pub fn id(&self) -> String {
        self.manifest.config().digest().to_string()
    }

    /// os/architecture/variant as written in the config (works for the CNCF
    /// Wasm config too, which has `"architecture":"wasm","os":"wasip1"`).
    pub fn platform(&self) -> Option<Platform> {
        platform_from_config(&self.config_bytes)
    }
}

/// One line of `wharf images`: one index.json entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageSummary {
    pub names: Vec<String>,
    pub manifest_digest: String,
    /// Config digest (of the variant `resolve` would pick, for an index).
    pub id: String,
    pub created: Option<String>,
    /// Config plus layers, compressed, summed over all platforms present.
    pub size: u64,
    pub platforms: Vec<String>,
}

/// Streams a blob into the store, hashing as it goes. Dropping it without
/// `commit` removes the temp file.
#[derive(Debug)]
pub struct BlobWriter {
    out: Option<BufWriter<File>>,
    tmp: PathBuf,
    dir: PathBuf,
    hasher: Sha256,
    size: u64,
    done: bool,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let out = self
            .out
            .as_mut()
            .ok_or_else(|| io::Error::other("blob writer already committed"))?;
        let n = out.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.out.as_mut() {
            Some(out) => out.flush(),
            None => Ok(()),
        }
    }
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Makes the blob visible under its digest. With `expected`, content that
    /// hashes differently is discarded with `Error::DigestMismatch`.
    pub fn commit(self, expected: Option<&str>) -> Result<(String, u64)> {
        let dir = self.dir.clone();
        let (digest, size, renamed) = self.finish(expected)?.publish_inner()?;
        if renamed {
            fsutil::sync_dir(&dir)?;
        }
        Ok((digest, size))
    }

    /// The slow half of [`commit`](Self::commit): flushes and fsyncs the
    /// temp file and checks its digest (hashed while it was written: no
    /// second pass over the data). Nothing is visible yet; the result is
    /// made visible with [`FinishedBlob::publish`], and dropping it instead
    /// removes the temp file.
    pub fn finish(mut self, expected: Option<&str>) -> Result<FinishedBlob> {
        if let Some(e) = expected {
            if !is_sha256_digest(e) {
                return Err(Error::InvalidDigest(e.to_string()));
            }
        }
        let out = self.out.take().expect("blob writer used after commit");
        let file = out.into_inner().map_err(|e| {
            Error::io(
                format!("cannot write {}", self.tmp.display()),
                e.into_error(),
            )
        })?;
        file.sync_all()
            .ctx(|| format!("cannot sync {}", self.tmp.display()))?;
        drop(file);
        let digest = format!(
            "sha256:{}",
            hex::encode(std::mem::take(&mut self.hasher).finalize())
        );
        if let Some(e) = expected {
            if e != digest {
                // Drop removes the temp file.
                return Err(Error::DigestMismatch {
                    expected: e.to_string(),
                    actual: digest,
                });
            }
        }
        // The temp file now belongs to the FinishedBlob.
        self.done = true;
        Ok(FinishedBlob {
            tmp: std::mem::take(&mut self.tmp),
            dir: std::mem::take(&mut self.dir),
            digest,
            size: self.size,
            done: false,
        })
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if !self.done {
            self.out = None;
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// A blob written, fsynced and verified against its digest, still under its
/// temp name. Dropping it without [`publish`](Self::publish) removes it.
#[derive(Debug)]
pub struct FinishedBlob {
    tmp: PathBuf,
    dir: PathBuf,
    digest: String,
    size: u64,
    done: bool,
}

impl FinishedBlob {
    /// `sha256:<hex>` of the content.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Where the content is until [`publish`](Self::publish) (a temp file
    /// in the blobs directory): to read it early. An fd opened on it stays
    /// valid across the rename.
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// Renames the blob into place: a quick step, no I/O wait. The rename
    /// is made durable by the next fsync of the blobs directory: call
    /// [`Store::sync_blobs`] (or write a blob with [`Store::put_blob`],
    /// which syncs it) before anything durable refers to the blob.
    pub fn publish(self) -> Result<(String, u64)> {
        self.publish_inner().map(|(d, size, _)| (d, size))
    }

    /// Also says whether a rename happened (false: the blob was there).
    fn publish_inner(mut self) -> Result<(String, u64, bool)> {
        let dest = self.dir.join(&self.digest["sha256:".len()..]);
        let renamed = if dest.exists() {
            let _ = fs::remove_file(&self.tmp);
            false
        } else {
            fs::rename(&self.tmp, &dest)
                .ctx(|| format!("cannot move blob into {}", dest.display()))?;
            true
        };
        self.done = true;
        Ok((std::mem::take(&mut self.digest), self.size, renamed))
    }
}

impl Drop for FinishedBlob {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// What a name given by the user points at.
enum Target {
    /// Positions of index.json entries carrying that name.
    Named(Vec<usize>),
    /// Every entry with this (top-level manifest or index) digest.
    Digest(String),
    /// An image ID: the config digest, and the entries holding a manifest
    /// with that config.
    Config {
        config: String,
        entries: BTreeSet<String>,
    },
}

impl Store {
    /// Opens (creating if needed) the layout at `root`.
    pub fn open(root: &Path) -> Result<Store> {
        let blobs = root.join("blobs").join("sha256");
        fs::create_dir_all(&blobs).ctx(|| {
            format!(
                "cannot create the image store at {}; check permissions or pick another --root",
                root.display()
            )
        })?;
        fsutil::create_atomic_if_absent(&root.join("oci-layout"), OCI_LAYOUT_JSON)?;
        let empty = serde_json::to_vec_pretty(&empty_index()).expect("serialising an empty index");
        fsutil::create_atomic_if_absent(&root.join("index.json"), &empty)?;
        Ok(Store {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Takes the writer lock (blocking). flock is per open file, so never
    /// call this twice in one process without dropping the first lock.
    pub fn lock(&self) -> Result<StoreLock> {
        let file = fsutil::flock_exclusive(&self.root.join(".lock"))?;
        Ok(StoreLock {
            _file: file,
            root: self.root.clone(),
        })
    }

    fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }

    pub fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        if !is_sha256_digest(digest) {
            return Err(Error::InvalidDigest(digest.to_string()));
        }
        Ok(self.blobs_dir().join(&digest["sha256:".len()..]))
    }

    pub fn has_blob(&self, digest: &str) -> bool {
        self.blob_path(digest).is_ok_and(|p| p.is_file())
    }

    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>> {
        let path = self.blob_path(digest)?;
        fs::read(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::BlobNotFound(digest.to_string()),
            _ => Error::io(format!("cannot read blob {}", path.display()), e),
        })
    }

    /// Reads and parses a JSON blob (manifest, index, config).
    pub(crate) fn read_json<T: DeserializeOwned>(&self, digest: &str, what: &str) -> Result<T> {
        let path = self.blob_path(digest)?;
        if let Ok(m) = fs::metadata(&path) {
            if m.len() > MAX_JSON_BLOB {
                return Err(Error::invalid(
                    format!("{what} {digest}"),
                    format!("it is {} bytes, too large to be one", m.len()),
                ));
            }
        }
        let bytes = self.read_blob(digest)?;
        serde_json::from_slice(&bytes).map_err(|e| Error::json(format!("{what} {digest}"), e))
    }

    pub fn put_blob(&self, bytes: &[u8]) -> Result<(String, u64)> {
        let hex = hex::encode(Sha256::digest(bytes));
        let dest = self.blobs_dir().join(&hex);
        if !dest.exists() {
            fsutil::write_atomic(&dest, bytes)?;
        }
        Ok((format!("sha256:{hex}"), bytes.len() as u64))
    }

    pub fn put_json<T: Serialize>(&self, v: &T) -> Result<(String, u64)> {
        let bytes = serde_json::to_vec(v).map_err(|e| Error::json("value to store", e))?;
        self.put_blob(&bytes)
    }

    /// Makes the renames of blobs published with [`FinishedBlob::publish`]
    /// durable: one fsync of the blobs directory for any number of them.
    pub fn sync_blobs(&self) -> Result<()> {
        fsutil::sync_dir(&self.blobs_dir())
    }

    pub fn blob_writer(&self) -> Result<BlobWriter> {
        let dir = self.blobs_dir();
        let (file, tmp) = fsutil::create_temp(&dir)?;
        Ok(BlobWriter {
            out: Some(BufWriter::with_capacity(256 * 1024, file)),
            tmp,
            dir,
            hasher: Sha256::new(),
            size: 0,
            done: false,
        })
    }

    pub fn index(&self) -> Result<ImageIndex> {
        let path = self.root.join("index.json");
        let bytes = fs::read(&path).ctx(|| {
            format!(
                "cannot read {}; is {} an image store?",
                path.display(),
                self.root.display()
            )
        })?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::json(
                format!(
                    "{} (fix or remove the file; blobs are kept)",
                    path.display()
                ),
                e,
            )
        })
    }

    /// Read-modify-write of index.json under the caller's lock.
    pub fn update_index<R>(
        &self,
        lock: &StoreLock,
        f: impl FnOnce(&mut ImageIndex) -> Result<R>,
    ) -> Result<R> {
        debug_assert_eq!(lock.root, self.root, "lock taken on another store");
        let mut index = self.index()?;
        let r = f(&mut index)?;
        index.set_media_type(Some(MediaType::ImageIndex));
        let bytes = serde_json::to_vec_pretty(&index).map_err(|e| Error::json("index.json", e))?;
        fsutil::write_atomic(&self.root.join("index.json"), &bytes)?;
        Ok(r)
    }

    /// Names `target` (a manifest or index whose whole graph is in the store).
    /// An image that loses its last name this way stays as an untagged entry,
    /// like Docker's `<none>` images.
    pub fn tag(&self, lock: &StoreLock, reference: &Reference, target: &Descriptor) -> Result<()> {
        let mt = target.media_type().to_string();
        if !media::is_manifest(&mt) && !media::is_index(&mt) {
            return Err(Error::UnsupportedMediaType {
                media_type: mt,
                context: format!(
                    "tagging '{reference}' (the target must be an image manifest or index)"
                ),
            });
        }
        self.verify_graph(target, &format!("image '{reference}'"), false)?;

        let mut desc = target.clone();
        let mut ann = desc.annotations().clone().unwrap_or_default();
        ann.insert(ANNOTATION_REF_NAME.to_string(), reference.familiar());
        ann.insert(ANNOTATION_CONTAINERD_NAME.to_string(), reference.full());
        desc.set_annotations(Some(ann));

        self.update_index(lock, |index| {
            let mut entries = index.manifests().clone();
            let mut displaced = Vec::new();
            entries.retain(|e| {
                let same = entry_matches(e, reference);
                if same {
                    displaced.push(e.clone());
                }
                !same
            });
            entries.retain(|e| !(entry_is_untagged(e) && e.digest() == desc.digest()));
            for old in displaced {
                if old.digest() != desc.digest()
                    && !entries.iter().any(|e| e.digest() == old.digest())
                {
                    entries.push(untagged(old));
                }
            }
            entries.push(desc);
            index.set_manifests(entries);
            Ok(())
        })
    }

    /// Removes the entry named `reference`; returns what it pointed at.
    pub fn untag(&self, lock: &StoreLock, reference: &Reference) -> Result<Descriptor> {
        self.update_index(lock, |index| {
            let mut entries = index.manifests().clone();
            let pos = entries
                .iter()
                .position(|e| entry_matches(e, reference))
                .ok_or_else(|| Error::ImageNotFound(reference.familiar()))?;
            let removed = entries.remove(pos);
            entries.retain(|e| !entry_matches(e, reference));
            index.set_manifests(entries);
            Ok(removed)
        })
    }

    /// Finds an image by name, manifest digest or ID prefix and picks its
    /// variant for `platform` (default: the host, else a Wasm variant).
    pub fn resolve(&self, name: &str, platform: Option<&Platform>) -> Result<Image> {
        let index = self.index()?;
        let by_digest = |d: &str| {
            index
                .manifests()
                .iter()
                .find(|e| e.digest().as_ref() == d)
                .cloned()
                .ok_or_else(|| Error::ImageNotFound(name.to_string()))
        };
        let (entry, pinned) = match self.lookup(&index, name)? {
            Target::Named(pos) => (index.manifests()[pos[0]].clone(), None),
            Target::Digest(d) => (by_digest(&d)?, None),
            Target::Config { config, entries } => {
                let first = entries.iter().next().cloned().unwrap_or_default();
                let entry = by_digest(&first)?;
                // The ID names one platform's image, whatever the platform.
                let leaf = self.leaf_manifests(&entry, 0).into_iter().find(|d| {
                    self.read_json::<ImageManifest>(d.digest().as_ref(), "image manifest")
                        .is_ok_and(|m| m.config().digest().as_ref() == config)
                });
                (entry, leaf)
            }
        };
        let names = names_of(&index, entry.digest().as_ref());
        let (manifest_descriptor, platform_fallback) = match pinned {
            Some(leaf) => (leaf, false),
            None => self.select_manifest(&entry, platform, name)?,
        };
        let digest = manifest_descriptor.digest().to_string();
        let manifest: ImageManifest = self.read_json(&digest, "image manifest")?;
        let config_desc = manifest.config();
        let config_media_type = config_desc.media_type().to_string();
        let config_bytes = self.read_blob(config_desc.digest().as_ref())?;
        // Configs were validated when the image came in; one that still does
        // not parse is treated as a non-image config rather than blocking a run.
        let config = if media::is_image_config(&config_media_type) {
            serde_json::from_slice(&config_bytes).ok()
        } else {
            None
        };
        Ok(Image {
            names,
            manifest_descriptor,
            manifest,
            config_media_type,
            config_bytes,
            config,
            platform_fallback,
        })
    }

    /// One summary per index.json entry. Best effort: an entry whose blobs
    /// cannot be read is still listed, with what is known.
    pub fn list(&self) -> Result<Vec<ImageSummary>> {
        let index = self.index()?;
        Ok(index
            .manifests()
            .iter()
            .map(|e| self.summarize(e))
            .collect())
    }

    /// Untags `name`; if `name` is an ID or digest, removes every entry of
    /// that image. Returns the names removed (the digest for untagged entries).
    pub fn remove(&self, lock: &StoreLock, name: &str) -> Result<Vec<String>> {
        self.update_index(lock, |index| {
            let target = self.lookup(index, name)?;
            let mut entries = index.manifests().clone();
            let mut removed = Vec::new();
            let mut pos = 0;
            entries.retain(|e| {
                let hit = match &target {
                    Target::Named(p) => p.contains(&pos),
                    Target::Digest(d) => e.digest().as_ref() == d,
                    Target::Config { entries, .. } => entries.contains(e.digest().as_ref()),
                };
                pos += 1;
                if hit {
                    removed.push(entry_display_name(e).unwrap_or_else(|| e.digest().to_string()));
                }
                !hit
            });
            index.set_manifests(entries);
            Ok(removed)
        })
    }

    /// Deletes blobs unreachable from index.json and temp files of writers
    /// that are gone; returns the bytes freed.
    pub fn gc(&self, lock: &StoreLock) -> Result<u64> {
        debug_assert_eq!(lock.root, self.root, "lock taken on another store");
        let index = self.index()?;
        let mut reachable = HashSet::new();
        for e in index.manifests() {
            self.mark(e, &mut reachable, 0);
        }
        let mut freed = 0;
        let blobs = self.blobs_dir();
        for dir in [&blobs, &self.root] {
            let rd = fs::read_dir(dir).ctx(|| format!("cannot list {}", dir.display()))?;
            let mut changed = false;
            for ent in rd {
                let ent = ent.ctx(|| format!("cannot list {}", dir.display()))?;
                let name = ent.file_name().to_string_lossy().into_owned();
                let garbage = if name.starts_with(TMP_PREFIX) {
                    fsutil::temp_is_stale(&name)
                } else {
                    dir == &blobs
                        && name.len() == 64
                        && is_lower_hex(&name)
                        && !reachable.contains(&format!("sha256:{name}"))
                };
                if !garbage {
                    continue;
                }
                let size = ent.metadata().map(|m| m.len()).unwrap_or(0);
                match fs::remove_file(ent.path()) {
                    Ok(()) => {
                        freed += size;
                        changed = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(e).ctx(|| format!("cannot remove {}", ent.path().display()))
                    }
                }
            }
            if changed {
                fsutil::sync_dir(dir)?;
            }
        }
        Ok(freed)
    }

    /// Checks that `desc` and everything it references is present with the
    /// right size. `deep` also checks media types, parses configs and
    /// verifies layer diff_ids (used for content from outside).
    pub(crate) fn verify_graph(
        &self,
        desc: &Descriptor,
        referenced_by: &str,
        deep: bool,
    ) -> Result<()> {
        self.verify_graph_at(desc, referenced_by, deep, 0)
    }

    fn verify_graph_at(
        &self,
        desc: &Descriptor,
        referenced_by: &str,
        deep: bool,
        depth: usize,
    ) -> Result<()> {
        let digest = desc.digest().to_string();
        if depth > MAX_DEPTH {
            return Err(Error::invalid(
                format!("image index {digest}"),
                "indexes are nested too deeply",
            ));
        }
        self.check_present(desc, referenced_by)?;
        let mt = desc.media_type().to_string();
        if media::is_index(&mt) {
            let index: ImageIndex = self.read_json(&digest, "image index")?;
            let by = format!("image index {digest}");
            for child in index.manifests() {
                let attestation = is_attestation(child);
                // Attestations are optional extras; docker save leaves them out.
                if attestation && !self.has_blob(child.digest().as_ref()) {
                    continue;
                }
                let cmt = child.media_type().to_string();
                if !media::is_manifest(&cmt) && !media::is_index(&cmt) {
                    if deep {
                        return Err(Error::UnsupportedMediaType {
                            media_type: cmt,
                            context: format!("entry {} of {by}", child.digest()),
                        });
                    }
                    self.check_present(child, &by)?;
                    continue;
                }
                self.verify_graph_at(child, &by, deep && !attestation, depth + 1)?;
            }
        } else if media::is_manifest(&mt) {
            let manifest: ImageManifest = self.read_json(&digest, "image manifest")?;
            let by = format!("image manifest {digest}");
            self.check_present(manifest.config(), &by)?;
            for layer in manifest.layers() {
                // Foreign layers live at their URLs, not in the store.
                if layer.urls().is_some() && !self.has_blob(layer.digest().as_ref()) {
                    continue;
                }
                self.check_present(layer, &by)?;
            }
            if deep {
                self.verify_manifest_content(&digest, &manifest)?;
            }
        } else if deep {
            return Err(Error::UnsupportedMediaType {
                media_type: mt,
                context: format!(
                    "{digest} referenced by {referenced_by} (expected an image manifest or index)"
                ),
            });
        }
        Ok(())
    }

    fn verify_manifest_content(&self, digest: &str, manifest: &ImageManifest) -> Result<()> {
        for layer in manifest.layers() {
            let lmt = layer.media_type().to_string();
            if !media::is_tar_layer(&lmt) && !media::is_wasm_layer(&lmt) {
                return Err(Error::UnsupportedMediaType {
                    media_type: lmt,
                    context: format!("layer {} of image manifest {digest}", layer.digest()),
                });
            }
        }
        let cdesc = manifest.config();
        let cdigest = cdesc.digest().to_string();
        let cmt = cdesc.media_type().to_string();
        if media::is_image_config(&cmt) {
            let config: ImageConfiguration = self.read_json(&cdigest, "image config")?;
            crate::archive::verify_diff_ids(self, manifest, &config)?;
        } else {
            // Other configs (CNCF Wasm, empty) are opaque here; they only need
            // to be JSON.
            self.read_json::<serde_json::Value>(&cdigest, "image config")?;
        }
        Ok(())
    }

    fn check_present(&self, desc: &Descriptor, referenced_by: &str) -> Result<()> {
        let digest = desc.digest().to_string();
        let path = self.blob_path(&digest)?;
        match fs::metadata(&path) {
            Ok(m) if m.len() != desc.size() => Err(Error::SizeMismatch {
                digest,
                expected: desc.size(),
                actual: m.len(),
            }),
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::MissingBlob {
                digest,
                referenced_by: referenced_by.to_string(),
            }),
            Err(e) => Err(Error::io(format!("cannot read {}", path.display()), e)),
        }
    }

    /// Adds `desc` and everything reachable from it to `set`.
    fn mark(&self, desc: &Descriptor, set: &mut HashSet<String>, depth: usize) {
        let digest = desc.digest().to_string();
        if depth > MAX_DEPTH || !set.insert(digest.clone()) {
            return;
        }
        let mt = desc.media_type().to_string();
        if media::is_index(&mt) {
            if let Ok(index) = self.read_json::<ImageIndex>(&digest, "image index") {
                for child in index.manifests() {
                    self.mark(child, set, depth + 1);
                }
            }
        } else if media::is_manifest(&mt) {
            if let Ok(m) = self.read_json::<ImageManifest>(&digest, "image manifest") {
                set.insert(m.config().digest().to_string());
                for l in m.layers() {
                    set.insert(l.digest().to_string());
                }
            }
        }
    }

    fn lookup(&self, index: &ImageIndex, name: &str) -> Result<Target> {
        let entries = index.manifests();
        let hex_part = name.strip_prefix("sha256:");
        let id_like = hex_part.is_some() || (name.len() == 64 && is_lower_hex(name));
        let mut shown = name.to_string();
        if !id_like {
            let r: Reference = name.parse()?;
            shown = r.familiar();
            let hits: Vec<usize> = entries
                .iter()
                .enumerate()
                .filter(|(_, e)| entry_matches(e, &r))
                .map(|(i, _)| i)
                .collect();
            if !hits.is_empty() {
                return Ok(Target::Named(hits));
            }
            if let Some(d) = &r.digest {
                if entries.iter().any(|e| e.digest().as_ref() == d) {
                    return Ok(Target::Digest(d.clone()));
                }
            }
        }
        // Docker resolves names first, then ID prefixes.
        let hex = hex_part.unwrap_or(name);
        if (4..=64).contains(&hex.len()) && is_lower_hex(hex) {
            let prefix = format!("sha256:{hex}");
            let found: BTreeSet<String> = entries
                .iter()
                .map(|e| e.digest().to_string())
                .filter(|d| d.starts_with(&prefix))
                .collect();
            match found.len() {
                0 => {}
                1 => return Ok(Target::Digest(found.into_iter().next().unwrap_or_default())),
                _ => {
                    return Err(Error::AmbiguousImage {
                        name: name.to_string(),
                        matches: found.into_iter().collect(),
                    })
                }
            }
            // One config can sit under several entries (two indexes sharing
            // a platform image); it is still one image.
            let mut configs: HashMap<String, BTreeSet<String>> = HashMap::new();
            for e in entries {
                for c in self.config_digests(e) {
                    if c.starts_with(&prefix) {
                        configs.entry(c).or_default().insert(e.digest().to_string());
                    }
                }
            }
            if configs.len() > 1 {
                let mut matches: Vec<String> = configs.into_keys().collect();
                matches.sort();
                return Err(Error::AmbiguousImage {
                    name: name.to_string(),
                    matches,
                });
            }
            if let Some((config, entries)) = configs.into_iter().next() {
                return Ok(Target::Config { config, entries });
            }
        }
        Err(Error::ImageNotFound(shown))
    }

    /// Config digests of the manifests under an entry (best effort).
    fn config_digests(&self, entry: &Descriptor) -> Vec<String> {
        self.leaf_manifests(entry, 0)
            .iter()
            .filter_map(|d| {
                self.read_json::<ImageManifest>(d.digest().as_ref(), "image manifest")
                    .ok()
            })
            .map(|m| m.config().digest().to_string())
            .collect()
    }

    /// The platform manifests under `desc` (itself, if it is one), skipping
    /// attestations and anything unreadable.
    fn leaf_manifests(&self, desc: &Descriptor, depth: usize) -> Vec<Descriptor> {
        let mt = desc.media_type().to_string();
        if media::is_manifest(&mt) {
            return vec![desc.clone()];
        }
        if !media::is_index(&mt) || depth > MAX_DEPTH {
            return Vec::new();
        }
        let Ok(index) = self.read_json::<ImageIndex>(desc.digest().as_ref(), "image index") else {
            return Vec::new();
        };
        index
            .manifests()
            .iter()
            .filter(|c| !is_attestation(c))
            .flat_map(|c| self.leaf_manifests(c, depth + 1))
            .collect()
    }

    /// Walks indexes down to one platform manifest.
    pub(crate) fn select_manifest(
        &self,
        entry: &Descriptor,
        platform: Option<&Platform>,
        name: &str,
    ) -> Result<(Descriptor, bool)> {
        let mut desc = entry.clone();
        let mut fallback = false;
        for _ in 0..=MAX_DEPTH {
            let mt = desc.media_type().to_string();
            if media::is_manifest(&mt) {
                return Ok((desc, fallback));
            }
            if !media::is_index(&mt) {
                return Err(Error::UnsupportedMediaType {
                    media_type: mt,
                    context: format!("image '{name}' (expected an image manifest or index)"),
                });
            }
            let index: ImageIndex = self.read_json(desc.digest().as_ref(), "image index")?;
            let (child, fb) = choose_platform(&index, platform, name)?;
            fallback |= fb;
            desc = child;
        }
        Err(Error::invalid(
            format!("image '{name}'"),
            "its indexes are nested too deeply",
        ))
    }

    fn summarize(&self, entry: &Descriptor) -> ImageSummary {
        let manifest_digest = entry.digest().to_string();
        let mut s = ImageSummary {
            names: entry_display_name(entry).into_iter().collect(),
            manifest_digest: manifest_digest.clone(),
            id: manifest_digest,
            created: None,
            size: 0,
            platforms: Vec::new(),
        };
        let mut counted = HashSet::new();
        for leaf in self.leaf_manifests(entry, 0) {
            let Ok(m) = self.read_json::<ImageManifest>(leaf.digest().as_ref(), "image manifest")
            else {
                continue;
            };
            for d in std::iter::once(m.config()).chain(m.layers()) {
                if counted.insert(d.digest().to_string()) {
                    s.size += d.size();
                }
            }
            let platform = match leaf.platform() {
                Some(p) => Some(Platform::new(
                    &p.os().to_string(),
                    &p.architecture().to_string(),
                    p.variant().as_deref(),
                )),
                None => self
                    .read_blob(m.config().digest().as_ref())
                    .ok()
                    .and_then(|b| platform_from_config(&b)),
            };
            if let Some(p) = platform {
                let p = p.to_string();
                if !s.platforms.contains(&p) {
                    s.platforms.push(p);
                }
            }
        }
        if let Ok((chosen, _)) = self.select_manifest(entry, None, "") {
            if let Ok(m) =
                self.read_json::<ImageManifest>(chosen.digest().as_ref(), "image manifest")
            {
                s.id = m.config().digest().to_string();
                if let Ok(bytes) = self.read_blob(&s.id) {
                    s.created = serde_json::from_slice::<serde_json::Value>(&bytes)
                        .ok()
                        .and_then(|v| v.get("created")?.as_str().map(str::to_string));
                }
            }
        }
        s
    }
}

fn empty_index() -> ImageIndex {
    let mut index = ImageIndex::default();
    index.set_media_type(Some(MediaType::ImageIndex));
    index.set_manifests(Vec::new());
    index
}

fn annotation<'a>(d: &'a Descriptor, key: &str) -> Option<&'a str> {
    d.annotations().as_ref()?.get(key).map(String::as_str)
}

fn entry_is_untagged(d: &Descriptor) -> bool {
    annotation(d, ANNOTATION_REF_NAME).is_none()
        && annotation(d, ANNOTATION_CONTAINERD_NAME).is_none()
}

fn untagged(mut d: Descriptor) -> Descriptor {
    if let Some(mut ann) = d.annotations().clone() {
        ann.remove(ANNOTATION_REF_NAME);
        ann.remove(ANNOTATION_CONTAINERD_NAME);
        d.set_annotations(if ann.is_empty() { None } else { Some(ann) });
    }
    d
}

/// The reference an index.json entry is named by: the containerd name when
/// present (Docker writes a bare tag into ref.name), else ref.name.
fn entry_reference(d: &Descriptor) -> Option<Reference> {
    if let Some(full) = annotation(d, ANNOTATION_CONTAINERD_NAME) {
        if let Ok(r) = full.parse() {
            return Some(r);
        }
    }
    annotation(d, ANNOTATION_REF_NAME)?.parse().ok()
}

fn entry_display_name(d: &Descriptor) -> Option<String> {
    entry_reference(d)
        .map(|r| r.familiar())
        .or_else(|| annotation(d, ANNOTATION_REF_NAME).map(str::to_string))
}

fn entry_matches(d: &Descriptor, r: &Reference) -> bool {
    annotation(d, ANNOTATION_REF_NAME) == Some(r.familiar().as_str())
        || entry_reference(d).as_ref() == Some(r)
}

fn names_of(index: &ImageIndex, digest: &str) -> Vec<String> {
    let mut names = Vec::new();
    for e in index.manifests() {
        if e.digest().as_ref() == digest {
            if let Some(n) = entry_display_name(e) {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
    }
    names
}

pub(crate) fn is_attestation(d: &Descriptor) -> bool {
    annotation(d, ATTESTATION_ANNOTATION) == Some("attestation-manifest")
        || d.platform().as_ref().is_some_and(|p| {
            p.os().to_string() == "unknown" && p.architecture().to_string() == "unknown"
        })
}

fn descriptor_platform(d: &Descriptor) -> Option<Platform> {
    d.platform().as_ref().map(|p| {
        Platform::new(
            &p.os().to_string(),
            &p.architecture().to_string(),
            p.variant().as_deref(),
        )
    })
}

fn descriptor_matches(d: &Descriptor, want: &Platform) -> bool {
    match d.platform() {
        Some(p) => want.matches(
            &p.os().to_string(),
            &p.architecture().to_string(),
            p.variant().as_deref(),
        ),
        // containerd treats a descriptor without a platform as matching.
        None => true,
    }
}

/// Picks the child for `platform`, else the host's, else (flagged) Wasm.
fn choose_platform(
    index: &ImageIndex,
    platform: Option<&Platform>,
    name: &str,
) -> Result<(Descriptor, bool)> {
    let candidates: Vec<&Descriptor> = index
        .manifests()
        .iter()
        .filter(|d| !is_attestation(d))
        .collect();
    let no_match = |wanted: &Platform| Error::NoMatchingPlatform {
        name: name.to_string(),
        wanted: wanted.to_string(),
        available: candidates
            .iter()
            .filter_map(|d| descriptor_platform(d).map(|p| p.to_string()))
            .collect(),
    };
    if let Some(want) = platform {
        return candidates
            .iter()
            .find(|d| descriptor_matches(d, want))
            .map(|d| ((*d).clone(), false))
            .ok_or_else(|| no_match(want));
    }
    let host = Platform::host();
    if let Some(d) = candidates.iter().find(|d| descriptor_matches(d, &host)) {
        return Ok(((*d).clone(), false));
    }
    candidates
        .iter()
        .find(|d| descriptor_platform(d).is_some_and(|p| p.is_wasm()))
        .map(|d| ((*d).clone(), true))
        .ok_or_else(|| no_match(&host))
}

pub(crate) fn platform_from_config(bytes: &[u8]) -> Option<Platform> {
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let os = v.get("os")?.as_str()?;
    let arch = v.get("architecture")?.as_str()?;
    let variant = v.get("variant").and_then(|x| x.as_str());
    Some(Platform::new(os, arch, variant))
}

#[cfg(test)]
mod tests;
