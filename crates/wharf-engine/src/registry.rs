//! Registries: pull, push, login/logout and multi-platform manifests.
//!
//! The transfer itself is `wharf-registry`'s; this is the glue that keeps the
//! store's promise: a pulled image is tagged only after all its blobs arrived
//! and matched their digests and its Wasm module compiled, inside one store
//! transaction, so a failed pull (bad digest, dead registry, bad module)
//! leaves nothing behind.
//!
//! Unlike build and load, pull does not unpack layers into snapshots: like
//! `skopeo copy` or `docker pull`'s content fetch, it stores them, and the
//! first `wharf run` unpacks them (once per chain id), checking each
//! against its diff_id then. A module inside the layers is read straight out
//! of them to be compiled ([`wharf_registry::layer_file`]).

use std::io::Read;

use serde_json::{json, Value};
use sha2::Digest as _;
use wharf_image::{media, Descriptor, Image, Platform, Reference};
use wharf_registry::layer_file::{self, Found};
use wharf_registry::{auth, Client, Credentials, Options, PullOptions};

use crate::kind::{image_module, ModuleSource};
use crate::{Engine, Error, Result};

/// Modules larger than this are not read out of the layers into memory at
/// pull: the image is unpacked to compile them, as build does.
const MAX_MODULE_IN_LAYERS: u64 = 256 << 20;

/// How to reach registries, from the command line.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// `--tls-verify=false`: accept self-signed certificates, fall back to HTTP.
    pub tls_verify: bool,
    /// `-q`: no progress bars.
    pub quiet: bool,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            tls_verify: true,
            quiet: false,
        }
    }
}

/// What `wharf pull` did.
#[derive(Debug, Clone)]
pub struct PullResult {
    /// The name it is tagged under, in Docker's short form.
    pub name: String,
    /// The digest the registry serves for the reference (the index, for a
    /// multi-platform tag).
    pub digest: String,
    /// The manifest (or index, with --all-platforms) now tagged locally.
    pub manifest_digest: String,
    /// The platform taken because the host's was missing (a Wasm one).
    pub fallback: Option<String>,
}

fn client_options(opts: &RegistryOptions) -> Options {
    Options {
        tls_verify: opts.tls_verify,
        progress: !opts.quiet,
        credentials: None,
    }
}

/// Registry errors as the engine's: the message already names the reference
/// and the cause.
fn reg(e: wharf_registry::Error) -> Error {
    use wharf_registry::Error as R;
    match e {
        R::Unsupported { .. } => Error::Unsupported(e.to_string()),
        R::Store { .. } | R::Transfer { .. } => Error::Corrupt(e.to_string()),
        _ => Error::InvalidArgument(e.to_string()),
    }
}

/// Whether a name given to `run` names a registry explicitly
/// (`registry:5000/app`, `ghcr.io/org/app`, `localhost/app`).
pub fn names_registry(name: &str) -> bool {
    let name = name.split('@').next().unwrap_or(name);
    match name.split_once('/') {
        Some((first, _)) => first.contains(['.', ':']) || first == "localhost",
        None => false,
    }
}

fn strip_names(mut d: Descriptor) -> Descriptor {
    if let Some(mut ann) = d.annotations().clone() {
        ann.remove(wharf_image::ANNOTATION_REF_NAME);
        ann.remove(wharf_image::ANNOTATION_CONTAINERD_NAME);
        d.set_annotations(if ann.is_empty() { None } else { Some(ann) });
    }
    d
}

impl Engine {
    /// `wharf pull`: fetches `name` and tags it once it is ready to run.
    /// Without `platform`, a multi-platform tag yields the host's variant,
    /// else its Wasm one (reported in [`PullResult::fallback`]).
    pub fn pull(
        &self,
        name: &str,
        platform: Option<&Platform>,
        all_platforms: bool,
        opts: &RegistryOptions,
    ) -> Result<PullResult> {
        let r: Reference = name.parse()?;
        let client = Client::new(&r.registry, &client_options(opts)).map_err(reg)?;
        let popts = PullOptions {
            platform: platform.cloned(),
            all_platforms,
        };
        let lock = self.store.lock()?;
        self.transaction(&lock, || {
            let pulled = client.pull(&self.store, &r, &popts).map_err(reg)?;
            for image in self.images_at(&pulled.target)? {
                self.precompile_pulled(&image).map_err(|e| {
                    Error::Corrupt(format!(
                        "{}: the pulled image cannot be used: {e}",
                        r.familiar()
                    ))
                })?;
            }
            self.store.tag(&lock, &r, &pulled.target)?;
            Ok(PullResult {
                name: r.familiar(),
                digest: pulled.remote_digest,
                manifest_digest: pulled.target.digest().to_string(),
                fallback: pulled.fallback,
            })
        })
    }

    /// Pull's part of getting an image ready to run: a Wasm image's module
    /// compiled into the code cache, so the first run starts warm. The
    /// layers stay packed (`wharf run` unpacks them); a module inside them
    /// is read straight out of them. When that is not plain (links or
    /// whiteouts on the way, a module too big) or what was read does not
    /// compile, the image is unpacked and prepared as build does, which
    /// gives the definitive answer or error.
    fn precompile_pulled(&self, image: &Image) -> Result<()> {
        match image_module(image) {
            None => Ok(()),
            Some(ModuleSource::Layer { digest }) => {
                let path = self.store.blob_path(&digest)?;
                self.wasm_runtime()?.prepare_file(&path, Some(&digest))?;
                Ok(())
            }
            Some(ModuleSource::InRootfs) => {
                let (entrypoint, cmd) = crate::spec::image_command(image, None, &[]);
                // No module named: nothing to compile (run will say so).
                let Some(arg0) = entrypoint.into_iter().chain(cmd).next() else {
                    return Ok(());
                };
                let in_image = if arg0.starts_with('/') {
                    arg0
                } else {
                    let workdir = crate::spec::image_workdir(image);
                    format!("{}/{arg0}", workdir.trim_end_matches('/'))
                };
                let layers: Vec<&Descriptor> = image
                    .manifest
                    .layers()
                    .iter()
                    .filter(|l| media::is_tar_layer(l.media_type().as_ref()))
                    .collect();
                let open = |i: usize| -> std::io::Result<Box<dyn Read>> {
                    let l = layers[i];
                    let path = self
                        .store
                        .blob_path(l.digest().as_ref())
                        .map_err(std::io::Error::other)?;
                    wharf_snapshot::decompress(
                        std::fs::File::open(path)?,
                        wharf_snapshot::Compression::from_media_type(l.media_type().as_ref()),
                    )
                };
                let found =
                    layer_file::find_file(layers.len(), open, &in_image, MAX_MODULE_IN_LAYERS);
                if let Found::File(bytes) = found {
                    // The cache key is the content's digest, as for the
                    // unpacked file `wharf run` will compile.
                    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bytes)));
                    if self.wasm_runtime()?.prepare(&bytes, &digest).is_ok() {
                        return Ok(());
                    }
                }
                self.prepare_and_precompile(image).map(|_| ())
            }
        }
    }

    /// `wharf run` of an image that is not in the store but names a
    /// registry: pulls it first, saying so on stderr, like Docker.
    pub fn pull_for_run(&self, name: &str, platform: Option<&Platform>) -> Result<()> {
        eprintln!("Unable to find image '{name}' locally");
        let pulled = self.pull(name, platform, false, &RegistryOptions::default())?;
        if let Some(p) = &pulled.fallback {
            eprintln!(
                "wharf: {name} has no variant for this host's platform; pulled its {p} variant"
            );
        }
        eprintln!("Pulled {} ({})", pulled.name, pulled.digest);
        Ok(())
    }

    /// `wharf push NAME [DEST]`: pushes the image (manifest or index) and
    /// everything it references; returns the pushed digest.
    pub fn push(&self, name: &str, dest: Option<&str>, opts: &RegistryOptions) -> Result<String> {
        let (r, desc) = self.top_level(name)?;
        let dest: Reference = match dest {
            Some(d) => d.parse()?,
            None => r,
        };
        let client = Client::new(&dest.registry, &client_options(opts)).map_err(reg)?;
        client
            .push(&self.store, &strip_names(desc), &dest)
            .map_err(reg)
    }

    /// `wharf login`: checks the credentials against the registry, then
    /// stores them in Docker's config.json. Returns the registry name.
    pub fn login(
        &self,
        server: &str,
        username: &str,
        password: &str,
        opts: &RegistryOptions,
    ) -> Result<String> {
        let registry = auth::normalize_server(server);
        if username.is_empty() || password.is_empty() {
            return Err(Error::InvalidArgument(
                "login needs a user name (-u) and a password (-p or --password-stdin)".into(),
            ));
        }
        let creds = Credentials {
            username: username.to_string(),
            password: password.to_string(),
        };
        let client = Client::new(
            &registry,
            &Options {
                tls_verify: opts.tls_verify,
                progress: false,
                credentials: Some(creds.clone()),
            },
        )
        .map_err(reg)?;
        client.verify_login().map_err(reg)?;
        auth::store(&registry, &creds).map_err(reg)?;
        Ok(registry)
    }

    /// `wharf logout`: forgets the credentials; false if there were none.
    pub fn logout(&self, server: &str) -> Result<bool> {
        auth::remove(&auth::normalize_server(server)).map_err(reg)
    }

    /// Where login credentials are kept.
    pub fn credentials_path(&self) -> std::path::PathBuf {
        auth::config_path()
    }

    /// `wharf manifest create LIST IMAGE...`: an OCI index of the images'
    /// platform manifests (platforms from their configs), tagged LIST.
    pub fn manifest_create(&self, list: &str, images: &[String]) -> Result<String> {
        let r: Reference = list.parse()?;
        if images.is_empty() {
            return Err(Error::InvalidArgument(
                "manifest create needs at least one image".into(),
            ));
        }
        let lock = self.store.lock()?;
        self.transaction(&lock, || {
            let mut entries: Vec<Value> = Vec::new();
            let mut seen = Vec::new();
            for name in images {
                let (_, top) = self.top_level(name)?;
                for image in self.images_at(&top)? {
                    let d = strip_names(image.manifest_descriptor.clone());
                    let digest = d.digest().to_string();
                    if seen.contains(&digest) {
                        continue;
                    }
                    let platform = match d.platform() {
                        Some(p) => Some(Platform::new(
                            &p.os().to_string(),
                            &p.architecture().to_string(),
                            p.variant().as_deref(),
                        )),
                        None => image.platform(),
                    };
                    let Some(platform) = platform else {
                        return Err(Error::InvalidArgument(format!(
                            "image {name} has no platform in its config (os/architecture); an index entry needs one"
                        )));
                    };
                    let mut p = json!({"os": platform.os, "architecture": platform.architecture});
                    if let Some(v) = &platform.variant {
                        p["variant"] = json!(v);
                    }
                    let mut e = json!({
                        "mediaType": d.media_type().to_string(),
                        "digest": digest,
                        "size": d.size(),
                        "platform": p,
                    });
                    if let Some(ann) = d.annotations() {
                        e["annotations"] = json!(ann);
                    }
                    seen.push(digest);
                    entries.push(e);
                }
            }
            let index = json!({
                "schemaVersion": 2,
                "mediaType": media::OCI_INDEX,
                "manifests": entries,
            });
            let bytes = serde_json::to_vec(&index).expect("serialising JSON");
            let (digest, size) = self.store.put_blob(&bytes)?;
            let desc = Descriptor::new(
                wharf_image::MediaType::ImageIndex,
                size,
                digest
                    .parse::<oci_spec::image::Digest>()
                    .map_err(|e| Error::Corrupt(format!("digest {digest}: {e}")))?,
            );
            self.store.tag(&lock, &r, &desc)?;
            Ok(digest)
        })
    }

    /// `wharf manifest inspect NAME`: the manifest or index NAME points at,
    /// from the store when it is there, else from its registry.
    pub fn manifest_inspect(&self, name: &str, opts: &RegistryOptions) -> Result<Value> {
        let local = match self.top_level(name) {
            Ok((_, desc)) => Some(self.store.read_blob(desc.digest().as_ref())?),
            Err(Error::Image(wharf_image::Error::ImageNotFound(_))) => None,
            Err(e) => return Err(e),
        };
        let bytes = match local {
            Some(b) => b,
            None => {
                let r: Reference = name.parse()?;
                let client = Client::new(&r.registry, &client_options(opts)).map_err(reg)?;
                client.fetch_manifest_bytes(&r).map_err(reg)?.0
            }
        };
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::Corrupt(format!("the manifest of {name} is not valid JSON: {e}")))
    }

    /// `wharf manifest push LIST [DEST]`: the index and all it references.
    pub fn manifest_push(
        &self,
        list: &str,
        dest: Option<&str>,
        opts: &RegistryOptions,
    ) -> Result<String> {
        let (_, desc) = self.top_level(list)?;
        if !media::is_index(desc.media_type().as_ref()) {
            return Err(Error::InvalidArgument(format!(
                "{list} is a single image, not a manifest list; push it with `wharf push`, or make a list with `wharf manifest create`"
            )));
        }
        self.push(list, dest, opts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names() {
        assert!(names_registry("127.0.0.1:5000/x:1"));
        assert!(names_registry("ghcr.io/org/app"));
        assert!(names_registry("localhost/app"));
        assert!(!names_registry("hello:1"));
        assert!(!names_registry("org/app"));
    }
}
