//! The `wasm` executor: runs the guest a runtime spec describes, inside the
//! process that owns the container, with the embedded wasmtime
//! (`wharf-wasm`). It reads its grants from the spec (`wharf_wasm::oci`), as
//! `wharf-runtime` does for a bundle from containerd.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceBuilder, LinuxNamespaceType, Spec};
use wharf_image::{media, Image};
use wharf_linux::Network;
use wharf_wasm::oci::{self, Loaded, HANDLER_ANNOTATION, MODULE_ANNOTATION};
use wharf_wasm::Runtime;

use super::{Bundle, Executor, Exit, Filesystem, PrepareInput, Task};
use crate::{Engine, Error, Result};

pub(crate) struct WasmExecutor;

impl Executor for WasmExecutor {
    fn name(&self) -> &'static str {
        "wasm"
    }

    fn handles(&self, image: &Image) -> bool {
        image_module(image).is_some()
    }

    fn runs_in_owner(&self) -> bool {
        true
    }

    /// The guest gets wasi:sockets in the container's namespace: the
    /// thread that runs it joins the namespace (and sees the network's
    /// resolv.conf and hosts) before the guest starts.
    fn joins_networks(&self) -> bool {
        true
    }

    /// A module that is a layer of its own and an image that names no
    /// program: argv\[0\] names the image, as wasmtime's argv\[0\] names the file.
    fn default_entrypoint(&self, image: &Image, image_name: &str) -> Vec<String> {
        match image_module(image) {
            Some(ModuleSource::Layer { .. }) => vec![image_name.to_string()],
            _ => Vec::new(),
        }
    }

    fn image_ready(&self, engine: &Engine, image: &Image, rootfs: &Path) -> Result<()> {
        precompile(engine, image, rootfs)
    }

    /// Names the module in the spec's annotations (with what identifies
    /// its bytes for the code cache), so a start need not look for it.
    fn prepare(
        &self,
        engine: &Engine,
        bundle: Bundle,
        spec: &mut Spec,
        input: &PrepareInput,
    ) -> Result<()> {
        let process = spec.process().as_ref();
        let arg0 = process
            .and_then(|p| p.args().as_ref())
            .and_then(|a| a.first())
            .cloned();
        let cwd = process
            .map(|p| p.cwd().to_string_lossy().into_owned())
            .unwrap_or_else(|| "/".into());
        let source = input
            .image
            .and_then(image_module)
            .unwrap_or(ModuleSource::InRootfs);
        let (module, identity) = locate(engine, &source, input.rootfs, arg0.as_deref(), &cwd)?;
        let mut annotations = spec.annotations().clone().unwrap_or_default();
        annotations.insert(HANDLER_ANNOTATION.into(), "wasm".into());
        annotations.insert(
            MODULE_ANNOTATION.into(),
            module.to_string_lossy().into_owned(),
        );
        if let Some(identity) = identity {
            annotations.insert(oci::MODULE_DIGEST_ANNOTATION.into(), identity);
        }
        if input.ephemeral {
            annotations.insert(EPHEMERAL_ANNOTATION.into(), "true".into());
        }
        match &input.linux.network {
            Network::None => {}
            Network::Host => {
                annotations.insert(oci::NETWORK_ANNOTATION.into(), "host".into());
            }
            Network::Joined(joined) => {
                annotations.insert(oci::NETWORK_ANNOTATION.into(), "bridge".into());
                if let Some(urls) = http_urls(spec, joined) {
                    annotations.insert(oci::HTTP_URLS_ANNOTATION.into(), urls);
                }
                let hostname = spec.hostname().clone().unwrap_or_default();
                let (hosts, resolv) = wharf_linux::etc_files(input.linux, &hostname);
                for (name, text) in [(HOSTS, hosts), (RESOLV_CONF, resolv)] {
                    let path = bundle.dir.join(name);
                    std::fs::write(&path, text)
                        .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
                }
                let namespace = LinuxNamespaceBuilder::default()
                    .typ(LinuxNamespaceType::Network)
                    .path(joined.netns.clone())
                    .build()
                    .map_err(|e| Error::InvalidArgument(format!("the network namespace: {e}")))?;
                let mut linux = spec.linux().clone().unwrap_or_default();
                linux.set_namespaces(Some(vec![namespace]));
                spec.set_linux(Some(linux));
            }
        }
        spec.set_annotations(Some(annotations));
        Ok(())
    }

    fn create(
        &self,
        engine: &Engine,
        bundle: Bundle,
        spec: &Spec,
        stdin: bool,
    ) -> Result<Box<dyn Task>> {
        let runtime = engine.wasm_runtime()?;
        if !stdin {
            crate::logs::null_stdin()?;
        }
        let loaded = oci::load(&runtime, spec)?;
        let tree = TreeSpec::from_spec(spec, bundle.dir)?;
        let namespace = spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_ref())
            .and_then(|ns| ns.iter().find(|n| n.typ() == LinuxNamespaceType::Network))
            .and_then(|n| n.path().clone())
            .map(|netns| JoinedNamespace {
                netns,
                etc: bundle.dir.to_path_buf(),
            });
        Ok(Box::new(WasmTask {
            runtime,
            loaded,
            tree,
            namespace,
        }))
    }

    /// A guest's mounts lived in its thread's namespace and went with it;
    /// its changes (`upper/`, `work/`) go with the container's directory.
    fn delete(&self, _engine: &Engine, _bundle: Bundle) {}

    /// SIGSTOP/SIGCONT of the owner the guest runs in: its threads (the
    /// guest's, the epoch ticker, WASI's, a server's) all stop at once,
    /// wherever they are, and a later SIGTERM or SIGKILL still reaches it
    /// (`stop` and `kill` thaw a paused container first).
    fn freeze(&self, _engine: &Engine, bundle: Bundle, owner: i32, frozen: bool) -> Result<()> {
        let sig = if frozen { libc::SIGSTOP } else { libc::SIGCONT };
        // SAFETY: kill(2) has no memory-safety preconditions; owner is a
        // recorded live process (> 0, never a group).
        if owner <= 0 || unsafe { libc::kill(owner, sig) } != 0 {
            return Err(Error::io(
                format!("signalling the process of container {}", bundle.id),
                std::io::Error::last_os_error(),
            ));
        }
        Ok(())
    }

    /// The guest has no processes of its own: the one that hosts it.
    fn processes(&self, _engine: &Engine, _bundle: Bundle, owner: i32) -> Result<Vec<i32>> {
        Ok(vec![owner])
    }

    fn usage(&self, _engine: &Engine, bundle: Bundle, owner: i32) -> Result<wharf_linux::Usage> {
        crate::process::usage(owner).ok_or_else(|| {
            Error::Conflict(format!(
                "container {} is not running (its process {owner} is gone)",
                bundle.id
            ))
        })
    }

    /// The container's tree: while it runs, as its guest's thread sees it
    /// (through that thread's root in /proc, which is in the thread's mount
    /// namespace); otherwise the same overlay of the image and the
    /// container's layer, mounted for this use and unmounted after.
    fn filesystem(&self, bundle: Bundle, rootfs: &Path, owner: Option<i32>) -> Result<Filesystem> {
        if let Some(tid) = owner.and_then(guest_thread) {
            let (pid, tid) = tid;
            let inside = rootfs.strip_prefix("/").unwrap_or(rootfs);
            return Ok(Filesystem {
                root: PathBuf::from(format!("/proc/{pid}/task/{tid}/root")).join(inside),
                release: None,
            });
        }
        let root = wharf_linux::mount_plain_overlay(rootfs, bundle.dir)?;
        let dir = bundle.dir.to_path_buf();
        Ok(Filesystem {
            root,
            release: Some(Box::new(move || {
                let _ = wharf_linux::unmount_overlay(&dir);
            })),
        })
    }
}

/// The thread of process `pid` that runs a guest (named `wharf-guest`).
fn guest_thread(pid: i32) -> Option<(i32, i32)> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
        .filter_map(|t| t.file_name().to_str()?.parse::<i32>().ok())
        .find(|tid| {
            std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm"))
                .is_ok_and(|c| c.trim_end() == GUEST_THREAD)
        })
        .map(|tid| (pid, tid))
}

/// The name of the thread that runs a guest, in its own mount namespace.
const GUEST_THREAD: &str = "wharf-guest";

/// Where clients reach the container's HTTP port (should its component
/// serve HTTP): its published ports, else its address on the network.
fn http_urls(spec: &Spec, joined: &wharf_linux::JoinedNetwork) -> Option<String> {
    let env: Vec<(String, String)> = spec
        .process()
        .as_ref()
        .and_then(|p| p.env().as_ref())
        .into_iter()
        .flatten()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    // A bad port is reported when the server starts.
    let port = wharf_wasm::serve::ServeOptions::from_env(&env, Vec::new())
        .ok()?
        .port;
    let published: Vec<String> = joined
        .published_tcp
        .iter()
        .filter(|(_, _, container)| *container == port)
        .map(|(ip, host_port, _)| {
            let ip = ip.unwrap_or(std::net::Ipv4Addr::LOCALHOST);
            format!("http://{ip}:{host_port}/")
        })
        .collect();
    let urls = if published.is_empty() {
        joined
            .addresses
            .iter()
            .map(|a| format!("http://{a}:{port}/"))
            .collect()
    } else {
        published
    };
    (!urls.is_empty()).then(|| urls.join(" "))
}

struct WasmTask {
    runtime: Runtime,
    loaded: Loaded,
    /// The container's filesystem, mounted by the guest's thread.
    tree: TreeSpec,
    /// The network namespace the guest's thread joins, if it has one.
    namespace: Option<JoinedNamespace>,
}

/// Marks a container whose changes are thrown away when it ends (`run
/// --rm`): its container layer need not be synced.
const EPHEMERAL_ANNOTATION: &str = "dev.wharf.ephemeral";

/// What a Wasm container's tree is made of, read from its spec: the
/// image's snapshot (root.path) under a container layer in the bundle
/// directory, the spec's bind mounts at their destinations, `--read-only`
/// (root.readonly), and the working directory.
struct TreeSpec {
    lower: PathBuf,
    dir: PathBuf,
    binds: Vec<wharf_linux::Bind>,
    read_only: bool,
    ephemeral: bool,
    workdir: String,
}

impl TreeSpec {
    fn from_spec(spec: &Spec, dir: &Path) -> Result<TreeSpec> {
        let root = spec
            .root()
            .as_ref()
            .ok_or_else(|| Error::InvalidArgument("the container's spec has no root".into()))?;
        let binds = oci::bind_mounts(spec)
            .into_iter()
            .map(|m| wharf_linux::Bind {
                host: m.host,
                dest: m.guest,
                read_only: m.read_only,
            })
            .collect();
        Ok(TreeSpec {
            lower: root.path().clone(),
            dir: dir.to_path_buf(),
            binds,
            read_only: root.readonly().unwrap_or(false),
            ephemeral: spec
                .annotations()
                .as_ref()
                .is_some_and(|a| a.contains_key(EPHEMERAL_ANNOTATION)),
            workdir: spec
                .process()
                .as_ref()
                .map(|p| p.cwd().to_string_lossy().into_owned())
                .unwrap_or_else(|| "/".into()),
        })
    }

    /// Mounts the tree in the calling thread's (private) mount namespace
    /// and makes it the guest's one root.
    fn mount_for(&self, guest: &mut wharf_wasm::Guest) -> Result<()> {
        let merged = wharf_linux::Tree {
            lower: &self.lower,
            dir: &self.dir,
            binds: &self.binds,
            read_only: self.read_only,
            ephemeral: self.ephemeral,
            workdir: Some(&self.workdir),
        }
        .mount()?;
        guest.root = Some(merged);
        // The volumes are inside the tree now; the kernel enforces `:ro`
        // and `--read-only` (EROFS, as in a Linux container).
        guest.mounts.clear();
        guest.root_writable = true;
        Ok(())
    }
}

/// The bundle's /etc files for a guest on a network.
const HOSTS: &str = "hosts";
const RESOLV_CONF: &str = "resolv.conf";

/// A network namespace to run the guest in, and the directory holding the
/// hosts and resolv.conf its name lookups must see.
struct JoinedNamespace {
    netns: PathBuf,
    etc: PathBuf,
}

impl JoinedNamespace {
    /// Moves the calling thread, already in a private mount namespace, into
    /// the container's network namespace, with /etc/hosts and
    /// /etc/resolv.conf as the container's for the name lookups the host
    /// does for it (getaddrinfo). Threads it starts afterwards (tokio's,
    /// where wasi:sockets run) inherit both; the rest of the process, which
    /// tears the network down afterwards, stays where it was.
    fn join(&self) -> std::io::Result<()> {
        use nix::mount::{mount, MsFlags};
        use nix::sched::{setns, CloneFlags};
        let netns = std::fs::File::open(&self.netns)?;
        for name in [HOSTS, RESOLV_CONF] {
            mount(
                Some(&self.etc.join(name)),
                &Path::new("/etc").join(name),
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )?;
        }
        setns(netns, CloneFlags::CLONE_NEWNET)?;
        Ok(())
    }
}

impl Task for WasmTask {
    /// An epoch interruption, which stops even a guest spinning in compiled code.
    fn signal_target(&self) -> Box<dyn Fn(i32) + Send> {
        let interrupter = self.runtime.interrupter();
        Box::new(move |sig| interrupter.interrupt(sig))
    }

    /// The guest runs in [`wait`](Task::wait), in this process.
    fn start(&mut self) -> Result<Option<i32>> {
        Ok(None)
    }

    /// The guest runs on a thread of its own, which first makes the
    /// container's tree in a private mount namespace (so nothing of it is
    /// left on the host, whatever happens to this process) and joins the
    /// container's network.
    fn wait(self: Box<Self>) -> Result<Exit> {
        let mut task = *self;
        // A server with no network would otherwise listen on the host's:
        // it gets a namespace of its own, which nothing can reach.
        let isolate =
            task.namespace.is_none() && !task.loaded.guest.network && task.loaded.serves_http();
        let outcome = std::thread::scope(|s| {
            std::thread::Builder::new()
                .name(GUEST_THREAD.into())
                // As much stack as the main thread the guest would have.
                .stack_size(8 << 20)
                .spawn_scoped(s, || {
                    wharf_linux::private_mount_namespace()?;
                    task.tree.mount_for(&mut task.loaded.guest)?;
                    match &task.namespace {
                        Some(namespace) => namespace.join(),
                        None if isolate => isolate_network(),
                        None => Ok(()),
                    }
                    .map_err(|e| Error::io("joining the container's network namespace", e))?;
                    // The tree goes with this thread's namespace.
                    Ok::<_, Error>(task.loaded.run(&task.runtime)?)
                })
                .map_err(|e| Error::io("starting the guest's thread", e))?
                .join()
                .unwrap_or_else(|_| Err(Error::Unsupported("the guest's thread panicked".into())))
        })?;
        Ok(Exit {
            code: outcome.exit_code(),
            message: oci::describe(&outcome),
            oom_killed: false,
        })
    }
}

/// Moves the calling thread into a new network namespace of its own (only
/// loopback, down), saying why on the container's stderr.
fn isolate_network() -> std::io::Result<()> {
    eprintln!(
        "wharf: this component serves HTTP but the container has no network, so nothing can reach it; publish its port (-p 8080:8080) or give it a network (--network)"
    );
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)?;
    Ok(())
}

/// Where a Wasm image keeps its module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ModuleSource {
    /// A layer that is the module itself (CNCF wasm artifacts, runwasi, Spin).
    Layer { digest: String },
    /// A file inside the tar layers, named by the container's args\[0\]
    /// (Docker's `wasi/wasm` images).
    InRootfs,
}

/// "Is it Wasm?" for images: its config says `architecture: wasm`, its
/// config is the CNCF wasm config, or a layer has one of the raw Wasm layer
/// types. Returns where the module is for Wasm images, None for others.
pub(crate) fn image_module(image: &Image) -> Option<ModuleSource> {
    if let Some(layer) = image
        .manifest
        .layers()
        .iter()
        .find(|l| media::is_wasm_layer(l.media_type().as_ref()))
    {
        return Some(ModuleSource::Layer {
            digest: layer.digest().to_string(),
        });
    }
    let wasm_config = image.config_media_type == media::WASM_CONFIG;
    let wasm_platform = image.platform().is_some_and(|p| p.is_wasm());
    (wasm_config || wasm_platform).then_some(ModuleSource::InRootfs)
}

/// The module's host path and, when known without reading it, what
/// identifies its bytes for the code cache (its digest, or for a file in a
/// snapshot the snapshot and path). `args0` is the container's first
/// argument; `cwd` resolves a relative one.
pub(crate) fn locate(
    engine: &Engine,
    source: &ModuleSource,
    rootfs: &Path,
    args0: Option<&str>,
    cwd: &str,
) -> Result<(PathBuf, Option<String>)> {
    match source {
        ModuleSource::Layer { digest } => {
            Ok((engine.store.blob_path(digest)?, Some(digest.clone())))
        }
        ModuleSource::InRootfs => {
            let arg = args0.ok_or_else(|| {
                Error::InvalidArgument(
                    "this Wasm image names no module: it has no ENTRYPOINT or CMD; give the module's path as the command, e.g. `wharf run IMAGE /app.wasm`".into(),
                )
            })?;
            let path = oci::module_in_root(rootfs, arg, cwd)?;
            let identity = snapshot_identity(engine, rootfs, &path);
            Ok((path, identity))
        }
    }
}

/// What names a module file in a snapshot as surely as its digest:
/// snapshots never change once made and are named by the chain id of their
/// layers, so the chain id and the path inside name the bytes. It spares
/// reading and hashing the module on every start.
fn snapshot_identity(engine: &Engine, rootfs: &Path, module: &Path) -> Option<String> {
    if rootfs.parent() != Some(engine.snapshots.dir()) {
        return None;
    }
    let snapshot = rootfs.file_name()?.to_str()?;
    let inside = module.strip_prefix(rootfs).ok()?.to_str()?;
    module_identity(snapshot, inside)
}

/// The code-cache identity of the file `path` (in the image) of snapshot
/// `snapshot` (its directory name). None for a path with `..` in it.
pub(crate) fn module_identity(snapshot: &str, path: &str) -> Option<String> {
    let mut parts = Vec::new();
    for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
        if part == ".." {
            return None;
        }
        parts.push(part);
    }
    Some(format!("snapshot:{snapshot}:/{}", parts.join("/")))
}

/// The path in the image of the module a Wasm image's args\[0\] names
/// (relative to its workdir); `None` when it names none.
pub(crate) fn module_path_in_image(image: &Image) -> Option<String> {
    let (entrypoint, cmd) = crate::spec::image_command(image, None, &[]);
    let arg0 = entrypoint.into_iter().chain(cmd).next()?;
    Some(oci::path_in_image(
        &arg0,
        &crate::spec::image_workdir(image),
    ))
}

/// Checks that a Wasm image's module is valid and compiles it into the
/// code cache, so the first run is warm.
fn precompile(engine: &Engine, image: &Image, rootfs: &Path) -> Result<()> {
    let Some(source) = image_module(image) else {
        return Ok(());
    };
    let (entrypoint, cmd) = crate::spec::image_command(image, None, &[]);
    let args0 = entrypoint.into_iter().chain(cmd).next();
    if args0.is_none() && source == ModuleSource::InRootfs {
        // Nothing named yet: `wharf run IMAGE /app.wasm` names it.
        return Ok(());
    }
    let workdir = crate::spec::image_workdir(image);
    let (path, identity) = locate(engine, &source, rootfs, args0.as_deref(), &workdir)?;
    engine
        .wasm_runtime()?
        .prepare_file(&path, identity.as_deref())?;
    Ok(())
}
