//! The build context: resolving COPY/ADD sources (paths and globs) inside
//! it, refusing anything that escapes it, and walking its directories in a
//! stable order while honouring .dockerignore.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use crate::dockerfile::Instruction;
use crate::driver::Builder;
use crate::error::{step_err, Result};
use crate::layer::{LayerPlan, Node};
use crate::paths::{child_path, normalize_image_path};

/// A git source (ADD downloads http(s) URLs before sources get here).
fn is_git_url(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    l.starts_with("git@") || l.starts_with("git://")
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

impl Builder<'_> {
    /// The files that COPY/ADD sources `srcs` name: (absolute path, path
    /// relative to the context or root), and whether any source was a glob
    /// (which makes the destination a directory). Sources come from the
    /// build context (with .dockerignore), or with `from` from that root
    /// filesystem (an earlier stage or an image, `COPY --from`), where
    /// symlinks resolve inside it.
    pub(crate) fn resolve_sources(
        &self,
        ins: &Instruction,
        srcs: &[String],
        from: Option<&Path>,
    ) -> Result<(Vec<(PathBuf, String)>, bool)> {
        if let Some(root) = from {
            return self.resolve_in(ins, srcs, root);
        }
        let kw = ins.keyword();
        let mut resolved: Vec<(PathBuf, String)> = Vec::new();
        let mut from_glob = false;
        for s in srcs {
            if is_git_url(s) {
                return Err(step_err(
                    ins,
                    format!(
                        "{kw} of a git repository ({s}) is not supported; clone it into the build context and COPY it"
                    ),
                ));
            }
            let rel = self.context_rel(ins, s)?;
            if has_glob(&rel) {
                from_glob = true;
                let pattern = format!(
                    "{}/{}",
                    glob::Pattern::escape(&self.context.to_string_lossy()),
                    rel
                );
                let opts = glob::MatchOptions {
                    case_sensitive: true,
                    require_literal_separator: true,
                    require_literal_leading_dot: false,
                };
                let mut any = false;
                let matches = glob::glob_with(&pattern, opts)
                    .map_err(|e| step_err(ins, format!("bad pattern '{s}': {e}")))?;
                for m in matches.flatten() {
                    let r = m
                        .strip_prefix(&self.context)
                        .unwrap_or(&m)
                        .to_string_lossy()
                        .into_owned();
                    if self.ignore.is_excluded(&r) {
                        continue;
                    }
                    self.check_inside(ins, &m, s)?;
                    any = true;
                    resolved.push((m, r));
                }
                if !any {
                    return Err(step_err(
                        ins,
                        format!(
                            "no files in the build context {} match '{s}' (after .dockerignore)",
                            self.context.display()
                        ),
                    ));
                }
            } else {
                let path = self.context.join(&rel);
                if !rel.is_empty() && self.ignore.is_excluded(&rel) {
                    return Err(step_err(
                        ins,
                        format!("source '{s}' is excluded by .dockerignore; remove the pattern or the source"),
                    ));
                }
                if fs::symlink_metadata(&path).is_err() {
                    return Err(step_err(
                        ins,
                        format!(
                            "source '{s}' not found in the build context {}",
                            self.context.display()
                        ),
                    ));
                }
                self.check_inside(ins, &path, s)?;
                resolved.push((path, rel));
            }
        }
        Ok((resolved, from_glob))
    }

    /// `COPY --from` sources inside `root`.
    fn resolve_in(
        &self,
        ins: &Instruction,
        srcs: &[String],
        root: &Path,
    ) -> Result<(Vec<(PathBuf, String)>, bool)> {
        let mut resolved = Vec::new();
        let mut from_glob = false;
        let opts = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        for s in srcs {
            let rel = normalize_image_path(s);
            let mut rels = Vec::new();
            if has_glob(&rel) {
                from_glob = true;
                let pattern = format!("{}/{}", glob::Pattern::escape(&root.to_string_lossy()), rel);
                let matches = glob::glob_with(&pattern, opts)
                    .map_err(|e| step_err(ins, format!("bad pattern '{s}': {e}")))?;
                for m in matches.flatten() {
                    rels.push(
                        m.strip_prefix(root)
                            .unwrap_or(&m)
                            .to_string_lossy()
                            .into_owned(),
                    );
                }
                if rels.is_empty() {
                    return Err(step_err(
                        ins,
                        format!("no files match '{s}' in the --from source"),
                    ));
                }
            } else {
                rels.push(rel);
            }
            for r in rels {
                // Symlinks (absolute ones too) resolve within the root, never
                // to the host's files.
                let abs = wharf_snapshot::resolve_in_root(root, &r).ok_or_else(|| {
                    step_err(ins, format!("source '{s}' not found in the --from source"))
                })?;
                if fs::symlink_metadata(&abs).is_err() {
                    return Err(step_err(
                        ins,
                        format!("source '{s}' not found in the --from source"),
                    ));
                }
                resolved.push((abs, r));
            }
        }
        Ok((resolved, from_glob))
    }

    /// A source path relative to the context root ("" is the root); refuses
    /// anything that leaves the context.
    fn context_rel(&self, ins: &Instruction, s: &str) -> Result<String> {
        let mut out: Vec<String> = Vec::new();
        for c in Path::new(s).components() {
            match c {
                Component::Normal(n) => out.push(n.to_string_lossy().into_owned()),
                Component::ParentDir if out.pop().is_none() => {
                    return Err(step_err(
                        ins,
                        format!(
                            "source '{s}' is outside the build context {}; move it into the context or build from a parent directory",
                            self.context.display()
                        ),
                    ));
                }
                _ => {}
            }
        }
        Ok(out.join("/"))
    }

    /// Refuses sources that reach outside the context through symlinks.
    fn check_inside(&self, ins: &Instruction, path: &Path, s: &str) -> Result<()> {
        let real = fs::canonicalize(path)
            .map_err(|e| step_err(ins, format!("cannot resolve source '{s}': {e}")))?;
        if !real.starts_with(&self.context) {
            return Err(step_err(
                ins,
                format!(
                    "source '{s}' resolves (through a symlink) to {}, outside the build context {}; copy the file into the context",
                    real.display(),
                    self.context.display()
                ),
            ));
        }
        Ok(())
    }

    /// Adds the contents of directory `abs` below `target` (image path).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add_tree(
        &self,
        ins: &Instruction,
        plan: &mut LayerPlan,
        abs: &Path,
        rel: &str,
        target: &str,
        use_ignore: bool,
        known: &BTreeMap<String, u32>,
    ) -> Result<()> {
        let rd = fs::read_dir(abs).map_err(|e| {
            step_err(
                ins,
                format!("cannot read directory '{}': {e}", abs.display()),
            )
        })?;
        let mut children: Vec<_> = rd.flatten().collect();
        children.sort_by_key(|e| e.file_name());
        for child in children {
            let name = child.file_name().to_string_lossy().into_owned();
            let child_rel = child_path(rel, &name);
            let child_target = child_path(target, &name);
            let excluded = use_ignore && self.ignore.is_excluded(&child_rel);
            let path = child.path();
            let meta = fs::symlink_metadata(&path)
                .map_err(|e| step_err(ins, format!("cannot read '{child_rel}': {e}")))?;
            let ft = meta.file_type();
            if ft.is_dir() {
                if !excluded {
                    let mode = plan.chmod.unwrap_or(meta.permissions().mode() & 0o7777);
                    plan.add(child_target.clone(), Node::Dir { mode }, known);
                }
                self.add_tree(
                    ins,
                    plan,
                    &path,
                    &child_rel,
                    &child_target,
                    use_ignore,
                    known,
                )?;
            } else if excluded {
                continue;
            } else if ft.is_symlink() {
                let t = fs::read_link(&path)
                    .map_err(|e| step_err(ins, format!("cannot read link '{child_rel}': {e}")))?;
                plan.add(child_target, Node::Symlink { target: t }, known);
            } else if ft.is_file() {
                let mode = plan.chmod.unwrap_or(meta.permissions().mode() & 0o7777);
                plan.add(child_target, Node::File { src: path, mode }, known);
            }
            // FIFOs, sockets and devices in the context are skipped, like
            // Docker does.
        }
        Ok(())
    }
}
