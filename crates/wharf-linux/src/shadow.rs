//! A container's bundle as libcontainer reads it. The bundle's config.json
//! is read and checked once ([`load_bundle`]); when what libcontainer must
//! see differs from it (a runc spec adapted to libcontainer's reading, or a
//! seccomp filter taken out for the filter cache) a "shadow" copy is written
//! under the state root and libcontainer reads that instead. A spec that
//! needs neither is not copied: the copy is a file write on every start.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use crate::filter_cache::{self, CachedFilter};
use crate::{Error, Result};

/// Reads `bundle/config.json` and checks what `create` needs: a process with
/// args and an existing root. Returns the canonical bundle path and the spec
/// with `root.path` made absolute.
pub fn load_bundle(bundle: &Path) -> Result<(PathBuf, Spec)> {
    let dir = std::fs::canonicalize(bundle).map_err(|e| Error::io("opening bundle", bundle, e))?;
    let config = dir.join("config.json");
    let text = std::fs::read(&config).map_err(|e| Error::io("reading", &config, e))?;
    let mut spec: Spec = serde_json::from_slice(&text)
        .map_err(|e| Error::Spec(format!("{}: {e}", config.display())))?;
    if !spec.version().starts_with("1.") {
        return Err(Error::Spec(format!(
            "{}: unsupported ociVersion {:?} (1.x expected)",
            config.display(),
            spec.version()
        )));
    }
    let args_ok = spec
        .process()
        .as_ref()
        .and_then(|p| p.args().as_ref())
        .is_some_and(|a| !a.is_empty());
    if !args_ok {
        return Err(Error::Spec(format!(
            "{}: process.args must not be empty",
            config.display()
        )));
    }
    let mut root = spec
        .root()
        .clone()
        .ok_or_else(|| Error::Spec(format!("{}: root must be set", config.display())))?;
    let path = dir.join(root.path());
    if !path.is_dir() {
        return Err(Error::Spec(format!(
            "{}: root.path {} is not a directory",
            config.display(),
            path.display()
        )));
    }
    root.set_path(path);
    spec.set_root(Some(root));
    Ok((dir, spec))
}

/// Adapts a spec written for runc to libcontainer 0.7's reading of it:
/// `noNewPrivileges: false` is dropped (libcontainer would load seccomp after
/// dropping CAP_SYS_ADMIN) and `SCMP_CMP_MASKED_EQ` arguments are swapped
/// (runc: `value` is the mask, `valueTwo` the datum; libcontainer reads them
/// the other way round). Returns whether anything changed.
///
/// Not for a spec made by [`crate::apply_defaults`], which is written in
/// libcontainer's reading already: the swap would undo its own.
pub fn adapt_runc_spec(spec: &mut Spec) -> bool {
    let mut changed = false;
    if let Some(p) = spec.process_mut() {
        if p.no_new_privileges() == Some(false) {
            p.set_no_new_privileges(None);
            changed = true;
        }
    }
    if let Some(seccomp) = spec
        .linux_mut()
        .as_mut()
        .and_then(|l| l.seccomp_mut().as_mut())
    {
        // oci-spec has no setters for the argument values: edit as JSON.
        let mut value = serde_json::to_value(&*seccomp).unwrap_or_default();
        for sc in value["syscalls"].as_array_mut().into_iter().flatten() {
            for arg in sc["args"].as_array_mut().into_iter().flatten() {
                if arg["op"] == "SCMP_CMP_MASKED_EQ" {
                    let v = arg["value"].take();
                    let v2 = arg["valueTwo"].take();
                    arg["value"] = if v2.is_null() { 0.into() } else { v2 };
                    arg["valueTwo"] = v;
                    changed = true;
                }
            }
        }
        if changed {
            if let Ok(s) = serde_json::from_value(value) {
                *seccomp = s;
            }
        }
    }
    changed
}

/// Where a container's adapted copy of its bundle's config.json lives (see
/// [`adapt_runc_spec`] and the filter cache); removed with the container.
pub(crate) fn shadow_dir(state_root: &Path, id: &str) -> PathBuf {
    state_root.join(".bundles").join(id)
}

/// Writes `spec` (whose root.path must be absolute) as the container's
/// shadow bundle, for libcontainer to read instead of the real one.
fn write_shadow(state_root: &Path, id: &str, spec: &Spec) -> Result<PathBuf> {
    let dir = shadow_dir(state_root, id);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("creating", &dir, e))?;
    let text = serde_json::to_vec(spec).map_err(|e| Error::Spec(e.to_string()))?;
    std::fs::write(dir.join("config.json"), text)
        .map_err(|e| Error::io("writing", dir.join("config.json"), e))?;
    Ok(dir)
}

/// Takes the spec's seccomp filter from the cache when it can (see
/// [`filter_cache::take`]) and, when that or an earlier adaptation
/// (`adapted`) changed the spec, writes the shadow bundle libcontainer must
/// read instead of the real one. `spec`'s root.path must be absolute.
pub(crate) fn shadow_with_filter(
    state_root: &Path,
    id: &str,
    spec: &mut Spec,
    adapted: bool,
) -> Result<(Option<PathBuf>, Option<CachedFilter>)> {
    let filter = filter_cache::take(spec, &state_root.join(".seccomp"));
    let shadow = if adapted || filter.is_some() {
        Some(write_shadow(state_root, id, spec)?)
    } else {
        None
    };
    Ok((shadow, filter))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runc_specs_are_adapted_for_libcontainer() {
        let mut spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": { "path": "rootfs" },
            "process": { "cwd": "/", "args": ["sh"], "user": { "uid": 0, "gid": 0 }, "noNewPrivileges": false },
            "linux": { "seccomp": { "defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
                { "names": ["clone"], "action": "SCMP_ACT_ALLOW",
                  "args": [{ "index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ" }] },
                { "names": ["personality"], "action": "SCMP_ACT_ALLOW",
                  "args": [{ "index": 0, "value": 8, "op": "SCMP_CMP_EQ" }] }
            ] } }
        }))
        .unwrap();
        assert!(adapt_runc_spec(&mut spec));
        assert_eq!(spec.process().as_ref().unwrap().no_new_privileges(), None);
        let v = serde_json::to_value(&spec).unwrap();
        let clone = &v["linux"]["seccomp"]["syscalls"][0]["args"][0];
        assert_eq!(clone["value"], 0);
        assert_eq!(clone["valueTwo"], 2114060288u64);
        let pers = &v["linux"]["seccomp"]["syscalls"][1]["args"][0];
        assert_eq!(pers["value"], 8);
        // Nothing to do the second time round? No: the swap is not idempotent,
        // so callers adapt a fresh copy of the bundle's spec each time.
        let mut plain = crate::default_spec();
        assert!(!adapt_runc_spec(&mut plain));
    }
}
