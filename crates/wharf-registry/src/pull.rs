//! Pulling: manifests and blobs from a registry into the store. Blobs stream
//! through the store's `BlobWriter`, so they are hashed on the way (once) and
//! only renamed into place when all of an image's blobs arrived and matched
//! their digests. Nothing here tags.

use std::collections::HashSet;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use futures_util::{stream, StreamExt, TryStreamExt};
use oci_client::client::{BlobResponse, SizedStream};
use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, MediaType};
use wharf_image::{media, BlobWriter, FinishedBlob, Platform, Reference, Store};

use crate::{
    manifest_media_type, parse_index, parse_manifest, Client, Error, Result, PARALLEL_PULLS,
};

/// Told about each blob of a pull (config or layer) as soon as it arrived
/// and matched its digest, before it is visible in the store, so the caller
/// can start on it while the rest is still on its way (the engine compiles a
/// Wasm module). Called from the pull's network thread: return quickly.
pub trait PullObserver: Sync {
    /// `blob`, of `manifest`, is complete at `path` for the duration of the
    /// call (open it to read it later: the fd survives the rename).
    fn blob_arrived(&self, manifest: &ImageManifest, blob: &Descriptor, path: &Path);
}

struct Unobserved;

impl PullObserver for Unobserved {
    fn blob_arrived(&self, _: &ImageManifest, _: &Descriptor, _: &Path) {}
}

/// What every step of one pull works with.
#[derive(Clone, Copy)]
struct Job<'a> {
    store: &'a Store,
    r: &'a Reference,
    /// The reference as the user wrote it, for messages.
    shown: &'a str,
    observer: &'a dyn PullObserver,
}

/// What to fetch when a tag names a multi-platform index.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// The variant wanted; `None`: the host's, else a Wasm one.
    pub platform: Option<Platform>,
    /// Fetch every variant and keep the index itself.
    pub all_platforms: bool,
}

/// What a pull wrote: the manifest or index to tag.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub target: Descriptor,
    /// Digest of what the registry's tag points at (an index, or `target`).
    pub remote_digest: String,
    /// Set when the index had no variant for the host and a Wasm one was
    /// taken instead: the platform picked.
    pub fallback: Option<String>,
}

const ACCEPT: [&str; 4] = [
    media::OCI_MANIFEST,
    media::OCI_INDEX,
    media::DOCKER_MANIFEST,
    media::DOCKER_MANIFEST_LIST,
];
const MAX_MANIFEST: usize = 4 << 20;

fn is_attestation(d: &Descriptor) -> bool {
    d.annotations()
        .as_ref()
        .and_then(|a| a.get("vnd.docker.reference.type"))
        .is_some_and(|v| v == "attestation-manifest")
        || d.platform().as_ref().is_some_and(|p| {
            p.os().to_string() == "unknown" && p.architecture().to_string() == "unknown"
        })
}

fn desc_platform(d: &Descriptor) -> Option<Platform> {
    d.platform().as_ref().map(|p| {
        Platform::new(
            &p.os().to_string(),
            &p.architecture().to_string(),
            p.variant().as_deref(),
        )
    })
}

fn platform_matches(d: &Descriptor, want: &Platform) -> bool {
    match desc_platform(d) {
        Some(p) => want.matches(&p.os, &p.architecture, p.variant.as_deref()),
        None => false,
    }
}

/// Picks the index entry for `want`, else the host's, else a Wasm one.
fn choose(
    index: &ImageIndex,
    want: Option<&Platform>,
    shown: &str,
) -> Result<(Descriptor, Option<String>)> {
    let candidates: Vec<&Descriptor> = index
        .manifests()
        .iter()
        .filter(|d| !is_attestation(d))
        .collect();
    let available = || {
        let list: Vec<String> = candidates
            .iter()
            .filter_map(|d| desc_platform(d).map(|p| p.to_string()))
            .collect();
        if list.is_empty() {
            "none".to_string()
        } else {
            list.join(", ")
        }
    };
    if let Some(want) = want {
        return candidates
            .iter()
            .find(|d| platform_matches(d, want))
            .map(|d| ((*d).clone(), None))
            .ok_or_else(|| Error::Invalid {
                reference: shown.to_string(),
                detail: format!(
                    "no variant for platform {want} (available: {}); pick one of those with --platform",
                    available()
                ),
            });
    }
    let host = Platform::host();
    if let Some(d) = candidates.iter().find(|d| platform_matches(d, &host)) {
        return Ok(((*d).clone(), None));
    }
    if let Some(d) = candidates
        .iter()
        .find(|d| desc_platform(d).is_some_and(|p| p.is_wasm()))
    {
        let p = desc_platform(d).map(|p| p.to_string()).unwrap_or_default();
        return Ok(((*d).clone(), Some(p)));
    }
    Err(Error::Invalid {
        reference: shown.to_string(),
        detail: format!(
            "no variant for this host's platform {host} and no Wasm variant (available: {}); pick one with --platform",
            available()
        ),
    })
}

/// Whether the store holds `d` and everything under it: for an index, each
/// of its variants; for a manifest, its config and layers.
fn held_whole(store: &Store, d: &Descriptor, depth: usize) -> bool {
    let digest = d.digest().to_string();
    if depth > crate::MAX_INDEX_DEPTH || !store.has_blob(&digest) {
        return false;
    }
    let Ok(bytes) = store.read_blob(&digest) else {
        return false;
    };
    if media::is_index(d.media_type().as_ref()) {
        let Ok(index) = serde_json::from_slice::<ImageIndex>(&bytes) else {
            return false;
        };
        return index
            .manifests()
            .iter()
            .filter(|c| !is_attestation(c))
            .all(|c| held_whole(store, c, depth + 1));
    }
    let Ok(m) = serde_json::from_slice::<ImageManifest>(&bytes) else {
        return false;
    };
    store.has_blob(m.config().digest().as_ref())
        && m.layers()
            .iter()
            .all(|l| store.has_blob(l.digest().as_ref()))
}

/// What to ask the registry for when fetching `r`: its digest when it has
/// one (the digest pins the content, whatever the tag says), else its tag,
/// else `latest`.
pub(crate) fn fetch_pin(r: &Reference) -> String {
    r.digest
        .clone()
        .or_else(|| r.tag.clone())
        .unwrap_or_else(|| "latest".to_string())
}

fn descriptor(media_type: &str, digest: &str, size: u64) -> Result<Descriptor> {
    let digest: oci_spec::image::Digest = digest.parse().map_err(|_| Error::Invalid {
        reference: digest.to_string(),
        detail: "the registry sent an invalid digest".into(),
    })?;
    Ok(Descriptor::new(MediaType::from(media_type), size, digest))
}

impl Client {
    /// Fetches `r` (its tag or digest) into `store`: manifests, config and
    /// layers, verified. Returns what to tag.
    pub fn pull(&self, store: &Store, r: &Reference, opts: &PullOptions) -> Result<Pulled> {
        self.pull_observed(store, r, opts, &Unobserved)
    }

    /// [`pull`](Self::pull), telling `observer` about each blob as it arrives.
    pub fn pull_observed(
        &self,
        store: &Store,
        r: &Reference,
        opts: &PullOptions,
        observer: &dyn PullObserver,
    ) -> Result<Pulled> {
        let shown = r.familiar();
        let pin = fetch_pin(r);
        let job = Job {
            store,
            r,
            shown: &shown,
            observer,
        };
        self.rt.block_on(async {
            let (bytes, digest, mt) = self.fetch_manifest(r, &pin, &shown).await?;
            if media::is_index(&mt) {
                let index = parse_index(&bytes, &digest, 0, &shown)?;
                if opts.all_platforms && opts.platform.is_none() {
                    for child in index.manifests().iter().filter(|d| !is_attestation(d)) {
                        self.pull_child(&job, child, None, 1).await?;
                    }
                    let (d, size) = store.put_blob(&bytes).map_err(|e| Error::Store {
                        reference: shown.clone(),
                        what: format!("storing image index {digest}"),
                        source: Box::new(e),
                    })?;
                    return Ok(Pulled {
                        target: descriptor(&mt, &d, size)?,
                        remote_digest: digest,
                        fallback: None,
                    });
                }
                let (child, fallback) = choose(&index, opts.platform.as_ref(), &shown)?;
                let mut target = self
                    .pull_child(&job, &child, opts.platform.as_ref(), 1)
                    .await?;
                // The tag stays on the index, as Docker's does, when the
                // store holds every variant (the index was made or pulled
                // whole here before): tagging the platform image would
                // leave the index as an untagged `<none>` beside it. The
                // store keeps only whole indexes (push, save and the
                // collector walk every variant), so with variants missing
                // the tag goes on the image pulled, which `run` resolves
                // the same way. `--platform` asks for that one variant.
                if opts.platform.is_none()
                    && index
                        .manifests()
                        .iter()
                        .filter(|d| !is_attestation(d))
                        .all(|d| held_whole(store, d, 1))
                {
                    let (d, size) = store.put_blob(&bytes).map_err(|e| Error::Store {
                        reference: shown.clone(),
                        what: format!("storing image index {digest}"),
                        source: Box::new(e),
                    })?;
                    target = descriptor(&mt, &d, size)?;
                }
                return Ok(Pulled {
                    target,
                    remote_digest: digest,
                    fallback,
                });
            }
            let target = self.store_manifest(&job, &bytes, &digest, &mt).await?;
            if let Some(want) = &opts.platform {
                self.check_platform(store, &target, want, &shown)?;
            }
            Ok(Pulled {
                target,
                remote_digest: digest,
                fallback: None,
            })
        })
    }

    /// Fetches an index entry (a manifest, or a nested index resolved for
    /// `want`) by digest.
    async fn pull_child(
        &self,
        job: &Job<'_>,
        child: &Descriptor,
        want: Option<&Platform>,
        depth: usize,
    ) -> Result<Descriptor> {
        let Job { r, shown, .. } = *job;
        let digest = child.digest().to_string();
        let (bytes, got, mt) = Box::pin(self.fetch_manifest(r, &digest, shown)).await?;
        if got != digest {
            return Err(Error::Invalid {
                reference: shown.to_string(),
                detail: format!("the registry sent manifest {got} when asked for {digest}"),
            });
        }
        if media::is_index(&mt) {
            let index = parse_index(&bytes, &digest, depth, shown)?;
            let (c, _) = choose(&index, want, shown)?;
            return Box::pin(self.pull_child(job, &c, want, depth + 1)).await;
        }
        let mut d = self.store_manifest(job, &bytes, &got, &mt).await?;
        d.set_platform(child.platform().clone());
        Ok(d)
    }

    fn check_platform(
        &self,
        store: &Store,
        target: &Descriptor,
        want: &Platform,
        shown: &str,
    ) -> Result<()> {
        let manifest: ImageManifest =
            serde_json::from_slice(&store.read_blob(target.digest().as_ref()).map_err(|e| {
                Error::Store {
                    reference: shown.to_string(),
                    what: "reading the manifest back".into(),
                    source: Box::new(e),
                }
            })?)
            .map_err(|e| Error::Invalid {
                reference: shown.to_string(),
                detail: format!("manifest is not valid: {e}"),
            })?;
        let config = store
            .read_blob(manifest.config().digest().as_ref())
            .unwrap_or_default();
        let v: serde_json::Value = serde_json::from_slice(&config).unwrap_or_default();
        if let (Some(os), Some(arch)) = (v["os"].as_str(), v["architecture"].as_str()) {
            if !want.matches(os, arch, v["variant"].as_str()) {
                return Err(Error::Invalid {
                    reference: shown.to_string(),
                    detail: format!(
                        "the image is for {os}/{arch}, not {want}; pull it without --platform or pick another image"
                    ),
                });
            }
        }
        Ok(())
    }

    /// GET a manifest: its exact bytes, their digest and media type.
    pub(crate) async fn fetch_manifest(
        &self,
        r: &Reference,
        pin: &str,
        shown: &str,
    ) -> Result<(Vec<u8>, String, String)> {
        let oref = self.oci_ref(r, pin);
        let (bytes, _) = self
            .oci
            .pull_manifest_raw(&oref, &self.auth, &ACCEPT)
            .await
            .map_err(|e| self.map_err(shown, e))?;
        if bytes.len() > MAX_MANIFEST {
            return Err(Error::Invalid {
                reference: shown.to_string(),
                detail: format!("its manifest is {} bytes, too large to be one", bytes.len()),
            });
        }
        let digest = format!("sha256:{}", hex_sha256(&bytes));
        if pin.starts_with("sha256:") && pin != digest {
            return Err(Error::Invalid {
                reference: shown.to_string(),
                detail: format!(
                    "content does not match its digest: the registry's manifest hashes to {digest}, not {pin}"
                ),
            });
        }
        let mt = manifest_media_type(&bytes).ok_or_else(|| Error::Invalid {
            reference: shown.to_string(),
            detail: format!("manifest {digest} is neither an image manifest nor an index"),
        })?;
        if !media::is_index(&mt) && !media::is_manifest(&mt) {
            return Err(Error::Unsupported {
                reference: shown.to_string(),
                media_type: mt,
                what: format!("manifest {digest}"),
            });
        }
        Ok((bytes.to_vec(), digest, mt))
    }

    /// Checks a platform manifest, fetches what it references, then stores
    /// the manifest bytes themselves.
    async fn store_manifest(
        &self,
        job: &Job<'_>,
        bytes: &[u8],
        digest: &str,
        mt: &str,
    ) -> Result<Descriptor> {
        let Job {
            store, r, shown, ..
        } = *job;
        let manifest = parse_manifest(bytes, digest, shown)?;
        let cmt = manifest.config().media_type().to_string();
        if !media::is_image_config(&cmt) && cmt != media::WASM_CONFIG {
            return Err(Error::Unsupported {
                reference: shown.to_string(),
                media_type: cmt,
                what: format!("the config of manifest {digest}"),
            });
        }
        let mut blobs = vec![manifest.config().clone()];
        for l in manifest.layers() {
            let lmt = l.media_type().to_string();
            if !media::is_tar_layer(&lmt) && !media::is_wasm_layer(&lmt) {
                return Err(Error::Unsupported {
                    reference: shown.to_string(),
                    media_type: lmt,
                    what: format!("layer {}", l.digest()),
                });
            }
            blobs.push(l.clone());
        }
        self.fetch_blobs(job, &manifest, &blobs).await?;
        let (d, size) = store.put_blob(bytes).map_err(|e| Error::Store {
            reference: shown.to_string(),
            what: format!("storing manifest {digest}"),
            source: Box::new(e),
        })?;
        for b in &blobs {
            record_source(store, b.digest().as_ref(), &self.registry, &r.repository);
        }
        descriptor(mt, &d, size)
    }

    /// Fetches the blobs not in the store yet, a few at a time. They become
    /// visible only once all of them arrived and matched their digests, so
    /// a failure leaves nothing behind (the others' temp files go with
    /// their futures).
    async fn fetch_blobs(
        &self,
        job: &Job<'_>,
        manifest: &ImageManifest,
        blobs: &[Descriptor],
    ) -> Result<()> {
        let Job {
            store,
            r,
            shown,
            observer,
        } = *job;
        let mut seen = HashSet::new();
        let todo: Vec<&Descriptor> = blobs
            .iter()
            .filter(|b| seen.insert(b.digest().to_string()))
            .filter(|b| !store.has_blob(b.digest().as_ref()))
            .collect();
        if todo.is_empty() {
            return Ok(());
        }
        let finished = stream::iter(todo)
            .map(|b| async move {
                let blob = self.fetch_blob(store, r, b, shown).await?;
                observer.blob_arrived(manifest, b, blob.path());
                Ok::<_, Error>(blob)
            })
            .buffer_unordered(PARALLEL_PULLS)
            .try_collect::<Vec<FinishedBlob>>()
            .await?;
        let store_err = |e: wharf_image::Error| Error::Store {
            reference: shown.to_string(),
            what: "storing the blobs fetched".into(),
            source: Box::new(e),
        };
        for blob in finished {
            blob.publish().map_err(store_err)?;
        }
        // One directory fsync makes all the renames durable.
        store.sync_blobs().map_err(store_err)
    }

    /// Streams one blob into a temp file of the store: the network side
    /// runs here, writing and hashing on a blocking thread (one batch in
    /// flight while the next arrives), so blobs fetched together use more
    /// than one core and an fsync never stalls the other transfers. The
    /// digest is computed once, as the data is written, and checked before
    /// the blob is handed back (not yet visible).
    async fn fetch_blob(
        &self,
        store: &Store,
        r: &Reference,
        desc: &Descriptor,
        shown: &str,
    ) -> Result<FinishedBlob> {
        let digest = desc.digest().to_string();
        let what = format!("blob {digest}");
        let oref = self.oci_ref(r, r.tag.as_deref().unwrap_or("latest"));
        let pb = self.progress.bar("Pulling", &digest, desc.size());
        let mut body = self
            .open_blob(&oref, &digest, desc.size())
            .await
            .map_err(|e| match self.map_err(shown, e) {
                Error::NotFound { reference, detail } => Error::NotFound {
                    reference,
                    detail: format!("{what}: {detail}"),
                },
                Error::Transfer { reference, detail } => Error::Transfer {
                    reference,
                    detail: format!("fetching {what}: {detail}"),
                },
                other => other,
            })?;
        let store_err = |e: wharf_image::Error| match e {
            wharf_image::Error::DigestMismatch { actual, .. } => Error::Transfer {
                reference: shown.to_string(),
                detail: format!(
                    "fetching {what}: content does not match its digest (it hashes to \
                     {actual}); the registry's copy is corrupt"
                ),
            },
            e => Error::Store {
                reference: shown.to_string(),
                what: format!("fetching {what}"),
                source: Box::new(e),
            },
        };
        let write_err = |e: std::io::Error| Error::Transfer {
            reference: shown.to_string(),
            detail: format!("writing {what} to the store: {e}"),
        };
        let mut writer = Pipelined::new(store.blob_writer().map_err(store_err)?);
        let mut batch = Vec::new();
        let mut batched = 0;
        let mut received: u64 = 0;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    writer.abandon().await;
                    let msg = crate::error_chain(&e);
                    let detail = if msg.contains("igest") {
                        format!("fetching {what}: content does not match its digest ({msg}); the registry's copy is corrupt")
                    } else {
                        format!(
                            "fetching {what}: the transfer broke off after {received} bytes: {msg}"
                        )
                    };
                    return Err(Error::Transfer {
                        reference: shown.to_string(),
                        detail,
                    });
                }
            };
            received += chunk.len() as u64;
            if received > desc.size() {
                writer.abandon().await;
                return Err(Error::Invalid {
                    reference: shown.to_string(),
                    detail: format!(
                        "fetching {what}: the registry sent more than the {} bytes its descriptor says",
                        desc.size()
                    ),
                });
            }
            pb.inc(chunk.len() as u64);
            batched += chunk.len();
            batch.push(chunk);
            if batched >= WRITE_BATCH {
                writer
                    .write(std::mem::take(&mut batch))
                    .await
                    .map_err(write_err)?;
                batched = 0;
            }
        }
        writer.write(batch).await.map_err(write_err)?;
        let w = writer.take().await.map_err(write_err)?;
        if received != desc.size() {
            return Err(Error::Transfer {
                reference: shown.to_string(),
                detail: format!(
                    "fetching {what}: got {received} bytes of {}; the transfer broke off",
                    desc.size()
                ),
            });
        }
        let expected = digest.clone();
        let finished = tokio::task::spawn_blocking(move || w.finish(Some(&expected)))
            .await
            .map_err(|e| write_err(std::io::Error::other(e)))?
            .map_err(store_err)?;
        pb.finish_and_clear();
        Ok(finished)
    }

    /// GET a blob. `Range: bytes=0-` asks for all of it as a "partial"
    /// response, which oci-client passes through without hashing: the
    /// store's writer hashes it anyway, and once is enough. A registry that
    /// ignores the range answers 200 and oci-client checks the digest too.
    async fn open_blob(
        &self,
        oref: &oci_client::Reference,
        digest: &str,
        size: u64,
    ) -> std::result::Result<SizedStream, oci_client::errors::OciDistributionError> {
        if size == 0 {
            // No range of an empty body to ask for.
            return self.oci.pull_blob_stream(oref, digest).await;
        }
        Ok(
            match self
                .oci
                .pull_blob_stream_partial(oref, digest, 0, None)
                .await?
            {
                BlobResponse::Full(s) | BlobResponse::Partial(s) => s,
            },
        )
    }
}

/// Bytes handed to the writing thread at a time.
const WRITE_BATCH: usize = 1 << 20;

/// A [`BlobWriter`] fed from async code: each batch is written (and hashed)
/// on a blocking thread while the caller gathers the next one.
struct Pipelined {
    idle: Option<BlobWriter>,
    busy: Option<tokio::task::JoinHandle<std::io::Result<BlobWriter>>>,
}

impl Pipelined {
    fn new(w: BlobWriter) -> Pipelined {
        Pipelined {
            idle: Some(w),
            busy: None,
        }
    }

    /// Waits for the batch in flight; the writer back.
    async fn take(&mut self) -> std::io::Result<BlobWriter> {
        if let Some(h) = self.busy.take() {
            return h.await.map_err(std::io::Error::other)?;
        }
        self.idle
            .take()
            .ok_or_else(|| std::io::Error::other("blob writer lost after a failed write"))
    }

    /// Starts writing `batch` once the previous batch is written.
    async fn write<B: AsRef<[u8]> + Send + 'static>(
        &mut self,
        batch: Vec<B>,
    ) -> std::io::Result<()> {
        let mut w = self.take().await?;
        if batch.is_empty() {
            self.idle = Some(w);
            return Ok(());
        }
        self.busy = Some(tokio::task::spawn_blocking(move || {
            for b in &batch {
                w.write_all(b.as_ref())?;
            }
            Ok(w)
        }));
        Ok(())
    }

    /// Gives up: waits for the batch in flight, then drops the writer (and
    /// with it the temp file) before returning.
    async fn abandon(mut self) {
        let _ = self.take().await;
    }
}

pub(crate) fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Remembers that `digest` came from `registry/repository`, for cross-
/// repository mounts on push: one line per source in
/// `<store>/registry-sources/<hex>`. Best effort; safe to delete.
pub(crate) fn record_source(store: &Store, digest: &str, registry: &str, repository: &str) {
    let Some(hex) = digest.strip_prefix("sha256:") else {
        return;
    };
    let dir = store.root().join("registry-sources");
    let path = dir.join(hex);
    let line = format!("{registry}/{repository}");
    if sources(store, digest).contains(&line) {
        return;
    }
    let _ = std::fs::create_dir_all(&dir);
    if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(path) {
        let _ = f.write_all(format!("{line}\n").as_bytes());
    }
}

/// Where `digest` is known to exist: `registry/repository` lines.
pub(crate) fn sources(store: &Store, digest: &str) -> Vec<String> {
    let Some(hex) = digest.strip_prefix("sha256:") else {
        return Vec::new();
    };
    std::fs::read_to_string(store.root().join("registry-sources").join(hex))
        .map(|s| s.lines().map(str::to_string).collect())
        .unwrap_or_default()
}
