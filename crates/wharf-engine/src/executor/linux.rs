//! The `linux` executor: a Linux container through wharf-linux (youki's
//! libcontainer underneath), created then started like runc does. The
//! container's directory is its OCI bundle: config.json, the overlay
//! (upper/work/merged over the image snapshot) and the /etc files the
//! defaults write. `wharf run`, `wharf exec` and build's `RUN` all come
//! through here.

use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use oci_spec::runtime::{Process, Spec, UserBuilder};
use wharf_image::Image;
use wharf_linux::{CreateOptions, Created, LinuxOptions, Seccomp, Started, Stdio};

use super::{Bundle, ExecIo, Executor, Exit, Filesystem, PrepareInput, Task};
use crate::{Engine, Error, Result};

pub(crate) struct LinuxExecutor;

pub(crate) static LINUX: LinuxExecutor = LinuxExecutor;

/// Docker's Linux-only `run` flags, as given.
#[derive(Debug, Default, Clone)]
pub struct LinuxFlags {
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub security_opt: Vec<String>,
    pub read_only: bool,
    pub cpus: Option<f64>,
    pub pids_limit: Option<i64>,
    pub tmpfs: Vec<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    /// `--ulimit NAME=SOFT[:HARD]`.
    pub ulimits: Vec<String>,
    /// `--privileged`.
    pub privileged: bool,
    /// `--init`.
    pub init: bool,
}

impl LinuxFlags {
    /// The Linux-only flags as wharf-linux's options, checked, so that a
    /// typo fails before anything is created. (The limits, hostname and
    /// read-only root go into the spec: see [`crate::spec::build`].)
    pub fn options(&self) -> Result<LinuxOptions> {
        let mut opts = LinuxOptions {
            cap_add: self.cap_add.clone(),
            cap_drop: self.cap_drop.clone(),
            tmpfs: self.tmpfs.clone(),
            user: self.user.clone(),
            rlimits: self
                .ulimits
                .iter()
                .map(|u| crate::flags::parse_ulimit(u))
                .collect::<Result<_>>()?,
            privileged: self.privileged,
            ..LinuxOptions::default()
        };
        for opt in &self.security_opt {
            let (key, value) = opt.split_once(['=', ':']).unwrap_or((opt.as_str(), "true"));
            match (key, value) {
                ("no-new-privileges", v) => {
                    opts.no_new_privileges = v.parse().map_err(|_| bad_security_opt(opt))?;
                }
                ("seccomp", "unconfined") => opts.seccomp = Seccomp::Unconfined,
                ("seccomp", file) => {
                    let path = std::fs::canonicalize(file).map_err(|e| {
                        Error::InvalidArgument(format!(
                            "--security-opt {opt}: cannot read the seccomp profile {file}: {e}"
                        ))
                    })?;
                    opts.seccomp = Seccomp::File(path);
                }
                _ => return Err(bad_security_opt(opt)),
            }
        }
        Ok(opts)
    }
}

fn bad_security_opt(opt: &str) -> Error {
    Error::InvalidArgument(format!(
        "invalid --security-opt \"{opt}\": supported are no-new-privileges[=true|false], seccomp=unconfined and seccomp=PROFILE.json"
    ))
}

impl LinuxExecutor {
    /// [`Executor::create`]; with `die_with_parent` the container's init is
    /// killed when this process dies (a build's RUN step: it belongs to its
    /// build, and a killed build must not leave it running).
    pub(crate) fn create_owned(
        &self,
        engine: &Engine,
        bundle: Bundle,
        spec: &Spec,
        stdin: bool,
        die_with_parent: bool,
    ) -> Result<Box<dyn Task>> {
        let state_root = runtime_state_dir(&engine.root);
        let opts = CreateOptions {
            stdio: Some(inherit_stdio(stdin)?),
            die_with_parent,
            ..CreateOptions::default()
        };
        // libcontainer records the bundle path: it must not depend on the
        // caller's working directory (a relative --root).
        let dir = if bundle.dir.is_absolute() {
            bundle.dir.to_path_buf()
        } else {
            std::fs::canonicalize(bundle.dir)
                .map_err(|e| Error::io("finding the container's directory", e))?
        };
        let cgroups = spec
            .linux()
            .as_ref()
            .and_then(|l| l.cgroups_path().clone())
            .unwrap_or_else(|| format!("/wharf/{}", bundle.id).into());
        let created = wharf_linux::create_held(&state_root, bundle.id, &dir, spec.clone(), opts)?;
        Ok(Box::new(LinuxTask {
            state_root,
            id: bundle.id.to_string(),
            dir,
            cgroups,
            state: TaskState::Created(Box::new(created)),
            interactive: stdin,
            terminal: None,
        }))
    }
}

impl Executor for LinuxExecutor {
    fn name(&self) -> &'static str {
        "linux"
    }

    /// Any image the Wasm executor does not take is a Linux one.
    fn handles(&self, _image: &Image) -> bool {
        true
    }

    fn runs_in_owner(&self) -> bool {
        false
    }

    /// By the namespace's path in the spec (libcontainer joins it).
    fn joins_networks(&self) -> bool {
        true
    }

    /// Docker's default: the `bridge` network. After the first container
    /// it costs about a millisecond (wharf-net hands out wired namespaces).
    fn networked_by_default(&self) -> bool {
        true
    }

    /// A Wasm module or a binary for another machine as the command.
    fn check_runs_here(&self, image: &Image, rootfs: &Path) -> Result<()> {
        let (entrypoint, cmd) = crate::spec::image_command(image, None, &[]);
        let Some(arg0) = entrypoint.first().or(cmd.first()) else {
            return Ok(());
        };
        let cwd = crate::spec::image_workdir(image);
        let env = crate::spec::image_env(image);
        wharf_linux::check_command(rootfs, arg0, &env, Path::new(&cwd)).map_err(|e| {
            Error::InvalidArgument(format!(
                "a build without --platform makes an image for this host ({}), and that could not run its command: {e}",
                wharf_image::Platform::host()
            ))
        })
    }

    /// Mounts the container's overlay over the image's tree and completes
    /// the spec with Docker's defaults.
    fn prepare(
        &self,
        engine: &Engine,
        bundle: Bundle,
        spec: &mut Spec,
        input: &PrepareInput,
    ) -> Result<()> {
        wharf_linux::check_program(spec, input.rootfs)?;
        notice_rlimit_clamp(&engine.root);
        let merged = wharf_linux::mount_overlay(input.rootfs, bundle.dir, input.ephemeral)?;
        let applied =
            wharf_linux::apply_defaults(spec, bundle.id, &merged, bundle.dir, input.linux);
        if let Err(e) = applied {
            let _ = wharf_linux::unmount_overlay(bundle.dir);
            return Err(e.into());
        }
        if let Err(e) = resolve_in_rootfs(spec, &merged) {
            let _ = wharf_linux::unmount_overlay(bundle.dir);
            return Err(e);
        }
        Ok(())
    }

    fn create(
        &self,
        engine: &Engine,
        bundle: Bundle,
        spec: &Spec,
        stdin: bool,
    ) -> Result<Box<dyn Task>> {
        self.create_owned(engine, bundle, spec, stdin, false)
    }

    /// Joins the running container through libcontainer's tenant builder;
    /// with `-t` a pty made here is the process's stdio, pumped to ours.
    fn exec(
        &self,
        engine: &Engine,
        bundle: Bundle,
        spec: &Spec,
        mut process: Process,
        io: ExecIo,
    ) -> Result<i32> {
        if let Some(u) = io.user.as_deref() {
            let rootfs = spec
                .root()
                .as_ref()
                .map(|r| r.path().clone())
                .unwrap_or_default();
            let r = wharf_linux::resolve_user(&rootfs, Some(u))?;
            let user = UserBuilder::default()
                .uid(r.uid)
                .gid(r.gid)
                .additional_gids(r.additional_gids)
                .build()
                .map_err(|e| Error::InvalidArgument(format!("user {u}: {e}")))?;
            process.set_user(user);
        }
        process.set_terminal(Some(false));
        let state_root = runtime_state_dir(&engine.root);
        if !io.tty {
            let stdio = inherit_stdio(io.interactive)?;
            return Ok(wharf_linux::exec(&state_root, bundle.id, process, stdio)?);
        }
        let pty =
            nix::pty::openpty(None, None).map_err(|e| Error::io("allocating a pty", e.into()))?;
        let dup = |what| pty.slave.try_clone().map_err(|e| Error::io(what, e));
        let stdio = Stdio {
            stdin: Some(dup("pty")?),
            stdout: dup("pty")?,
            stderr: dup("pty")?,
        };
        drop(pty.slave);
        let _raw = wharf_linux::RawMode::enter();
        let output = wharf_linux::pump(pty.master, io.interactive)
            .map_err(|e| Error::io("attaching the terminal", e))?;
        let code = wharf_linux::exec(&state_root, bundle.id, process, stdio)?;
        let _ = output.join();
        Ok(code)
    }

    /// The container's libcontainer state and cgroups, and its overlay mount.
    /// `wait` unmounted the overlay; the upper dir (the container's
    /// changes) is still there, so the restarted container sees them.
    fn rearm(&self, _engine: &Engine, bundle: Bundle, rootfs: &Path) -> Result<()> {
        wharf_linux::mount_overlay(rootfs, bundle.dir, false)?;
        Ok(())
    }

    fn delete(&self, engine: &Engine, bundle: Bundle) {
        let _ = wharf_linux::delete(&runtime_state_dir(&engine.root), bundle.id, true);
        let _ = wharf_linux::unmount_overlay(bundle.dir);
    }

    /// The cgroup freezer (v1 `freezer.state`, v2 `cgroup.freeze`), through
    /// libcontainer, which records the container as paused.
    fn freeze(&self, engine: &Engine, bundle: Bundle, _owner: i32, frozen: bool) -> Result<()> {
        let state_root = runtime_state_dir(&engine.root);
        if frozen {
            wharf_linux::pause(&state_root, bundle.id)?;
        } else {
            wharf_linux::resume(&state_root, bundle.id)?;
        }
        Ok(())
    }

    /// Every process in the container's cgroup.
    fn processes(&self, engine: &Engine, bundle: Bundle, _owner: i32) -> Result<Vec<i32>> {
        Ok(wharf_linux::pids(
            &runtime_state_dir(&engine.root),
            bundle.id,
        )?)
    }

    fn usage(&self, engine: &Engine, bundle: Bundle, _owner: i32) -> Result<wharf_linux::Usage> {
        Ok(wharf_linux::usage(
            &runtime_state_dir(&engine.root),
            bundle.id,
        )?)
    }

    /// The overlay's merged view: mounted while the container exists
    /// (created or running); for an exited one it is mounted for this use
    /// and unmounted after, so the upper dir over the image is what is seen.
    fn filesystem(&self, bundle: Bundle, rootfs: &Path, _owner: Option<i32>) -> Result<Filesystem> {
        let mounted = wharf_linux::is_overlay_mounted(bundle.dir);
        let root = wharf_linux::mount_overlay(rootfs, bundle.dir, false)?;
        let dir = bundle.dir.to_path_buf();
        Ok(Filesystem {
            root,
            release: (!mounted).then(|| {
                Box::new(move || {
                    let _ = wharf_linux::unmount_overlay(&dir);
                }) as Box<dyn FnOnce()>
            }),
        })
    }
}

/// A Linux container this process created: its init waits in its
/// namespaces until started, then runs the container's process.
struct LinuxTask {
    state_root: PathBuf,
    id: String,
    dir: PathBuf,
    cgroups: PathBuf,
    state: TaskState,
    interactive: bool,
    /// With a terminal: this terminal in raw mode and the thread copying
    /// the container's pty to stdout, from start until the end.
    terminal: Option<(wharf_linux::RawMode, JoinHandle<()>)>,
}

impl Task for LinuxTask {
    /// Signals go to the container's init directly, so a killed owner does
    /// not leave an unkillable container.
    fn signal_target(&self) -> Box<dyn Fn(i32) + Send> {
        let pid = self.state.pid();
        Box::new(move |sig| {
            if pid > 0 {
                // SAFETY: kill(2) has no memory-safety preconditions.
                unsafe { libc::kill(pid, sig) };
            }
        })
    }

    fn start(&mut self) -> Result<Option<i32>> {
        let TaskState::Created(created) = std::mem::replace(&mut self.state, TaskState::Gone)
        else {
            return Err(Error::Conflict(format!(
                "container {} was already started",
                self.id
            )));
        };
        let started = created.start()?;
        let pid = started.pid;
        if let Some(master) = &started.pty_master {
            let raw = wharf_linux::RawMode::enter();
            let output = master
                .try_clone()
                .and_then(|m| wharf_linux::pump(m, self.interactive))
                .map_err(|e| Error::io("attaching the container's terminal", e))?;
            self.terminal = Some((raw, output));
        }
        self.state = TaskState::Started(started);
        Ok(Some(pid))
    }

    /// Reaps the init and removes the container's cgroups, state and
    /// overlay mount (the upper dir stays for `inspect`/a later layer).
    fn wait(self: Box<Self>) -> Result<Exit> {
        let TaskState::Started(started) = &self.state else {
            return Err(Error::Conflict(format!(
                "container {} was never started",
                self.id
            )));
        };
        let exit = wharf_linux::wait_and_remove(&self.state_root, &self.id, started, &self.cgroups);
        if let Some((raw, output)) = self.terminal {
            let _ = output.join();
            drop(raw);
        }
        match &exit {
            Ok(_) => {
                let _ = wharf_linux::unmount_overlay(&self.dir);
            }
            Err(_) => {
                let _ = wharf_linux::delete(&self.state_root, &self.id, true);
                let _ = wharf_linux::unmount_overlay(&self.dir);
            }
        }
        let exit = exit?;
        Ok(Exit {
            code: exit.code,
            message: None,
            oom_killed: exit.oom_killed,
        })
    }
}

enum TaskState {
    /// Boxed: libcontainer's handle is large, and a task moves once.
    Created(Box<Created>),
    Started(Started),
    /// Between the two, or after a failed start.
    Gone,
}

impl TaskState {
    /// The container's init, or 0 when there is none.
    fn pid(&self) -> i32 {
        match self {
            TaskState::Created(c) => c.pid(),
            TaskState::Started(s) => s.pid,
            TaskState::Gone => 0,
        }
    }
}

/// Where libcontainer keeps its per-container state, and Wharf its shadow
/// bundles and compiled seccomp filters: runtime state that must not outlive
/// a boot, so on a tmpfs as Docker's /run/docker is, at
/// `wharf-<hash of the store>.run` under /run or /dev/shm (whichever is a
/// tmpfs first). Where neither is, or that directory is not ours alone, it is
/// `<root>/run`. Linux containers need root, so $XDG_RUNTIME_DIR plays no
/// part: the answer must not change with the caller's session.
pub fn runtime_state_dir(root: &Path) -> PathBuf {
    crate::fsutil::tmpfs_dir_for(root, ".run", ["/run", "/dev/shm"].map(PathBuf::from))
        .filter(|dir| crate::fsutil::ensure_private_dir(dir))
        .unwrap_or_else(|| root.join("run"))
}

/// Says once per Wharf root (not on every run) that containers get a lower
/// open-files limit than Docker's because this process cannot raise it.
fn notice_rlimit_clamp(root: &Path) {
    if let Some((wanted, granted)) = wharf_linux::nofile_clamp() {
        let marker = root.join(".rlimit-notice");
        if std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&marker)
            .is_ok()
        {
            eprintln!(
                "wharf: containers get RLIMIT_NOFILE {granted} instead of Docker's {wanted}: that is this process's hard limit, and raising it needs CAP_SYS_RESOURCE (said once; delete {} to see it again)",
                marker.display()
            );
        }
    }
}

/// Stdio for a container process: this process's fds 0/1/2 (wharf-linux
/// keeps them usable when they point at /dev/null).
fn inherit_stdio(stdin: bool) -> Result<Stdio> {
    let dup = |fd: i32| -> Result<OwnedFd> {
        // SAFETY: fds 0-2 stay open for the life of the process.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        borrowed
            .try_clone_to_owned()
            .map_err(|e| Error::io("duplicating stdio", e))
    };
    Ok(Stdio {
        stdin: if stdin { Some(dup(0)?) } else { None },
        stdout: dup(1)?,
        stderr: dup(2)?,
    })
}

/// Mount destinations and the working directory resolved inside the
/// container's tree, as runc resolves them: an absolute symlink in the image
/// (`/etc -> /private/etc`, a `-v`, `--tmpfs` or `-w` path through one) is
/// followed within `merged`, not refused by libcontainer with "failed to
/// prepare rootfs". A missing working directory is made, as Docker does.
fn resolve_in_rootfs(spec: &mut Spec, merged: &Path) -> Result<()> {
    let inside = |p: &Path| -> PathBuf {
        let host = wharf_snapshot::resolve_in_root_for_create(merged, p);
        Path::new("/").join(host.strip_prefix(merged).unwrap_or(Path::new("")))
    };
    if let Some(mounts) = spec.mounts().clone() {
        let mounts = mounts
            .into_iter()
            .map(|mut m| {
                let dest = inside(m.destination());
                if dest != *m.destination() {
                    m.set_destination(dest);
                }
                m
            })
            .collect();
        spec.set_mounts(Some(mounts));
    }
    if let Some(mut process) = spec.process().clone() {
        let cwd = inside(process.cwd());
        let host = merged.join(cwd.strip_prefix("/").unwrap_or(&cwd));
        match std::fs::symlink_metadata(&host) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::InvalidArgument(format!(
                "the working directory {} is not a directory in the image; give another with -w",
                process.cwd().display()
            )))
            }
            Err(_) => std::fs::create_dir_all(&host).map_err(|e| {
                Error::io(
                    format!(
                        "creating the working directory {} in the container",
                        process.cwd().display()
                    ),
                    e,
                )
            })?,
        }
        if cwd != *process.cwd() {
            process.set_cwd(cwd);
            spec.set_process(Some(process));
        }
    }
    Ok(())
}
