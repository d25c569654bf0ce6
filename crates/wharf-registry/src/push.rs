//! Pushing: an image (manifest or index) and everything it references, from
//! the store, byte for byte, so digests and media types survive.

use std::collections::HashSet;

use futures_util::{stream, StreamExt, TryStreamExt};
use oci_spec::image::Descriptor;
use reqwest::header::HeaderValue;
use wharf_image::{media, Reference, Store};

use crate::pull::{fetch_pin, record_source, sources};
use crate::{parse_index, parse_manifest, Client, Error, Result, PARALLEL_BLOBS};

impl Client {
    /// Pushes `target` (a manifest or index in `store`) to `dest`; returns
    /// the digest the registry now serves under `dest`'s tag.
    pub fn push(&self, store: &Store, target: &Descriptor, dest: &Reference) -> Result<String> {
        let shown = dest.familiar();
        let pin = dest
            .tag
            .clone()
            .or_else(|| dest.digest.clone())
            .unwrap_or_else(|| "latest".to_string());
        self.rt.block_on(async {
            self.push_graph(store, target, dest, &pin, &shown, 0)
                .await?;
            Ok(target.digest().to_string())
        })
    }

    async fn push_graph(
        &self,
        store: &Store,
        desc: &Descriptor,
        dest: &Reference,
        pin: &str,
        shown: &str,
        depth: usize,
    ) -> Result<()> {
        let digest = desc.digest().to_string();
        let mt = desc.media_type().to_string();
        let store_err = |what: String| {
            move |e: wharf_image::Error| Error::Store {
                reference: shown.to_string(),
                what,
                source: Box::new(e),
            }
        };
        let bytes = store
            .read_blob(&digest)
            .map_err(store_err(format!("reading {digest}")))?;
        if media::is_index(&mt) {
            let index = parse_index(&bytes, &digest, depth, shown)?;
            for child in index.manifests() {
                let cd = child.digest().to_string();
                if !store.has_blob(&cd) {
                    let attestation = child
                        .annotations()
                        .as_ref()
                        .and_then(|a| a.get("vnd.docker.reference.type"))
                        .is_some();
                    if attestation {
                        continue;
                    }
                    return Err(Error::Invalid {
                        reference: shown.to_string(),
                        detail: format!(
                            "the index references manifest {cd}, which is not in the store; pull it with --all-platforms first"
                        ),
                    });
                }
                Box::pin(self.push_graph(store, child, dest, &cd, shown, depth + 1)).await?;
            }
        } else if media::is_manifest(&mt) {
            let manifest = parse_manifest(&bytes, &digest, shown)?;
            let mut seen = HashSet::new();
            let blobs: Vec<&Descriptor> = std::iter::once(manifest.config())
                .chain(manifest.layers())
                .filter(|b| seen.insert(b.digest().to_string()))
                // Foreign layers live at their URLs, not in the store.
                .filter(|b| b.urls().is_none() || store.has_blob(b.digest().as_ref()))
                .collect();
            stream::iter(blobs)
                .map(|b| self.push_blob(store, b, dest, shown))
                .buffer_unordered(PARALLEL_BLOBS)
                .try_collect::<Vec<()>>()
                .await?;
        } else {
            return Err(Error::Unsupported {
                reference: shown.to_string(),
                media_type: mt,
                what: format!("{digest} (expected an image manifest or index)"),
            });
        }
        let oref = self.oci_ref(dest, pin);
        let ct = HeaderValue::from_str(&mt).map_err(|_| Error::Invalid {
            reference: shown.to_string(),
            detail: format!("media type '{mt}' cannot be sent"),
        })?;
        self.oci
            .push_manifest_raw(&oref, bytes, ct)
            .await
            .map_err(|e| self.map_err(shown, e))?;
        Ok(())
    }

    /// Uploads one blob unless the registry has it (HEAD), mounting it from
    /// another repository of the same registry when it came from there.
    async fn push_blob(
        &self,
        store: &Store,
        desc: &Descriptor,
        dest: &Reference,
        shown: &str,
    ) -> Result<()> {
        let digest = desc.digest().to_string();
        let what = format!("blob {digest}");
        let oref = self.oci_ref(dest, dest.tag.as_deref().unwrap_or("latest"));
        self.oci
            .store_auth_if_needed(oref.resolve_registry(), &self.auth)
            .await;
        let ctx = |e: Error| match e {
            Error::Transfer { reference, detail } => Error::Transfer {
                reference,
                detail: format!("pushing {what}: {detail}"),
            },
            other => other,
        };
        if self
            .oci
            .blob_exists(&oref, &digest)
            .await
            .map_err(|e| ctx(self.map_err(shown, e)))?
        {
            return Ok(());
        }
        let prefix = format!("{}/", self.registry);
        for src in sources(store, &digest) {
            let Some(repo) = src.strip_prefix(&prefix) else {
                continue;
            };
            if repo == dest.repository {
                continue;
            }
            let from = oci_client::Reference::with_tag(
                self.registry.clone(),
                repo.to_string(),
                "latest".into(),
            );
            if self.oci.mount_blob(&oref, &from, &digest).await.is_ok() {
                record_source(store, &digest, &self.registry, &dest.repository);
                return Ok(());
            }
        }
        let path = store.blob_path(&digest).map_err(|e| Error::Store {
            reference: shown.to_string(),
            what: format!("pushing {what}"),
            source: Box::new(e),
        })?;
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| Error::Transfer {
                reference: shown.to_string(),
                detail: format!("pushing {what}: cannot open {}: {e}", path.display()),
            })?;
        let size = file
            .metadata()
            .await
            .map(|m| m.len())
            .unwrap_or(desc.size());
        let pb = self.progress.bar("Pushing", &digest, size);
        let pb2 = pb.clone();
        let body = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024)
            .inspect(move |c| {
                if let Ok(c) = c {
                    pb2.inc(c.len() as u64);
                }
            })
            .map_err(|e| {
                oci_client::errors::OciDistributionError::GenericError(Some(e.to_string()))
            });
        self.oci
            .push_blob_stream(&oref, body, &digest, Some(size))
            .await
            .map_err(|e| ctx(self.map_err(shown, e)))?;
        pb.finish_and_clear();
        record_source(store, &digest, &self.registry, &dest.repository);
        Ok(())
    }

    /// Fetches a manifest or index from the registry: (bytes, media type).
    pub fn fetch_manifest_bytes(&self, r: &Reference) -> Result<(Vec<u8>, String)> {
        let shown = r.familiar();
        let pin = fetch_pin(r);
        self.rt.block_on(async {
            let (bytes, _, mt) = self.fetch_manifest(r, &pin, &shown).await?;
            Ok((bytes, mt))
        })
    }
}
