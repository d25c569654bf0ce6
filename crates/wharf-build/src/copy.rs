//! COPY and ADD: parses their flags, works out the destination, and plans
//! one new layer from the resolved context sources (ADD also unpacks local
//! tarballs).

use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use tempfile::TempDir;
use wharf_snapshot::{Scratch, Snapshots};

use crate::dockerfile::{CopyFlags, Instruction};
use crate::driver::Builder;
use crate::error::{io_err, step_err, Result};
use crate::layer::{LayerPlan, Node};
use crate::paths::child_path;
use crate::RunStep;

/// Whether ADD unpacks `name` instead of copying it.
fn is_tarball(name: &str) -> bool {
    let l = name.to_ascii_lowercase();
    [".tar", ".tar.gz", ".tgz", ".tar.zst", ".tar.zstd", ".tzst"]
        .iter()
        .any(|s| l.ends_with(s))
}

/// A `COPY --from` source before it is unpacked.
pub(crate) struct SourceLayers {
    name: String,
    layers: Vec<crate::Descriptor>,
    diff_ids: Vec<String>,
    /// What the source is, for the cache key: the stage's cache key or the
    /// image's manifest digest.
    identity: String,
}

/// Where `COPY --from` reads: the root filesystem of an earlier stage or
/// an image.
pub(crate) struct CopySource {
    pub(crate) root: PathBuf,
    /// Without an engine, the layers are unpacked here.
    _unpacked: Option<TempDir>,
}

/// An `ADD` source that is downloaded.
fn is_http_url(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    l.starts_with("http://") || l.starts_with("https://")
}

/// The file name a URL's path ends in (no query or fragment), as Docker
/// names a download added into a directory.
fn url_file_name(url: &str) -> Option<String> {
    let after_scheme = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let path = after_scheme
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .split_once('/')
        .map(|(_, p)| p)?;
    let name = path.rsplit('/').next()?;
    (!name.is_empty() && name != "." && name != "..").then(|| name.to_string())
}

impl Builder<'_> {
    /// What `COPY --from=NAME` reads: the last earlier stage of that name
    /// or index, else an image in the store.
    fn copy_source(&mut self, ins: &Instruction, raw: &str) -> Result<SourceLayers> {
        let name = self.subst(ins, raw)?;
        let lower = name.to_ascii_lowercase();
        let earlier = &self.built[..self.stage_index];
        let by_alias = earlier.iter().rposition(|s| {
            s.as_ref()
                .is_some_and(|s| s.alias.as_deref() == Some(lower.as_str()))
        });
        let index = match (by_alias, lower.parse::<usize>()) {
            (Some(k), _) => Some(k),
            (None, Ok(k)) if k < self.stage_index => Some(k),
            (None, Ok(k)) => {
                return Err(step_err(
                    ins,
                    format!("--from={k}: there is no earlier stage {k}; stages count from 0 and only earlier ones can be copied from"),
                ))
            }
            (None, Err(_)) => None,
        };
        let (layers, diff_ids, identity) = match index {
            Some(k) => {
                let s = self.built[k]
                    .as_ref()
                    .expect("the stages the target needs are built");
                (
                    s.layers.clone(),
                    s.diff_ids.clone(),
                    format!("stage:{}", s.cache_key),
                )
            }
            None => {
                let platform = self.stage_mut(ins)?.platform.clone();
                let img = self.resolve_base(ins, &name, Some(&platform), false)?;
                let Some(config) = &img.config else {
                    return Err(step_err(
                        ins,
                        format!("--from={name}: the image has a {} config, not a filesystem to copy from", img.config_media_type),
                    ));
                };
                (
                    img.manifest.layers().clone(),
                    config.rootfs().diff_ids().clone(),
                    format!("image:{}", img.manifest_descriptor.digest()),
                )
            }
        };
        Ok(SourceLayers {
            name,
            layers,
            diff_ids,
            identity,
        })
    }

    /// Unpacks a `COPY --from` source (through the engine's snapshots when
    /// there is one).
    fn unpack_source(
        &mut self,
        ins: &Instruction,
        src: SourceLayers,
        runner: Option<&mut (dyn RunStep + '_)>,
    ) -> Result<CopySource> {
        let SourceLayers {
            name,
            layers,
            diff_ids,
            ..
        } = src;
        let (root, unpacked) = match runner {
            Some(r) => (
                r.rootfs(&layers, &diff_ids)
                    .map_err(|e| step_err(ins, format!("unpacking --from={name}: {e:#}")))?,
                None,
            ),
            None => {
                let tmp = tempfile::tempdir()
                    .map_err(|e| io_err("creating a temporary directory for COPY --from", e))?;
                for l in &layers {
                    let path = self.store.blob_path(l.digest().as_ref())?;
                    let f = File::open(&path)
                        .map_err(|e| io_err(format!("reading layer {}", path.display()), e))?;
                    let r = wharf_snapshot::decompress(f, None)
                        .map_err(|e| io_err(format!("reading layer {}", l.digest()), e))?;
                    wharf_snapshot::extract_layer(r, tmp.path())
                        .map_err(|e| step_err(ins, format!("unpacking --from={name}: {e}")))?;
                }
                (tmp.path().to_path_buf(), Some(tmp))
            }
        };
        Ok(CopySource {
            root,
            _unpacked: unpacked,
        })
    }

    /// COPY and ADD (`add`: also extracts local tarballs) of context
    /// sources into one new layer.
    pub(crate) fn copy(
        &mut self,
        ins: &Instruction,
        flags: &CopyFlags,
        sources: &[String],
        dest: &str,
        add: bool,
        mut runner: Option<&mut (dyn RunStep + '_)>,
    ) -> Result<()> {
        let kw = ins.keyword();
        if add && flags.from.is_some() {
            return Err(step_err(
                ins,
                "ADD has no --from; use COPY --from=STAGE to copy from another stage or image",
            ));
        }
        // A --from source is known by its identity, so a hit needs no
        // unpacking; context sources are known by their content, below.
        let from = match &flags.from {
            Some(f) => {
                let src = self.copy_source(ins, f)?;
                if self.cached_layer_step(ins, &format!("from {}", src.identity))? {
                    return Ok(());
                }
                Some(self.unpack_source(ins, src, runner.as_deref_mut())?)
            }
            None => None,
        };
        let chmod = match &flags.chmod {
            Some(m) => Some(
                u32::from_str_radix(m, 8)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .ok_or_else(|| {
                        step_err(
                            ins,
                            format!("--chmod={m} is not an octal mode; write e.g. --chmod=0755"),
                        )
                    })?,
            ),
            None => None,
        };
        let (uid, gid) = match &flags.chown {
            None => (0, 0),
            Some(c) => {
                let c = self.subst(ins, c)?;
                let (u, g) = match c.split_once(':') {
                    Some((u, g)) => (u.to_string(), Some(g.to_string())),
                    None => (c.clone(), None),
                };
                match (u.parse::<u64>(), g.as_deref().map(str::parse::<u64>)) {
                    (Ok(u), None) => (u, u),
                    (Ok(u), Some(Ok(g))) => (u, g),
                    _ => {
                        self.say(format!(
                            "note: {kw} --chown={c} ignored: user and group names cannot be resolved without the image's /etc/passwd; files are owned by 0:0 (use numeric ids, e.g. --chown=1000:1000)"
                        ));
                        (0, 0)
                    }
                }
            }
        };
        let mut srcs = Vec::new();
        for raw in sources {
            srcs.extend(self.subst_words(ins, raw)?);
        }
        let dest_raw = self.subst(ins, dest)?;
        let dest_norm = self.stage_mut(ins)?.image_path(&dest_raw);
        let known = self.known_dirs(ins)?.clone();

        let (urls, srcs): (Vec<String>, Vec<String>) =
            srcs.into_iter().partition(|s| is_http_url(s));
        if !add {
            if let Some(u) = urls.first() {
                return Err(step_err(
                    ins,
                    format!("COPY cannot download {u}; use ADD for a URL"),
                ));
            }
        }
        let from_root = from.as_ref().map(|f| f.root.as_path());
        let (resolved, from_glob) = self.resolve_sources(ins, &srcs, from_root)?;
        let count = resolved.len() + urls.len();
        let dest_is_dir = dest_raw.ends_with('/')
            || dest_norm.is_empty()
            || known.contains_key(&dest_norm)
            || count > 1
            || from_glob;
        if count > 1
            && !dest_raw.ends_with('/')
            && !known.contains_key(&dest_norm)
            && !dest_norm.is_empty()
        {
            return Err(step_err(
                ins,
                format!(
                    "with more than one source the destination must be a directory ending in '/', e.g. {kw} a b {dest_raw}/"
                ),
            ));
        }

        let mut plan = LayerPlan::new(uid, gid, chmod);
        let mut extracted: Vec<Scratch> = Vec::new();
        if dest_is_dir && !dest_norm.is_empty() {
            let mode = known.get(&dest_norm).copied().unwrap_or(0o755);
            plan.add(dest_norm.clone(), Node::Dir { mode }, &known);
        }
        if !urls.is_empty() {
            // Downloads go in the store too, like unpacked archives.
            let tmp = Snapshots::new(self.store.root().join("snapshots"))
                .scratch()
                .map_err(|e| step_err(ins, format!("cannot make room for downloads: {e}")))?;
            for (i, url) in urls.iter().enumerate() {
                let target = if dest_is_dir {
                    let Some(name) = url_file_name(url) else {
                        return Err(step_err(
                            ins,
                            format!("cannot tell a file name from {url}; name the destination file, e.g. ADD {url} /path/file"),
                        ));
                    };
                    child_path(&dest_norm, &name)
                } else {
                    dest_norm.clone()
                };
                let path = tmp.path().join(i.to_string());
                let mut f = File::create(&path)
                    .map_err(|e| io_err(format!("creating {}", path.display()), e))?;
                let Some(r) = runner.as_deref_mut() else {
                    return Err(step_err(
                        ins,
                        format!("ADD {url} needs the engine's HTTP client, which this build has not; download the file and COPY it"),
                    ));
                };
                self.say(format!(" ---> Downloading {url}"));
                // The error names the URL.
                r.fetch(url, &mut f)
                    .map_err(|e| step_err(ins, format!("{e:#}")))?;
                // Docker's mode for downloaded files; never unpacked.
                let mode = chmod.unwrap_or(0o600);
                plan.add(target, Node::File { src: path, mode }, &known);
            }
            extracted.push(tmp);
        }
        for (abs, rel) in &resolved {
            let meta = fs::metadata(abs)
                .map_err(|e| step_err(ins, format!("cannot read source '{rel}': {e}")))?;
            // The name as written: a symlink under --from resolved to its
            // target, but keeps its own name.
            let name = match rel.rsplit('/').next() {
                Some(n) if !n.is_empty() => n.to_string(),
                _ => abs
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            };
            if meta.is_dir() {
                let target = dest_norm.clone();
                if !dest_is_dir && !target.is_empty() {
                    plan.add(target.clone(), Node::Dir { mode: 0o755 }, &known);
                }
                let use_ignore = from.is_none();
                self.add_tree(ins, &mut plan, abs, rel, &target, use_ignore, &known)?;
            } else if add && is_tarball(&name) {
                // In the store, not the system temp dir: on the filesystem
                // whose free space the extractor checks, and collected by
                // the next command if this build is killed.
                let tmp = Snapshots::new(self.store.root().join("snapshots"))
                    .scratch()
                    .map_err(|e| step_err(ins, format!("cannot unpack '{rel}': {e}")))?;
                let f = File::open(abs)
                    .map_err(|e| step_err(ins, format!("cannot open archive '{rel}': {e}")))?;
                wharf_snapshot::extract_layer_labeled(f, tmp.path(), &format!("archive {rel}"))
                    .map_err(|e| step_err(ins, format!("cannot extract '{rel}': {e}")))?;
                let target = dest_norm.clone();
                if !target.is_empty() {
                    plan.add(target.clone(), Node::Dir { mode: 0o755 }, &known);
                }
                self.add_tree(ins, &mut plan, tmp.path(), "", &target, false, &known)?;
                extracted.push(tmp);
            } else {
                let target = if dest_is_dir {
                    child_path(&dest_norm, &name)
                } else {
                    dest_norm.clone()
                };
                if target.is_empty() {
                    return Err(step_err(
                        ins,
                        "cannot replace the root directory with a file",
                    ));
                }
                let mode = chmod.unwrap_or(meta.permissions().mode() & 0o7777);
                plan.add(
                    target,
                    Node::File {
                        src: abs.clone(),
                        mode,
                    },
                    &known,
                );
            }
        }
        let hit = self.commit_layer(ins, plan, from.is_none())?;
        drop(extracted);
        drop(from);
        if !hit {
            self.history(ins, false);
        }
        Ok(())
    }
}
