//! Checking an image graph in the store: every blob a manifest or index
//! references is present with the right size and, for content from outside
//! (archives, registries), of a media type Wharf handles, with configs that
//! parse and layers whose uncompressed content matches the config's diff_ids.

use std::collections::HashSet;
use std::fs;
use std::io::{self, BufRead, BufReader, Read};

use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest};
use sha2::{Digest as _, Sha256};

use super::Store;
use crate::error::{Error, IoContext, Result};
use crate::expansion::ExpansionMeter;
use crate::layout::{is_attestation, MAX_DEPTH};
use crate::media::{self, Compression};

/// At most this many distinct manifests and indexes in one image's graph.
const MAX_GRAPH_NODES: usize = 10_000;

/// The nodes of an image's graph verified so far, and how deeply.
#[derive(Default)]
struct Walked {
    deep: HashSet<String>,
    shallow: HashSet<String>,
}

impl Walked {
    /// Whether `digest` still needs checking at this depth of scrutiny (a
    /// deep check covers a shallow one); refuses a pathological graph.
    fn first_visit(&mut self, digest: &str, deep: bool) -> Result<bool> {
        if self.deep.contains(digest) || (!deep && self.shallow.contains(digest)) {
            return Ok(false);
        }
        if self.deep.len() + self.shallow.len() >= MAX_GRAPH_NODES {
            return Err(Error::invalid(
                format!("image graph at {digest}"),
                "it has more than 10000 manifests and indexes",
            ));
        }
        let set = if deep {
            &mut self.deep
        } else {
            &mut self.shallow
        };
        set.insert(digest.to_string());
        Ok(true)
    }
}

impl Store {
    /// Checks that `desc` and everything it references is present with the
    /// right size. `deep` also checks media types, parses configs and
    /// verifies layer diff_ids (used for content from outside).
    pub(crate) fn verify_graph(
        &self,
        desc: &Descriptor,
        referenced_by: &str,
        deep: bool,
    ) -> Result<()> {
        self.verify_graph_at(desc, referenced_by, deep, 0, &mut Walked::default())
    }

    fn verify_graph_at(
        &self,
        desc: &Descriptor,
        referenced_by: &str,
        deep: bool,
        depth: usize,
        walked: &mut Walked,
    ) -> Result<()> {
        let digest = desc.digest().to_string();
        if depth > MAX_DEPTH {
            return Err(Error::invalid(
                format!("image index {digest}"),
                "indexes are nested too deeply",
            ));
        }
        // A graph that lists the same child many times (or nests indexes
        // that do) is walked once per node, not once per path to it.
        if !walked.first_visit(&digest, deep)? {
            return Ok(());
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
                self.verify_graph_at(child, &by, deep && !attestation, depth + 1, walked)?;
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
            verify_diff_ids(self, manifest, &config)?;
        } else if cmt == media::WASM_CONFIG {
            // The CNCF Wasm artifact's config is opaque here; it only needs
            // to be JSON.
            self.read_json::<serde_json::Value>(&cdigest, "image config")?;
        } else {
            // What pull refuses and run could not run (an artifact, or a
            // config whose type says nothing, as application/octet-stream):
            // refused here too, so no image comes in that run refuses.
            return Err(Error::UnsupportedMediaType {
                media_type: cmt,
                context: format!(
                    "the config {cdigest} of image manifest {digest} (an image's config is {} or {}, a Wasm artifact's {})",
                    media::OCI_CONFIG,
                    media::DOCKER_CONFIG,
                    media::WASM_CONFIG
                ),
            });
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
    let (file, path) = store.open_blob(digest)?;
    let size = file
        .metadata()
        .ctx(|| format!("cannot read {}", path.display()))?
        .len();
    let meter = ExpansionMeter::for_blob(size);
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
    // Only zstd can fail to start.
    let decoder = declared
        .decoder(r)
        .map_err(|e| bad(format!("cannot start zstd decompression: {e}")))?;
    let mut hr = HashReader {
        inner: meter.output(decoder),
        hasher: Sha256::new(),
    };
    let bomb = |meter: &ExpansionMeter| meter.exceeded().map(|e| bad(e.to_string()));
    {
        let mut archive = tar::Archive::new(&mut hr);
        let entries = archive
            .entries()
            .map_err(|e| bad(format!("it is not a valid tar archive: {e}")))?;
        for entry in entries {
            entry.map_err(|e| {
                bomb(&meter).unwrap_or_else(|| {
                    bad(format!("it is not a valid (complete) tar archive: {e}"))
                })
            })?;
        }
    }
    // The diff_id covers the end-of-archive padding tar stops before.
    io::copy(&mut hr, &mut io::sink())
        .map_err(|e| bomb(&meter).unwrap_or_else(|| bad(format!("cannot decompress it: {e}"))))?;
    Ok(format!("sha256:{}", hex::encode(hr.hasher.finalize())))
}

fn describe(c: Compression) -> &'static str {
    match c {
        Compression::None => "an uncompressed tar",
        Compression::Gzip => "gzip",
        Compression::Zstd => "zstd",
    }
}
