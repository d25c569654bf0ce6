//! COPY and ADD: parses their flags, works out the destination, and plans
//! one new layer from the resolved context sources (ADD also unpacks local
//! tarballs).

use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;

use wharf_snapshot::{Scratch, Snapshots};

use crate::dockerfile::{CopyFlags, Instruction};
use crate::driver::Builder;
use crate::error::{step_err, Result};
use crate::layer::{LayerPlan, Node};
use crate::paths::child_path;

/// Whether ADD unpacks `name` instead of copying it.
fn is_tarball(name: &str) -> bool {
    let l = name.to_ascii_lowercase();
    [".tar", ".tar.gz", ".tgz", ".tar.zst", ".tar.zstd", ".tzst"]
        .iter()
        .any(|s| l.ends_with(s))
}

impl Builder<'_> {
    /// COPY and ADD (`add`: also extracts local tarballs) of context
    /// sources into one new layer.
    pub(crate) fn copy(
        &mut self,
        ins: &Instruction,
        flags: &CopyFlags,
        sources: &[String],
        dest: &str,
        add: bool,
    ) -> Result<()> {
        let kw = ins.keyword();
        if flags.from.is_some() {
            return Err(step_err(
                ins,
                format!("{kw} --from is not supported by wharf build yet; copy the files into the build context instead"),
            ));
        }
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

        let (resolved, from_glob) = self.resolve_sources(ins, &srcs)?;
        let dest_is_dir = dest_raw.ends_with('/')
            || dest_norm.is_empty()
            || known.contains_key(&dest_norm)
            || resolved.len() > 1
            || from_glob;
        if resolved.len() > 1
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
        for (abs, rel) in &resolved {
            let meta = fs::metadata(abs)
                .map_err(|e| step_err(ins, format!("cannot read source '{rel}': {e}")))?;
            let name = abs
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if meta.is_dir() {
                let target = dest_norm.clone();
                if !dest_is_dir && !target.is_empty() {
                    plan.add(target.clone(), Node::Dir { mode: 0o755 }, &known);
                }
                self.add_tree(ins, &mut plan, abs, rel, &target, true, &known)?;
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
        self.commit_layer(ins, plan)?;
        drop(extracted);
        self.history(ins, false);
        Ok(())
    }
}
