//! The Wasm executor's reading of an OCI runtime spec, the one description of
//! every container (as runwasi's executors read theirs): which module to
//! run, and what the guest is granted — args, env, working directory, the
//! root, bind mounts as preopened directories, the memory limit. `wharf run`
//! and `wharf-runtime` (a bundle from containerd) both come through here.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use wharf_snapshot::resolve_in_root;

use crate::{Error, Guest, Mount, Outcome, Program, Result, Runtime};

/// Annotation naming the module's host path, so the executor need not find it again.
pub const MODULE_ANNOTATION: &str = "dev.wharf.module";
/// Annotation with what identifies the module's bytes for the code cache
/// (its digest, or its snapshot and path) when known without reading it.
pub const MODULE_DIGEST_ANNOTATION: &str = "dev.wharf.module-digest";
/// Annotation granting the guest the network (`host`: the host's; `bridge`:
/// the network namespace the spec names, which its owner joins before the
/// guest runs). Without it the guest gets no sockets.
pub const NETWORK_ANNOTATION: &str = "dev.wharf.network";
/// The bundle annotation containerd users set for Wasm; Wharf sets it too.
pub const HANDLER_ANNOTATION: &str = "run.oci.handler";
/// Space-separated URLs where an HTTP component's clients reach it (its
/// published ports), for the "Serving HTTP on" line.
pub const HTTP_URLS_ANNOTATION: &str = "dev.wharf.http-urls";

/// Where a program named `arg0` (args\[0\]) is in the container's tree:
/// itself when absolute, else relative to `cwd`, as an exec from that
/// directory finds it.
pub fn path_in_image(arg0: &str, cwd: &str) -> String {
    if arg0.starts_with('/') {
        arg0.to_string()
    } else {
        format!("{}/{arg0}", cwd.trim_end_matches('/'))
    }
}

/// The host path of the module args\[0\] names inside `root` (symlinks
/// resolved inside it). The one place a module file is looked up, for
/// images (`wharf run`, build, load) and bundles alike.
pub fn module_in_root(root: &Path, arg0: &str, cwd: &str) -> Result<PathBuf> {
    let in_root = path_in_image(arg0, cwd);
    let path = resolve_in_root(root, &in_root).ok_or_else(|| Error::NoModule {
        path: in_root.clone(),
        why: "does not exist",
    })?;
    if !path.is_file() {
        return Err(Error::NoModule {
            path: in_root,
            why: "is not a regular file",
        });
    }
    Ok(path)
}

/// The bundle rule (containerd hands the runtime a bundle, not an image):
/// Wasm when annotated `run.oci.handler=wasm` or
/// `module.wasm.image/variant=compat`; for the `compat-smart` variant only
/// when args\[0\] really is Wasm (magic bytes, or a `.wasm`/`.wat` name). A
/// native executable is never Wasm, whatever the annotations say.
pub fn is_wasm_bundle(
    annotations: &HashMap<String, String>,
    program_header: Option<&[u8]>,
    program_name: &str,
) -> bool {
    let is_native =
        program_header.is_some_and(|h| h.starts_with(b"\x7fELF") || h.starts_with(b"#!"));
    if is_native {
        return false;
    }
    let looks_wasm = program_header.is_some_and(|h| h.starts_with(b"\0asm"))
        || program_name.ends_with(".wasm")
        || program_name.ends_with(".wat");
    let handler = annotations.get(HANDLER_ANNOTATION).map(String::as_str);
    let variant = annotations
        .get("module.wasm.image/variant")
        .map(String::as_str);
    // `compat-smart` asks for Wasm only when args[0] is Wasm, which is
    // already enough on its own, so it adds nothing to the rule.
    handler == Some("wasm") || variant == Some("compat") || looks_wasm
}

/// A guest whose code is loaded (compiled or taken from the cache) and
/// whose sandbox is described, ready to start.
pub struct Loaded {
    pub program: Program,
    pub guest: Guest,
    /// The module file and what identifies its bytes for the code cache,
    /// to load it again into a serving runtime.
    module: PathBuf,
    digest: Option<String>,
    /// Where clients reach an HTTP component ([`HTTP_URLS_ANNOTATION`]).
    urls: Vec<String>,
}

impl Loaded {
    /// Runs a command to completion, or serves a `wasi:http` component
    /// until it is interrupted.
    pub fn run(&self, runtime: &Runtime) -> Result<Outcome> {
        let Some(world) = self.program.http_world() else {
            return runtime.run(&self.program, &self.guest);
        };
        let options = crate::serve::ServeOptions::from_env(&self.guest.env, self.urls.clone())?;
        let server = runtime.for_serving()?;
        let program = server.prepare_file(&self.module, self.digest.as_deref())?;
        crate::serve::serve(&server, &program, world, &self.guest, &options)
    }

    /// Whether [`run`](Self::run) serves HTTP rather than running a command.
    pub fn serves_http(&self) -> bool {
        self.program.http_world().is_some()
    }
}

/// Loads the guest `spec` describes: its module (the annotated host path,
/// else args\[0\] inside the spec's root) and its grants.
pub fn load(runtime: &Runtime, spec: &Spec) -> Result<Loaded> {
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::Spec("the spec has no process".into()))?;
    let args = process.args().clone().unwrap_or_default();
    let rootfs = spec.root().as_ref().map(|r| r.path().clone());
    let cwd = process.cwd().to_string_lossy().into_owned();
    let annotations = spec.annotations().clone().unwrap_or_default();
    let (module, digest) = match annotations.get(MODULE_ANNOTATION) {
        Some(path) => (
            PathBuf::from(path),
            annotations.get(MODULE_DIGEST_ANNOTATION).cloned(),
        ),
        None => {
            let root = rootfs
                .as_deref()
                .ok_or_else(|| Error::Spec("the spec has no root".into()))?;
            let arg0 = args
                .first()
                .ok_or_else(|| Error::Spec("the spec's process has no args".into()))?;
            (module_in_root(root, arg0, &cwd)?, None)
        }
    };
    let program = runtime.prepare_file(&module, digest.as_deref())?;
    let urls = annotations
        .get(HTTP_URLS_ANNOTATION)
        .map(|u| u.split_whitespace().map(String::from).collect())
        .unwrap_or_default();
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
    let guest = Guest {
        args,
        env,
        cwd: Some(cwd),
        root_writable: !spec
            .root()
            .as_ref()
            .is_some_and(|r| r.readonly().unwrap_or(false)),
        root: rootfs,
        mounts: bind_mounts(spec),
        stdin: true,
        memory_limit: memory_limit(spec),
        cpus: cpu_share(spec),
        network: annotations.contains_key(NETWORK_ANNOTATION),
    };
    Ok(Loaded {
        program,
        guest,
        module,
        digest,
        urls,
    })
}

/// The spec's bind mounts (volumes): preopened directories where no tree is
/// built, mounts inside the container's tree where one is.
pub fn bind_mounts(spec: &Spec) -> Vec<Mount> {
    spec.mounts()
        .iter()
        .flatten()
        .filter(|m| {
            let opts = m.options().as_deref().unwrap_or_default();
            m.typ().as_deref() == Some("bind") || opts.iter().any(|o| o == "bind" || o == "rbind")
        })
        .filter_map(|m| {
            Some(Mount {
                host: m.source().clone()?,
                guest: m.destination().to_string_lossy().into_owned(),
                read_only: m
                    .options()
                    .as_ref()
                    .is_some_and(|o| o.iter().any(|o| o == "ro")),
            })
        })
        .collect()
}

/// The memory limit a spec asks for, if any.
pub fn memory_limit(spec: &Spec) -> Option<u64> {
    spec.linux()
        .as_ref()?
        .resources()
        .as_ref()?
        .memory()
        .as_ref()?
        .limit()
        .filter(|l| *l > 0)
        .map(|l| l as u64)
}

/// The CPU share a spec's CFS quota asks for (`--cpus`), if any.
pub fn cpu_share(spec: &Spec) -> Option<f64> {
    let cpu = spec
        .linux()
        .as_ref()?
        .resources()
        .as_ref()?
        .cpu()
        .as_ref()?;
    let quota = cpu.quota().filter(|q| *q > 0)?;
    let period = cpu.period().filter(|p| *p > 0).unwrap_or(100_000);
    Some(quota as f64 / period as f64)
}

/// For a runtime bundle (`wharf-runtime`): `None` unless the bundle is Wasm
/// by [`is_wasm_bundle`] (args\[0\] is resolved inside the spec's root, which
/// must be an absolute host path). For a Wasm bundle the guest is loaded
/// now, on the host, with `cache_dir` as the compiled-code cache, so a
/// container init cloned afterwards inherits the code; it is described as it
/// will run INSIDE the container after pivot_root: the container's `/`,
/// with the spec's mounts at their destinations, is the guest's one root.
pub fn load_for_bundle(spec: &Spec, cache_dir: PathBuf) -> Result<Option<(Runtime, Loaded)>> {
    let process = spec.process().as_ref();
    let arg0 = process
        .and_then(|p| p.args().as_ref())
        .and_then(|a| a.first())
        .cloned()
        .unwrap_or_default();
    let cwd = process
        .map(|p| p.cwd().to_string_lossy().into_owned())
        .unwrap_or_default();
    let header = spec
        .root()
        .as_ref()
        .filter(|_| !arg0.is_empty())
        .and_then(|root| module_in_root(root.path(), &arg0, &cwd).ok())
        .and_then(|path| {
            let mut head = Vec::with_capacity(8);
            std::fs::File::open(path)
                .and_then(|f| f.take(8).read_to_end(&mut head))
                .ok()
                .map(|_| head)
        });
    let annotations = spec.annotations().clone().unwrap_or_default();
    if !is_wasm_bundle(&annotations, header.as_deref(), &arg0) {
        return Ok(None);
    }
    let runtime = Runtime::new(cache_dir)?;
    let mut loaded = load(&runtime, spec)?;
    // Inside the container the mounts are already at their paths in the
    // tree: one `/` preopen shows them all, as in `wharf run`.
    loaded.guest.root = Some(PathBuf::from("/"));
    loaded.guest.mounts.clear();
    Ok(Some((runtime, loaded)))
}

/// What the user sees on stderr when a guest ends abnormally.
pub fn describe(outcome: &Outcome) -> Option<String> {
    match outcome {
        Outcome::Exited(_) | Outcome::Interrupted { .. } => None,
        Outcome::Trapped { message } => Some(format!("wharf: the Wasm guest trapped: {message}")),
        Outcome::MemoryLimit { message, .. } => Some(format!("wharf: {message}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_rule() {
        let none = HashMap::new();
        assert!(is_wasm_bundle(&none, Some(b"\0asm\x01\0\0\0"), "/app"));
        assert!(is_wasm_bundle(&none, None, "/app.wasm"));
        assert!(!is_wasm_bundle(&none, Some(b"\x7fELF...."), "/bin/sh"));
        let handler = HashMap::from([("run.oci.handler".to_string(), "wasm".to_string())]);
        assert!(is_wasm_bundle(&handler, None, "/app"));
        assert!(!is_wasm_bundle(&handler, Some(b"\x7fELF"), "/app.wasm"));
        let smart = HashMap::from([(
            "module.wasm.image/variant".to_string(),
            "compat-smart".to_string(),
        )]);
        assert!(!is_wasm_bundle(&smart, Some(b"#!/bin/sh"), "/x"));
        assert!(!is_wasm_bundle(&smart, None, "/bin/busybox"));
    }

    #[test]
    fn module_lookup_stays_in_the_root() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("app")).unwrap();
        std::fs::write(root.path().join("app/m.wasm"), b"\0asm").unwrap();
        std::os::unix::fs::symlink("/app/m.wasm", root.path().join("link")).unwrap();
        let found = module_in_root(root.path(), "m.wasm", "/app").unwrap();
        assert_eq!(found, root.path().join("app/m.wasm"));
        assert_eq!(
            module_in_root(root.path(), "/link", "/").unwrap(),
            root.path().join("app/m.wasm")
        );
        let missing = module_in_root(root.path(), "/nope.wasm", "/").unwrap_err();
        assert!(missing.to_string().contains("/nope.wasm"), "{missing}");
        let dir = module_in_root(root.path(), "/app", "/").unwrap_err();
        assert!(dir.to_string().contains("not a regular file"), "{dir}");
    }
}
