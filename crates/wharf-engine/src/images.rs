//! Image operations that need more than the content store: an image becomes
//! visible (tagged) only after its layers unpacked cleanly and, for Wasm, its
//! module compiled into the code cache. On failure the store is left as it
//! was: the blobs written so far are unreachable and collected at once.

use std::collections::HashSet;
use std::io::{Read, Write};

use serde_json::{json, Value};
use wharf_image::{media, Descriptor, Image, ImageIndex, ImageManifest, Reference, StoreLock};

use crate::executor::image_kind;
use crate::{Engine, Error, Result};

pub use wharf_build::BuildOptions;
pub use wharf_image::ImageSummary;

/// What `rmi` removed, as Docker reports it: the names it took off, and
/// the image id when no name or entry for that image is left.
pub struct RemovedImage {
    pub untagged: Vec<String>,
    pub deleted: Option<String>,
}

/// What `wharf build` made.
pub struct BuiltImage {
    pub id: String,
    pub manifest_digest: String,
    pub tags: Vec<String>,
}

const REF_NAME: &str = "org.opencontainers.image.ref.name";

impl Engine {
    pub fn build(
        &self,
        opts: &BuildOptions,
        tags: &[String],
        out: &mut dyn Write,
    ) -> Result<BuiltImage> {
        self.build_on(opts, tags, None, out)
    }

    /// [`build`](Self::build) with RUN steps on `network` (`build
    /// --network`: default/bridge, host or none; None is the default).
    pub fn build_on(
        &self,
        opts: &BuildOptions,
        tags: &[String],
        network: Option<&str>,
        out: &mut dyn Write,
    ) -> Result<BuiltImage> {
        let network = crate::build_run::StepNetwork::parse(network)?;
        let refs = parse_refs(tags)?;
        let lock = self.store.lock()?;
        let built = self.transaction(&lock, || {
            let mut runner = crate::build_run::LinuxRunStep {
                engine: self,
                network,
            };
            let built = wharf_build::build(&self.store, &lock, opts, Some(&mut runner), out)?;
            for image in self.images_at(&built.manifest)? {
                let rootfs = self.ready_image(&image)?;
                if opts.platform.is_none() {
                    crate::executor::for_image(&image).check_runs_here(&image, &rootfs)?;
                }
            }
            if refs.is_empty() {
                self.add_untagged(&lock, &built.manifest)?;
            }
            for r in &refs {
                self.store.tag(&lock, r, &built.manifest)?;
            }
            Ok(BuiltImage {
                id: built.config_digest.clone(),
                manifest_digest: built.manifest.digest().to_string(),
                tags: refs.iter().map(|r| r.familiar()).collect(),
            })
        })?;
        // Docker's builds report their tags as image events.
        for tag in &built.tags {
            self.event("image", "tag", &built.id, [("name", tag.clone())]);
        }
        Ok(built)
    }

    /// `builder prune`: drops the build cache and the layers only it kept;
    /// returns the number of entries and the bytes freed.
    pub fn prune_build_cache(&self) -> Result<(usize, u64)> {
        let lock = self.store.lock()?;
        let entries = self.store.prune_build_cache(&lock)?;
        let freed = self.collect_garbage(&lock)?;
        Ok((entries, freed))
    }

    /// Loads an OCI archive or docker-archive; returns what to tell the user
    /// per image ("name:tag", or the digest of an unnamed one).
    pub fn load(&self, input: impl Read) -> Result<Vec<String>> {
        let lock = self.store.lock()?;
        let loaded = self.transaction(&lock, || {
            let staged = wharf_image::archive::load(&self.store, &lock, input)?;
            if staged.is_empty() {
                return Err(Error::InvalidArgument("the archive holds no images".into()));
            }
            let mut readied = std::collections::HashSet::new();
            for s in staged
                .iter()
                .filter(|s| readied.insert(s.target.digest().clone()))
            {
                for image in self.images_at(&s.target)? {
                    self.ready_image(&image)?;
                }
            }
            // Every name in one write of index.json: all of them, or none.
            let names: Vec<_> = staged
                .iter()
                .map(|s| (s.reference.clone(), s.target.clone()))
                .collect();
            self.store.tag_all(&lock, &names)?;
            // Archive members no image references were ingested with the
            // rest (a blob is kept only once its digest checks); they go now.
            self.collect_garbage(&lock)?;
            Ok(staged
                .iter()
                .map(|s| match &s.reference {
                    Some(r) => r.familiar(),
                    None => s.target.digest().to_string(),
                })
                .collect::<Vec<String>>())
        })?;
        for name in &loaded {
            self.event("image", "load", name, [("name", name.clone())]);
        }
        Ok(loaded)
    }

    /// Runs `f` holding the lock, after collecting what killed writers left;
    /// if it fails, whatever it wrote is collected too.
    pub(crate) fn transaction<T>(
        &self,
        lock: &StoreLock,
        f: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        // What a killed writer left (temp files, unreferenced blobs and
        // snapshot temp dirs) goes before this one writes: every command
        // that takes the lock cleans up, not only a later failure.
        let _ = self.collect_garbage(lock);
        let result = f();
        if result.is_err() {
            let _ = self.collect_garbage(lock);
        }
        result
    }

    pub(crate) fn add_untagged(&self, lock: &StoreLock, target: &Descriptor) -> Result<()> {
        self.store.update_index(lock, |index: &mut ImageIndex| {
            let mut manifests = index.manifests().clone();
            if !manifests.iter().any(|d| d.digest() == target.digest()) {
                manifests.push(target.clone());
                index.set_manifests(manifests);
            }
            Ok(())
        })?;
        Ok(())
    }

    /// The runnable images a descriptor stands for: itself, or the platform
    /// manifests of an index (attestation entries skipped), one per
    /// distinct manifest.
    pub(crate) fn images_at(&self, desc: &Descriptor) -> Result<Vec<Image>> {
        let mut out = Vec::new();
        self.collect_images(desc, &mut std::collections::HashSet::new(), &mut out)?;
        Ok(out)
    }

    /// Walks the graph once per node: an index that lists its children over
    /// and over yields each image once.
    fn collect_images(
        &self,
        desc: &Descriptor,
        seen: &mut std::collections::HashSet<String>,
        out: &mut Vec<Image>,
    ) -> Result<()> {
        if !seen.insert(desc.digest().to_string()) {
            return Ok(());
        }
        let mt = desc.media_type().to_string();
        let bytes = self.store.read_blob(desc.digest().as_ref())?;
        if media::is_index(&mt) {
            let index: ImageIndex = serde_json::from_slice(&bytes).map_err(|e| {
                Error::Corrupt(format!(
                    "image index {} is not valid JSON: {e}",
                    desc.digest()
                ))
            })?;
            for m in index.manifests() {
                let unknown = m
                    .platform()
                    .as_ref()
                    .is_some_and(|p| p.os().to_string() == "unknown");
                if !unknown {
                    self.collect_images(m, seen, out)?;
                }
            }
            return Ok(());
        }
        let manifest: ImageManifest = serde_json::from_slice(&bytes).map_err(|e| {
            Error::Corrupt(format!("manifest {} is not valid JSON: {e}", desc.digest()))
        })?;
        let config_desc = manifest.config();
        let config_media_type = config_desc.media_type().to_string();
        let config_bytes = self.store.read_blob(config_desc.digest().as_ref())?;
        let config = if config_media_type == media::WASM_CONFIG {
            None
        } else {
            Some(serde_json::from_slice(&config_bytes).map_err(|e| {
                Error::Corrupt(format!(
                    "image config {} is not a valid image configuration: {e}",
                    config_desc.digest()
                ))
            })?)
        };
        out.push(Image {
            names: Vec::new(),
            manifest_descriptor: desc.clone(),
            manifest,
            config_media_type,
            config_bytes,
            config,
            platform_fallback: false,
        });
        Ok(())
    }

    /// The entry a name points at in index.json (an index for a
    /// multi-platform tag), with the name to record it under.
    pub(crate) fn top_level(&self, name: &str) -> Result<(Reference, Descriptor)> {
        if let Ok(r) = name.parse::<Reference>() {
            let familiar = r.familiar();
            if let Some(d) =
                self.store.index()?.manifests().iter().find(|d| {
                    d.annotations().as_ref().and_then(|a| a.get(REF_NAME)) == Some(&familiar)
                })
            {
                return Ok((r, d.clone()));
            }
        }
        let image = self.store.resolve(name, None)?;
        let reference = image
            .names
            .first()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "image {name} has no name to save it under; tag it first (wharf tag)"
                ))
            })?;
        Ok((reference, image.manifest_descriptor))
    }

    pub fn save(&self, names: &[String], out: impl Write) -> Result<()> {
        let images = names
            .iter()
            .map(|n| self.top_level(n))
            .collect::<Result<Vec<_>>>()?;
        wharf_image::archive::save(&self.store, &images, out)?;
        for name in names {
            self.event("image", "save", name, [("name", name.clone())]);
        }
        Ok(())
    }

    pub fn tag(&self, source: &str, target: &str) -> Result<()> {
        let (_, desc) = self.top_level(source)?;
        let target: Reference = target.parse()?;
        let lock = self.store.lock()?;
        self.store.tag(&lock, &target, &desc)?;
        let id = self
            .store
            .resolve(source, None)
            .map(|image| image.id())
            .unwrap_or_else(|_| desc.digest().to_string());
        self.event("image", "tag", &id, [("name", target.familiar())]);
        Ok(())
    }

    pub fn images(&self) -> Result<Vec<ImageSummary>> {
        Ok(self.store.list()?)
    }

    /// What the image (its variant for this host) takes unpacked: the bytes
    /// of its snapshot's files (hard-linked ones once), or, for an image
    /// without tar layers (a Wasm module stored as it is), its layers.
    /// None when its snapshot is not made yet (a pulled image before its
    /// first run) or the image is gone.
    pub fn unpacked_size(&self, manifest_digest: &str) -> Option<u64> {
        let image = self.store.resolve(manifest_digest, None).ok()?;
        let tar_layers = image
            .manifest
            .layers()
            .iter()
            .filter(|l| media::is_tar_layer(l.media_type().as_ref()))
            .count();
        if tar_layers == 0 {
            return Some(image.manifest.layers().iter().map(|l| l.size()).sum());
        }
        let diff_ids = image.config.as_ref()?.rootfs().diff_ids().clone();
        let top = wharf_snapshot::Snapshots::chain_ids(&diff_ids).pop()?;
        let dir = self.snapshots.path(&top);
        dir.is_dir().then(|| crate::volumes::tree_size(&dir))
    }

    /// `wharf rmi`: refuses images that containers use unless `force`, then
    /// frees the blobs and snapshots no image or container needs.
    /// `rmi NAME|ID`: removes the index entries `name` stands for.
    pub fn remove_image(&self, name: &str, force: bool) -> Result<RemovedImage> {
        let image = self.store.resolve(name, None)?;
        let users: Vec<String> = self
            .containers
            .list()?
            .into_iter()
            .filter(|c| c.state.image_id == image.id())
            .map(|c| c.state.name)
            .collect();
        if !users.is_empty() && !force {
            return Err(Error::Conflict(format!(
                "cannot remove image {name}: it is used by container(s) {}; remove them first or use rmi -f",
                users.join(", ")
            )));
        }
        let lock = self.store.lock()?;
        let removed = self.store.remove(&lock, name)?;
        self.collect_garbage(&lock)?;
        // Entries without a name are listed by their digest: not a name
        // that was untagged, so not reported as one.
        let untagged = removed
            .into_iter()
            .filter(|r| !(r.len() == 71 && r.starts_with("sha256:")))
            .collect();
        let id = image.id();
        let deleted = self.store.resolve(&id, None).is_err().then_some(id);
        let removed = RemovedImage { untagged, deleted };
        for name in &removed.untagged {
            self.event("image", "untag", &image.id(), [("name", name.clone())]);
        }
        if let Some(id) = &removed.deleted {
            self.event("image", "delete", id, [("name", name.to_string())]);
        }
        Ok(removed)
    }

    /// Deletes blobs unreachable from index.json and snapshots that neither
    /// a remaining image nor an existing container uses, after what killed
    /// builds left (their RUN steps).
    pub(crate) fn collect_garbage(&self, lock: &StoreLock) -> Result<u64> {
        // A killed build's RUN step first: it may hold a snapshot's files.
        self.reap_dead_build_steps();
        let mut freed = self.store.gc(lock)?;
        let mut keep: HashSet<String> = HashSet::new();
        for entry in self.store.index()?.manifests() {
            for image in self.images_at(entry).unwrap_or_default() {
                if let Some(config) = &image.config {
                    keep.extend(wharf_snapshot::Snapshots::chain_ids(
                        config.rootfs().diff_ids(),
                    ));
                }
            }
        }
        for c in self.containers.list()? {
            if let Some(name) = c.state.rootfs.file_name() {
                keep.insert(format!("sha256:{}", name.to_string_lossy()));
            }
        }
        freed += self.snapshots.remove_except(&keep)?;
        Ok(freed)
    }

    pub fn inspect_image(&self, name: &str) -> Result<Value> {
        let image = self.store.resolve(name, None)?;
        let platform = image.platform();
        let config: Value = serde_json::from_slice(&image.config_bytes).unwrap_or(Value::Null);
        let size: u64 = image
            .manifest
            .layers()
            .iter()
            .map(|l| l.size())
            .sum::<u64>()
            + image.manifest.config().size();
        Ok(json!({
            "Id": image.id(),
            "RepoTags": image.names,
            "Digest": image.manifest_descriptor.digest().to_string(),
            "MediaType": image.manifest_descriptor.media_type().to_string(),
            "Created": config.get("created"),
            "Architecture": platform.as_ref().map(|p| p.architecture.clone()),
            "Os": platform.as_ref().map(|p| p.os.clone()),
            "Kind": image_kind(&image),
            "Config": config.get("config"),
            "RootFS": config.get("rootfs"),
            "Layers": image.manifest.layers().iter().map(|l| json!({
                "Digest": l.digest().to_string(), "MediaType": l.media_type().to_string(), "Size": l.size()
            })).collect::<Vec<_>>(),
            "Size": size,
        }))
    }
}

fn parse_refs(tags: &[String]) -> Result<Vec<Reference>> {
    tags.iter()
        .map(|t| t.parse::<Reference>().map_err(Error::from))
        .collect()
}

/// One `images --filter`: `dangling=true|false` (images without a name), or
/// `reference=PATTERN` (a name, `repo:tag` or just `repo`, matching the
/// glob, `*` not crossing a `/`, as Docker's path.Match).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageFilter {
    Dangling(bool),
    Reference(String),
}

impl std::str::FromStr for ImageFilter {
    type Err = Error;

    fn from_str(s: &str) -> Result<ImageFilter> {
        let bad = |why: &str| {
            Error::InvalidArgument(format!(
                "invalid filter \"{s}\": {why}; use dangling=true, dangling=false or reference=PATTERN"
            ))
        };
        let Some((key, value)) = s.split_once('=') else {
            return Err(bad("expected KEY=VALUE"));
        };
        match key {
            "dangling" => match value.to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(ImageFilter::Dangling(true)),
                "false" | "0" => Ok(ImageFilter::Dangling(false)),
                _ => Err(bad("dangling is true or false")),
            },
            "reference" => {
                glob::Pattern::new(value).map_err(|e| bad(&format!("bad pattern: {e}")))?;
                Ok(ImageFilter::Reference(value.to_string()))
            }
            _ => Err(bad(&format!("Wharf does not filter images on \"{key}\""))),
        }
    }
}

impl ImageFilter {
    /// Whether a listing row passes `filters`: `name` is its `repo:tag`,
    /// None for an image without names. Filters of different keys must all
    /// match; several `reference` patterns need only one to (Docker's rule).
    pub fn all_match(filters: &[ImageFilter], name: Option<&str>) -> bool {
        let dangling = filters.iter().all(|f| match f {
            ImageFilter::Dangling(d) => *d == name.is_none(),
            ImageFilter::Reference(_) => true,
        });
        let mut patterns = filters.iter().filter_map(|f| match f {
            ImageFilter::Reference(p) => Some(p),
            ImageFilter::Dangling(_) => None,
        });
        let reference = patterns.clone().next().is_none()
            || name.is_some_and(|n| patterns.any(|p| reference_matches(p, n)));
        dangling && reference
    }
}

fn reference_matches(pattern: &str, name: &str) -> bool {
    let Ok(p) = glob::Pattern::new(pattern) else {
        return false;
    };
    let opts = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    let base = name.split('@').next().unwrap_or(name);
    let repo = match base.rfind(':') {
        Some(i) if !base[i..].contains('/') => &base[..i],
        _ => base,
    };
    p.matches_with(base, opts) || p.matches_with(repo, opts)
}

/// One line of `wharf history`: a step of the image's config `history`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The image's id on the newest step; None (Docker's `<missing>`) below.
    pub id: Option<String>,
    /// RFC 3339, when recorded.
    pub created: Option<String>,
    pub created_by: String,
    /// The bytes of the layer the step made (as stored, compressed or not);
    /// 0 for steps that made none (ENV, CMD...).
    pub size: u64,
    pub comment: String,
}

impl Engine {
    /// `wharf history`: the image's steps, newest first. An image whose
    /// config records no history gets one line per layer, as in Docker.
    pub fn image_history(&self, name: &str) -> Result<Vec<HistoryEntry>> {
        let image = self.store.resolve(name, None)?;
        let config: Value = serde_json::from_slice(&image.config_bytes).unwrap_or(Value::Null);
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let mut layers = image.manifest.layers().iter().map(|l| l.size());
        let mut out: Vec<HistoryEntry> = match config.get("history").and_then(Value::as_array) {
            Some(steps) if !steps.is_empty() => steps
                .iter()
                .map(|h| {
                    let empty = h.get("empty_layer").and_then(Value::as_bool) == Some(true);
                    HistoryEntry {
                        id: None,
                        created: text(h, "created"),
                        created_by: text(h, "created_by").unwrap_or_default(),
                        size: if empty { 0 } else { layers.next().unwrap_or(0) },
                        comment: text(h, "comment").unwrap_or_default(),
                    }
                })
                .collect(),
            _ => layers
                .map(|size| HistoryEntry {
                    id: None,
                    created: text(&config, "created"),
                    created_by: String::new(),
                    size,
                    comment: String::new(),
                })
                .collect(),
        };
        out.reverse();
        if let Some(top) = out.first_mut() {
            top.id = Some(image.id().to_string());
        }
        Ok(out)
    }
}
