//! The `wasm` executor: runs the guest a runtime spec describes, in this
//! process. It reads only the spec, so `wharf run` and a runtime bundle go
//! through the same path.

use std::path::PathBuf;

use oci_spec::runtime::Spec;
use wharf_wasm::{Guest, Mount, Outcome, Program, Runtime};

use crate::spec::{memory_limit, path_in_image, MODULE_ANNOTATION, MODULE_DIGEST_ANNOTATION};
use crate::{Error, Result};
use wharf_snapshot::resolve_in_root;

/// A guest whose code is loaded (compiled or taken from the cache) and
/// whose sandbox is described, ready to start.
pub struct Loaded {
    program: Program,
    guest: Guest,
}

pub fn load(runtime: &Runtime, spec: &Spec) -> Result<Loaded> {
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::InvalidArgument("the spec has no process".into()))?;
    let args = process.args().clone().unwrap_or_default();
    let rootfs = spec.root().as_ref().map(|r| r.path().clone());
    let annotations = spec.annotations().clone().unwrap_or_default();
    let (module, digest) = match annotations.get(MODULE_ANNOTATION) {
        Some(path) => (
            PathBuf::from(path),
            annotations.get(MODULE_DIGEST_ANNOTATION).cloned(),
        ),
        None => {
            let root = rootfs
                .clone()
                .ok_or_else(|| Error::InvalidArgument("the spec has no root".into()))?;
            let arg0 = args
                .first()
                .ok_or_else(|| Error::InvalidArgument("the spec's process has no args".into()))?;
            let in_root = path_in_image(arg0, &process.cwd().to_string_lossy());
            let path = resolve_in_root(&root, &in_root)
                .filter(|p| p.is_file())
                .ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "the Wasm module {in_root} does not exist in the container's root"
                    ))
                })?;
            (path, None)
        }
    };
    let program = runtime.prepare_file(&module, digest.as_deref())?;
    let env = process
        .env()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv, String::new()),
        })
        .collect();
    let mounts = spec
        .mounts()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|m| {
            let opts = m.options().clone().unwrap_or_default();
            m.typ().as_deref() == Some("bind") || opts.iter().any(|o| o == "bind" || o == "rbind")
        })
        .filter_map(|m| {
            let host = m.source().clone()?;
            let read_only = m
                .options()
                .as_ref()
                .is_some_and(|o| o.iter().any(|o| o == "ro"));
            Some(Mount {
                host,
                guest: m.destination().to_string_lossy().into_owned(),
                read_only,
            })
        })
        .collect();
    let guest = Guest {
        args,
        env,
        cwd: Some(process.cwd().to_string_lossy().into_owned()),
        root: rootfs,
        mounts,
        stdin: true,
        memory_limit: memory_limit(spec),
    };
    Ok(Loaded { program, guest })
}

impl Loaded {
    pub fn run(&self, runtime: &Runtime) -> Result<Outcome> {
        Ok(runtime.run(&self.program, &self.guest)?)
    }
}

/// What the user sees on stderr when a guest ends abnormally.
pub fn describe(outcome: &Outcome) -> Option<String> {
    match outcome {
        Outcome::Exited(_) | Outcome::Interrupted { .. } => None,
        Outcome::Trapped { message } => Some(format!("wharf: the Wasm guest trapped: {message}")),
        Outcome::MemoryLimit { message, .. } => Some(format!("wharf: {message}")),
    }
}

/// For a runtime bundle (`wharf-runtime`): `None` unless the bundle is Wasm by
/// [`crate::kind::bundle_kind`] (args\[0\] is resolved inside the spec's root,
/// which must be an absolute host path). For a Wasm bundle the guest is
/// loaded now, on the host, with `cache_dir` as the compiled-code cache, so
/// a container init cloned afterwards inherits the code; it is described as
/// it will run INSIDE the container after pivot_root: the container's `/` is
/// the guest's root and the spec's bind-mounted directories are preopened at
/// their destinations.
pub fn load_for_bundle(spec: &Spec, cache_dir: PathBuf) -> Result<Option<(Runtime, Loaded)>> {
    let process = spec.process().as_ref();
    let arg0 = process
        .and_then(|p| p.args().as_ref())
        .and_then(|a| a.first())
        .cloned()
        .unwrap_or_default();
    let root = spec.root().as_ref().map(|r| r.path().clone());
    let cwd = process.map(|p| p.cwd().clone()).unwrap_or_default();
    let in_root = path_in_image(&arg0, &cwd.to_string_lossy());
    let header = root
        .as_deref()
        .filter(|_| !arg0.is_empty())
        .and_then(|root| resolve_in_root(root, &in_root))
        .and_then(|path| {
            use std::io::Read;
            let mut head = Vec::with_capacity(8);
            std::fs::File::open(path)
                .and_then(|f| f.take(8).read_to_end(&mut head))
                .ok()
                .map(|_| head)
        });
    let annotations = spec.annotations().clone().unwrap_or_default();
    if crate::kind::bundle_kind(&annotations, header.as_deref(), &arg0) != crate::Kind::Wasm {
        return Ok(None);
    }
    let runtime = Runtime::new(cache_dir)?;
    let mut loaded = load(&runtime, spec)?;
    loaded.guest.root = Some(PathBuf::from("/"));
    let host_dirs: std::collections::HashSet<String> = spec
        .mounts()
        .iter()
        .flatten()
        .filter(|m| m.source().as_ref().is_some_and(|s| s.is_dir()))
        .map(|m| m.destination().to_string_lossy().into_owned())
        .collect();
    loaded.guest.mounts.retain(|m| host_dirs.contains(&m.guest));
    for m in &mut loaded.guest.mounts {
        m.host = PathBuf::from(&m.guest);
    }
    Ok(Some((runtime, loaded)))
}
