//! The executor seam: the one interface through which the engine runs a
//! container of any kind, shaped like youki's `Executor` and runwasi's
//! `Instance`. An executor says whether it runs an image, completes the
//! container's OCI runtime spec and bundle, creates the container's
//! process(es), starts them, and removes what they left behind. Everything
//! else — records, names, logs, the monitor, stop/kill/rm/inspect — is the
//! engine's and the same for every kind.
//!
//! The executor is chosen once, when a container is created
//! ([`for_image`]), and recorded by name with it ([`by_name`]); nothing else
//! in the engine asks what kind a container is. A new executor is one module
//! implementing [`Executor`] plus one line in [`EXECUTORS`].

mod linux;
pub(crate) mod wasm;

use std::path::Path;

use oci_spec::runtime::{Process, Spec};
use wharf_image::Image;
use wharf_linux::LinuxOptions;

use crate::{Engine, Error, Result};

pub(crate) use linux::LINUX;
pub use linux::{runtime_state_dir, LinuxFlags};

/// What a container is to its executor: an id and a directory, the OCI
/// bundle that holds its `config.json` and whatever the executor keeps
/// beside it (an overlay, /etc files).
#[derive(Debug, Clone, Copy)]
pub struct Bundle<'a> {
    pub id: &'a str,
    pub dir: &'a Path,
}

/// What an executor completes a container's spec from, beyond the spec itself.
pub struct PrepareInput<'a> {
    /// The image the container runs (None for build steps, which run over
    /// a build's layers so far).
    pub image: Option<&'a Image>,
    /// The read-only tree of the image's layers (also the spec's root.path
    /// until the executor changes it).
    pub rootfs: &'a Path,
    /// Docker's Linux-only `run` flags, checked (with the user to run as:
    /// `-u`, else the image's USER). Executors of other kinds ignore them.
    pub linux: &'a LinuxOptions,
    /// The container's changes are thrown away when it ends (`run --rm`,
    /// a build step).
    pub ephemeral: bool,
}

/// How a container's process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// Exit status, or 128 + the signal that ended it.
    pub code: i32,
    /// Why it ended abnormally, for stderr and `inspect`'s State.Error.
    pub message: Option<String>,
    pub oom_killed: bool,
}

/// One kind of container.
pub trait Executor: Sync {
    /// The name recorded with each container this executor runs.
    fn name(&self) -> &'static str;

    /// Whether this executor runs `image` (runwasi's `can_handle`).
    fn handles(&self, image: &Image) -> bool;

    /// Whether the container runs inside the process that owns it (the
    /// foreground `wharf run` or the monitor) rather than as processes of
    /// its own. Such a container is recorded running from its creation, and
    /// a signal it cannot notice (blocked in a host call) ends its owner.
    fn runs_in_owner(&self) -> bool;

    /// Whether containers of this kind can be put on a network: join a
    /// namespace wired for them (a bridge network), or the host's.
    fn joins_networks(&self) -> bool;

    /// Whether a container given no network flag is put on the default
    /// network (`bridge`, with outbound NAT), as Docker does for Linux
    /// containers. False: it gets none (Wasm's deny-by-default).
    fn networked_by_default(&self) -> bool {
        false
    }

    /// args\[0\] for an image that names no program, if this kind has one.
    fn default_entrypoint(&self, _image: &Image, _image_name: &str) -> Vec<String> {
        Vec::new()
    }

    /// Readies what containers of `image` need, once, when the image enters
    /// the store (build, load, pull), so a bad image is refused before it is
    /// tagged and the first start is as fast as the next.
    fn image_ready(&self, _engine: &Engine, _image: &Image, _rootfs: &Path) -> Result<()> {
        Ok(())
    }

    /// Whether this host can run `image`'s command at all, for a build that
    /// made it for this host by default (no `--platform`): an image that
    /// could never run stops the build with the reason.
    fn check_runs_here(&self, _image: &Image, _rootfs: &Path) -> Result<()> {
        Ok(())
    }

    /// Completes `spec` (process, root, mounts and limits already set from
    /// the image and the flags) with what this kind needs, and makes the
    /// bundle around it. Undone by [`delete`](Executor::delete).
    fn prepare(
        &self,
        engine: &Engine,
        bundle: Bundle,
        spec: &mut Spec,
        input: &PrepareInput,
    ) -> Result<()>;

    /// Creates the container from its prepared spec, in and under this
    /// process, ready to [`Task::start`]. `stdin`: the container reads this
    /// process's stdin (else nothing).
    fn create(
        &self,
        engine: &Engine,
        bundle: Bundle,
        spec: &Spec,
        stdin: bool,
    ) -> Result<Box<dyn Task>>;

    /// Runs another process in the running container (`wharf exec`).
    fn exec(
        &self,
        _engine: &Engine,
        _bundle: Bundle,
        _spec: &Spec,
        _process: Process,
        _io: ExecIo,
    ) -> Result<i32> {
        Err(Error::Unsupported(format!(
            "{} containers run a single guest with no processes or OS to exec into; exec works on Linux containers",
            self.name()
        )))
    }

    /// Makes an exited container runnable again from its spec (a restart by
    /// its monitor): gives back what `wait` released and `create` needs.
    fn rearm(&self, _engine: &Engine, _bundle: Bundle, _rootfs: &Path) -> Result<()> {
        Ok(())
    }

    /// Removes everything the container left on the host. Never fails;
    /// safe to call more than once and on a container that never ran.
    fn delete(&self, engine: &Engine, bundle: Bundle);

    /// Freezes (`pause`) or thaws (`unpause`) the running container's
    /// processes. `owner`: the process that owns it (monitor or foreground run).
    fn freeze(&self, engine: &Engine, bundle: Bundle, owner: i32, frozen: bool) -> Result<()>;

    /// Host pids of the running container's processes (`top`).
    fn processes(&self, engine: &Engine, bundle: Bundle, owner: i32) -> Result<Vec<i32>>;

    /// The running container's resource use so far (`stats`).
    fn usage(&self, engine: &Engine, bundle: Bundle, owner: i32) -> Result<wharf_linux::Usage>;

    /// The container's root filesystem as the host sees it (`cp`, `export`);
    /// `owner` is the process that owns it while it runs.
    fn filesystem(&self, bundle: Bundle, rootfs: &Path, owner: Option<i32>) -> Result<Filesystem>;
}

/// A container's root filesystem on the host, for `cp` and `export`.
pub struct Filesystem {
    pub root: std::path::PathBuf,
    /// Undoes a mount made for this use only, when dropped.
    release: Option<Box<dyn FnOnce()>>,
}

impl Drop for Filesystem {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            release();
        }
    }
}

/// How `wharf exec` runs the new process: as whom, and how it is connected.
#[derive(Debug, Clone)]
pub struct ExecIo {
    /// `-u`: a name or uid\[:gid\] as the container's /etc/passwd knows it.
    pub user: Option<String>,
    pub interactive: bool,
    pub tty: bool,
}

/// A created container, owned by this process.
pub trait Task {
    /// Where signals for the container go from now on: called from the
    /// signal thread with the signal number.
    fn signal_target(&self) -> Box<dyn Fn(i32) + Send>;

    /// Starts the container's process; returns its host pid when it is not
    /// this process.
    fn start(&mut self) -> Result<Option<i32>>;

    /// Waits until the container has ended and its processes are gone.
    fn wait(self: Box<Self>) -> Result<Exit>;
}

static WASM: wasm::WasmExecutor = wasm::WasmExecutor;

/// Every executor, in the order they are asked whether they run an image:
/// the first that does, runs it. Linux runs anything, so it comes last.
pub(crate) const EXECUTORS: &[&dyn Executor] = &[&WASM, &LINUX];

/// The executor that runs containers of `image`.
pub(crate) fn for_image(image: &Image) -> &'static dyn Executor {
    EXECUTORS
        .iter()
        .copied()
        .find(|e| e.handles(image))
        .unwrap_or(&LINUX)
}

/// The executor a container was created with.
pub(crate) fn by_name(name: &str) -> Result<&'static dyn Executor> {
    EXECUTORS
        .iter()
        .copied()
        .find(|e| e.name() == name)
        .ok_or_else(|| {
            Error::Corrupt(format!(
                "a container records the executor \"{name}\", which this wharf does not have; remove it with wharf rm -f"
            ))
        })
}

/// The name of the executor that runs `image`, for `wharf images`/`inspect`.
pub fn image_kind(image: &Image) -> &'static str {
    for_image(image).name()
}
