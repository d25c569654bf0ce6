//! Layers: the plan of a new layer's entries, writing it as a deterministic
//! tar (sorted, fixed owner and mtime), storing it gzip-compressed with its
//! diff_id, and tracking which directories the stage's tree already has so
//! new entries keep their parents' modes.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::path::PathBuf;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

use crate::dockerfile::Instruction;
use crate::driver::Builder;
use crate::error::{io_err, step_err, Result};
use crate::paths::normalize_image_path;
use crate::Descriptor;

/// One entry of a new layer.
pub(crate) enum Node {
    Dir { mode: u32 },
    File { src: PathBuf, mode: u32 },
    Symlink { target: PathBuf },
}

/// The content of a new layer, keyed by path (no leading '/').
pub(crate) struct LayerPlan {
    nodes: BTreeMap<String, Node>,
    /// Owner of every entry (`--chown`).
    uid: u64,
    gid: u64,
    /// Mode of every copied entry (`--chmod`); `None` keeps the source's.
    pub(crate) chmod: Option<u32>,
}

impl LayerPlan {
    pub(crate) fn new(uid: u64, gid: u64, chmod: Option<u32>) -> LayerPlan {
        LayerPlan {
            nodes: BTreeMap::new(),
            uid,
            gid,
            chmod,
        }
    }

    /// Adds the missing parents of `path` as directories, with the mode
    /// they already have in the stage's tree (`known`), else 0755.
    fn add_parents(&mut self, path: &str, known: &BTreeMap<String, u32>) {
        let mut cur = String::new();
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        for p in parts.iter().take(parts.len().saturating_sub(1)) {
            if !cur.is_empty() {
                cur.push('/');
            }
            cur.push_str(p);
            if !self.nodes.contains_key(&cur) {
                let mode = known.get(&cur).copied().unwrap_or(0o755);
                self.nodes.insert(cur.clone(), Node::Dir { mode });
            }
        }
    }

    /// Adds `node` at `path` (and its parents); the root itself is never
    /// an entry.
    pub(crate) fn add(&mut self, path: String, node: Node, known: &BTreeMap<String, u32>) {
        if path.is_empty() {
            return;
        }
        self.add_parents(&path, known);
        self.nodes.insert(path, node);
    }
}

/// Hashes what goes through it: the diff_id is the digest of the
/// uncompressed tar, computed while compressing it.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Builder<'_> {
    /// Directories of the current stage's tree (lazily read from the base
    /// layers' tar headers).
    pub(crate) fn known_dirs(&mut self, ins: &Instruction) -> Result<&BTreeMap<String, u32>> {
        let s = self.stage.as_mut().expect("inside a stage");
        if s.dirs.is_none() {
            let layers: Vec<String> = s.layers.iter().map(|l| l.digest().to_string()).collect();
            let mut dirs = BTreeMap::new();
            for digest in &layers {
                self.layer_dirs(ins, digest, &mut dirs)?;
            }
            self.stage.as_mut().expect("inside a stage").dirs = Some(dirs);
        }
        Ok(self
            .stage
            .as_ref()
            .and_then(|s| s.dirs.as_ref())
            .expect("just set"))
    }

    /// Adds the directories of layer `digest` to `dirs`. What a layer holds
    /// never changes, so its directories are read once and kept in the
    /// build cache index: a cached rebuild FROM a large toolchain image does
    /// not decompress it again.
    pub(crate) fn layer_dirs(
        &mut self,
        ins: &Instruction,
        digest: &str,
        dirs: &mut BTreeMap<String, u32>,
    ) -> Result<()> {
        if let Some(known) = self.cache.layer_dirs.get(digest) {
            dirs.extend(known.iter().map(|(k, v)| (k.clone(), *v)));
            return Ok(());
        }
        let path = self.store.blob_path(digest)?;
        let f = File::open(&path).map_err(|e| {
            step_err(
                ins,
                format!(
                    "cannot read base layer {digest} ({}): {e}; re-pull the base image",
                    path.display()
                ),
            )
        })?;
        let mut r = wharf_snapshot::decompress(f, None)
            .map_err(|e| io_err(format!("reading base layer {digest}"), e))?;
        let mut found = BTreeMap::new();
        scan_dirs(&mut r, &mut found);
        dirs.extend(found.iter().map(|(k, v)| (k.clone(), *v)));
        self.cache.layer_dirs.insert(digest.to_string(), found);
        self.cache_changed = true;
        Ok(())
    }

    /// Writes `plan` as a deterministic tar layer and adds it. With
    /// `by_content`, the step is first looked up in the build cache by the
    /// tar's digest (the content copied, as COPY/ADD's key): a hit adds the
    /// cached layer and history and returns true.
    pub(crate) fn commit_layer(
        &mut self,
        ins: &Instruction,
        plan: LayerPlan,
        by_content: bool,
    ) -> Result<bool> {
        // Unnamed (gone when the build is, even killed) and in the store, so
        // a big layer fills the store's filesystem, not the system temp dir.
        let tmp = tempfile::tempfile_in(self.store.root())
            .map_err(|e| io_err("creating a temporary layer file in the store", e))?;
        let mut b = tar::Builder::new(HashingWriter {
            inner: tmp,
            hasher: Sha256::new(),
        });
        b.mode(tar::HeaderMode::Deterministic);
        for (path, node) in &plan.nodes {
            let mut h = tar::Header::new_gnu();
            h.set_uid(plan.uid);
            h.set_gid(plan.gid);
            h.set_mtime(self.epoch);
            let r = match node {
                Node::Dir { mode } => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(*mode);
                    h.set_size(0);
                    b.append_data(&mut h, format!("{path}/"), io::empty())
                }
                Node::Symlink { target } => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_mode(0o777);
                    h.set_size(0);
                    b.append_link(&mut h, path, target)
                }
                Node::File { src, mode } => {
                    let f = File::open(src).map_err(|e| {
                        step_err(
                            ins,
                            format!("cannot read source file {}: {e}", src.display()),
                        )
                    })?;
                    let len = f
                        .metadata()
                        .map_err(|e| io_err(format!("reading {}", src.display()), e))?
                        .len();
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(*mode);
                    h.set_size(len);
                    b.append_data(&mut h, path, f.take(len))
                }
            };
            r.map_err(|e| step_err(ins, format!("writing layer entry '/{path}': {e}")))?;
        }
        let hw = b
            .into_inner()
            .map_err(|e| io_err("finishing the layer tar", e))?;
        let diff_id = format!("sha256:{}", hex::encode(hw.hasher.finalize()));
        let mut f = hw.inner;
        let hit = by_content && self.cached_layer_step(ins, &format!("content {diff_id}"))?;
        if !hit {
            f.rewind()
                .map_err(|e| io_err("rewinding the layer tar", e))?;
            self.commit_tar(ins, &mut f)?;
        }
        if let Some(d) = self.stage.as_mut().and_then(|s| s.dirs.as_mut()) {
            for (path, node) in &plan.nodes {
                if let Node::Dir { mode } = node {
                    d.insert(path.clone(), *mode);
                }
            }
        }
        Ok(hit)
    }

    /// Hashes an uncompressed layer tar (diff_id), stores it gzip-compressed
    /// and appends it to the stage.
    pub(crate) fn commit_tar(&mut self, ins: &Instruction, tar: &mut dyn Read) -> Result<()> {
        let writer = self.store.blob_writer()?;
        let gz = flate2::GzBuilder::new().write(writer, flate2::Compression::default());
        let mut hw = HashingWriter {
            inner: gz,
            hasher: Sha256::new(),
        };
        io::copy(tar, &mut hw).map_err(|e| step_err(ins, format!("writing the layer: {e}")))?;
        let diff_id = format!("sha256:{}", hex::encode(hw.hasher.finalize()));
        let writer = hw
            .inner
            .finish()
            .map_err(|e| io_err("compressing the layer", e))?;
        let (digest, size) = writer.commit(None)?;
        let desc = Descriptor::new(
            oci_spec::image::MediaType::ImageLayerGzip,
            size,
            oci_spec::image::Digest::from_str(&digest)
                .map_err(|e| step_err(ins, format!("internal error: digest {digest}: {e}")))?,
        );
        let s = self.stage_mut(ins)?;
        s.layers.push(desc);
        s.diff_ids.push(diff_id);
        Ok(())
    }
}

/// Records the directories of a layer tar (path without leading '/' → mode).
pub(crate) fn scan_dirs(r: &mut dyn Read, dirs: &mut BTreeMap<String, u32>) {
    let mut a = tar::Archive::new(r);
    let Ok(entries) = a.entries() else { return };
    for e in entries.flatten() {
        if e.header().entry_type() == tar::EntryType::Directory {
            if let Ok(p) = e.path() {
                let p = normalize_image_path(&p.to_string_lossy());
                if !p.is_empty() {
                    dirs.insert(p, e.header().mode().unwrap_or(0o755) & 0o7777);
                }
            }
        }
    }
}
