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
//! of them to be compiled ([`wharf_registry::layer_file`]), and compiling
//! starts as soon as the layer holding it has arrived ([`Speculation`]).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use serde_json::{json, Value};
use sha2::Digest as _;
use wharf_image::{media, Descriptor, Image, ImageManifest, Platform, Reference};
use wharf_registry::layer_file::{self, Found};
use wharf_registry::{auth, Client, Credentials, Options, PullObserver, PullOptions};

use crate::executor::wasm::{
    image_module, module_identity, module_path_in_image as module_path, ModuleSource,
};
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
            let speculation = Speculation::start(self);
            let pulled = client
                .pull_observed(&self.store, &r, &popts, &speculation)
                .map_err(reg)
                // Looking for the modules overlaps the compile under way.
                .and_then(|pulled| {
                    let images = self.images_at(&pulled.target)?;
                    let located: Vec<Located> =
                        images.iter().map(|i| self.locate_module(i)).collect();
                    Ok((pulled, images, located))
                });
            let guess = speculation.finish();
            let result = pulled.and_then(|(pulled, images, located)| {
                let used = module_digests(&located);
                for (image, at) in images.iter().zip(located) {
                    self.precompile_pulled(image, at).map_err(|e| {
                        Error::Corrupt(format!(
                            "{}: the pulled image cannot be used: {e}",
                            r.familiar()
                        ))
                    })?;
                }
                self.store.tag(&lock, &r, &pulled.target)?;
                let pulled = PullResult {
                    name: r.familiar(),
                    digest: pulled.remote_digest,
                    manifest_digest: pulled.target.digest().to_string(),
                    fallback: pulled.fallback,
                };
                Ok((pulled, used))
            });
            // What the guess compiled serves nothing when the pull failed or
            // a layer above replaced the module.
            if let Some(guess) = guess {
                let wasted = match &result {
                    Err(_) => true,
                    Ok((_, Some(used))) => !used.contains(&guess.digest),
                    Ok((_, None)) => false,
                };
                if wasted {
                    let _ = std::fs::remove_file(&guess.entry);
                }
            }
            result.map(|(pulled, _)| pulled)
        })
        .inspect(|pulled| {
            let name = pulled.name.clone();
            self.event("image", "pull", &name, [("name", name.clone())]);
        })
    }

    /// Where a pulled image's module is. The layers stay packed (`wharf
    /// run` unpacks them): a module inside them is read straight out of
    /// them, unless that is not plain (links or whiteouts on the way, a
    /// module too big).
    fn locate_module(&self, image: &Image) -> Located {
        match image_module(image) {
            None => Located::Nothing,
            Some(ModuleSource::Layer { digest }) => Located::Blob(digest),
            Some(ModuleSource::InRootfs) => {
                // No module named: nothing to compile (run will say so).
                let Some(in_image) = module_path(image) else {
                    return Located::Nothing;
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
                match layer_file::find_file(layers.len(), open, &in_image, MAX_MODULE_IN_LAYERS) {
                    Found::File(bytes) => Located::Bytes(bytes),
                    Found::Absent | Found::Unknown => Located::Unpack,
                }
            }
        }
    }

    /// Pull's part of getting an image ready to run: a Wasm image's module
    /// compiled into the code cache, so the first run starts warm. When the
    /// module could not be read out of the layers or what was read does not
    /// compile, the image is unpacked and prepared as build does, which
    /// gives the definitive answer or error.
    fn precompile_pulled(&self, image: &Image, at: Located) -> Result<()> {
        match at {
            Located::Nothing => Ok(()),
            Located::Blob(digest) => {
                let path = self.store.blob_path(&digest)?;
                self.wasm_runtime()?.prepare_file(&path, Some(&digest))?;
                Ok(())
            }
            Located::Bytes(bytes) => {
                // The cache key is the content's digest, as for the unpacked
                // file `wharf run` will compile (and a hit when the
                // speculation compiled this module).
                let rt = self.wasm_runtime()?;
                let digest = sha256(&bytes);
                if rt.prepare(&bytes, &digest).is_ok() {
                    // `wharf run` finds a module in a snapshot by the
                    // snapshot and path, without hashing it: the same entry.
                    if let Some(identity) = self.snapshot_identity(image) {
                        rt.alias(&digest, &identity);
                    }
                    return Ok(());
                }
                self.ready_image(image).map(|_| ())
            }
            Located::Unpack => self.ready_image(image).map(|_| ()),
        }
    }

    /// What `wharf run` will call the image's module in the code cache once
    /// its layers are unpacked ([`crate::prepare`]).
    fn snapshot_identity(&self, image: &Image) -> Option<String> {
        let diff_ids = image.config.as_ref()?.rootfs().diff_ids().clone();
        let chain = wharf_snapshot::Snapshots::chain_ids(&diff_ids).pop()?;
        let snapshot = self.snapshots.path(&chain);
        module_identity(snapshot.file_name()?.to_str()?, &module_path(image)?)
    }

    /// `wharf run` of an image that is not in the store but names a
    /// registry: pulls it first, saying so on stderr, like Docker.
    /// `run --pull always`: the image is pulled (a newer one replaces the
    /// tag) before the container is made, whether or not the store has it.
    pub fn pull_always(&self, name: &str, platform: Option<&Platform>) -> Result<()> {
        let pulled = self.pull(name, platform, false, &RegistryOptions::default())?;
        eprintln!("Pulled {} ({})", pulled.name, pulled.digest);
        Ok(())
    }

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
        let digest = client
            .push(&self.store, &strip_names(desc), &dest)
            .map_err(reg)?;
        let name = dest.familiar();
        self.event("image", "push", &name, [("name", name.clone())]);
        Ok(digest)
    }

    /// `wharf login`: checks the credentials against the registry, then
    /// stores them in Docker's config.json. Returns the registry name.
    /// Needs no store, so no `self`.
    pub fn login(
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
    pub fn logout(server: &str) -> Result<bool> {
        auth::remove(&auth::normalize_server(server)).map_err(reg)
    }

    /// Where login credentials are kept.
    pub fn credentials_path() -> std::path::PathBuf {
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

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// Where pull found a pulled image's module ([`Engine::locate_module`]).
enum Located {
    /// Not Wasm, or names no module: nothing to compile.
    Nothing,
    /// A layer that is the module (its digest).
    Blob(String),
    /// Read out of the tar layers.
    Bytes(Vec<u8>),
    /// Not plain: unpack to know.
    Unpack,
}

/// The digests of the modules found; `None` when one is not known yet (it
/// will be read from the unpacked image).
fn module_digests(located: &[Located]) -> Option<Vec<String>> {
    let mut digests = Vec::new();
    for at in located {
        match at {
            Located::Nothing => {}
            Located::Blob(digest) => digests.push(digest.clone()),
            Located::Bytes(bytes) => digests.push(sha256(bytes)),
            Located::Unpack => return None,
        }
    }
    Some(digests)
}

/// A cache entry the speculation created: where, and for which module.
struct Guess {
    entry: PathBuf,
    digest: String,
}

/// A blob that arrived during a pull, passed to the speculation thread.
enum Arrived {
    Config {
        manifest: Box<ImageManifest>,
        bytes: Vec<u8>,
    },
    Layer {
        /// The config digest of the manifest it belongs to.
        config: String,
        layer: Box<Descriptor>,
        file: File,
    },
}

/// Where an image's module is, as its config tells.
enum ModuleAt {
    /// A layer that is the module itself (its digest).
    Layer(String),
    /// A file in the tar layers (its absolute path in the image).
    File(String),
}

impl ModuleAt {
    /// The module's bytes when `layer` holds it.
    fn read(&self, layer: &Descriptor, mut file: File) -> Option<Vec<u8>> {
        match self {
            ModuleAt::Layer(digest) => {
                if layer.digest().as_ref() != digest.as_str() || layer.size() > MAX_MODULE_IN_LAYERS
                {
                    return None;
                }
                let mut bytes = Vec::new();
                file.read_to_end(&mut bytes).ok()?;
                Some(bytes)
            }
            ModuleAt::File(path) => {
                let mt = layer.media_type().to_string();
                if !media::is_tar_layer(&mt) {
                    return None;
                }
                let compression = wharf_snapshot::Compression::from_media_type(&mt);
                let tar = wharf_snapshot::decompress(file, compression).ok()?;
                layer_file::find_in_layer(tar, path, MAX_MODULE_IN_LAYERS)
                    .ok()
                    .flatten()
            }
        }
    }
}

/// Where the module of the image with this manifest and config is; `None`
/// for Linux images and Wasm images that name no module.
fn module_at(manifest: ImageManifest, config_bytes: Vec<u8>) -> Option<ModuleAt> {
    let config_media_type = manifest.config().media_type().to_string();
    let config = if config_media_type == media::WASM_CONFIG {
        None
    } else {
        serde_json::from_slice(&config_bytes).ok()
    };
    let image = Image {
        names: Vec::new(),
        manifest_descriptor: manifest.config().clone(),
        manifest,
        config_media_type,
        config_bytes,
        config,
        platform_fallback: false,
    };
    match image_module(&image)? {
        ModuleSource::Layer { digest } => Some(ModuleAt::Layer(digest)),
        ModuleSource::InRootfs => module_path(&image).map(ModuleAt::File),
    }
}

/// A head start on compiling a Wasm image's module while the rest of the
/// image is still arriving: the first config to arrive says where the
/// module is, and the first layer holding it is compiled at once, on a
/// thread of its own, into the code cache. Only a guess (a layer above may
/// replace the file): [`Engine::locate_module`] still works the module out
/// from the whole image, and [`Engine::precompile_pulled`] finds it
/// compiled when the guess was right. The cache is keyed by content, so a
/// wrong guess only costs time (and its entry is removed).
struct Speculation {
    tx: mpsc::Sender<Arrived>,
    thread: Option<std::thread::JoinHandle<Option<Guess>>>,
}

impl Speculation {
    fn start(engine: &Engine) -> Speculation {
        let (tx, rx) = mpsc::channel();
        let cache = engine.wasm_cache_dir();
        let thread = std::thread::Builder::new()
            .name("wharf-precompile".into())
            .spawn(move || speculate(wharf_wasm::Runtime::new(cache).ok()?, rx))
            .ok();
        Speculation { tx, thread }
    }

    /// Waits for the compile under way; returns the cache entry it created.
    fn finish(self) -> Option<Guess> {
        drop(self.tx);
        self.thread?.join().ok().flatten()
    }
}

impl PullObserver for Speculation {
    fn blob_arrived(&self, manifest: &ImageManifest, blob: &Descriptor, path: &Path) {
        let arrived = if blob.digest() == manifest.config().digest() {
            match std::fs::read(path) {
                Ok(bytes) => Arrived::Config {
                    manifest: Box::new(manifest.clone()),
                    bytes,
                },
                Err(_) => return,
            }
        } else {
            match File::open(path) {
                Ok(file) => Arrived::Layer {
                    config: manifest.config().digest().to_string(),
                    layer: Box::new(blob.clone()),
                    file,
                },
                Err(_) => return,
            }
        };
        // Fails once the thread is done: nothing more to do then.
        let _ = self.tx.send(arrived);
    }
}

/// The speculation thread: follows the first image whose config arrives.
fn speculate(rt: wharf_wasm::Runtime, rx: mpsc::Receiver<Arrived>) -> Option<Guess> {
    let mut chosen: Option<(String, ModuleAt)> = None;
    // Layers that arrived before their config.
    let mut early: Vec<(String, Descriptor, File)> = Vec::new();
    for arrived in rx {
        let ready: Vec<(Descriptor, File)> = match arrived {
            Arrived::Config { manifest, bytes } => {
                if chosen.is_some() {
                    continue;
                }
                let config = manifest.config().digest().to_string();
                chosen = Some((config.clone(), module_at(*manifest, bytes)?));
                early
                    .drain(..)
                    .filter(|(c, _, _)| *c == config)
                    .map(|(_, l, f)| (l, f))
                    .collect()
            }
            Arrived::Layer {
                config,
                layer,
                file,
            } => match &chosen {
                None => {
                    early.push((config, *layer, file));
                    continue;
                }
                Some((c, _)) if *c == config => vec![(*layer, file)],
                Some(_) => continue,
            },
        };
        let (_, at) = chosen.as_ref()?;
        for (layer, file) in ready {
            if let Some(bytes) = at.read(&layer, file) {
                let digest = sha256(&bytes);
                let entry = rt.cache_dir().join(rt.cache_key(&digest));
                let existed = entry.exists();
                let compiled = rt.prepare(&bytes, &digest).is_ok();
                return (compiled && !existed).then_some(Guess { entry, digest });
            }
        }
    }
    None
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
