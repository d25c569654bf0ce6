//! `wharf run`: image + flags → container record + runtime spec → a guest
//! run in the foreground, or under a detached monitor. Both kinds take the
//! same path; they differ only in the executor that runs the spec.
//!
//! This is the measured start path: one index lookup, one stat of the
//! snapshot, and for Wasm one module read (for its digest) and one cache
//! read; no directory scans and no locks.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use oci_spec::runtime::Spec;

use crate::container::{Container, NewContainer, Settings};
use crate::executor::{self, Executor, LinuxFlags, PrepareInput};
use crate::health::HealthFlags;
use crate::logs::Capture;
use crate::networks::{NetworkFlags, NetworkMode};
use crate::spec::{self, SpecInput};
use crate::{monitor, process, signals, Engine, Error, Platform, Result};

/// How long a signalled Wasm guest may take to notice before its owner exits anyway.
const SIGNAL_GRACE_MS: u64 = 1000;

#[derive(Debug, Default, Clone)]
pub struct RunOptions {
    pub image: String,
    pub args: Vec<String>,
    pub name: Option<String>,
    pub rm: bool,
    pub detach: bool,
    pub interactive: bool,
    pub tty: bool,
    pub env: Vec<String>,
    pub volumes: Vec<String>,
    pub workdir: Option<String>,
    pub entrypoint: Option<String>,
    pub memory: Option<String>,
    pub platform: Option<String>,
    /// `--network`, `--network-alias`, `--ip`, `-p`.
    pub network: NetworkFlags,
    /// Flags that only Linux containers take (a Wasm guest has no users,
    /// capabilities or processes to limit).
    pub linux: LinuxFlags,
    /// `-l`/`--label`: `KEY=VALUE` (or `KEY`, an empty value), kept in the
    /// container's record for `ps --filter label=...` and `inspect`.
    pub labels: Vec<String>,
    /// `--restart`: no, always, unless-stopped, on-failure[:N]; applied by
    /// a detached container's monitor (see `restart.rs`).
    pub restart: Option<String>,
    /// `--stop-signal` (a name or number; default the image's STOPSIGNAL, else SIGTERM).
    pub stop_signal: Option<String>,
    /// `--stop-timeout` in seconds (default 10; -1 waits forever).
    pub stop_timeout: Option<i64>,
    /// `--cidfile`: the container's id is written there (refused if it exists).
    pub cidfile: Option<PathBuf>,
    /// `--pull`: always, missing (the default) or never.
    pub pull: Option<String>,
    /// `--mount type=bind|volume|tmpfs,source=..,target=..[,readonly]`.
    pub mounts: Vec<String>,
    /// `--health-cmd` and friends.
    pub health: HealthFlags,
    /// `--runtime`: a containerd shim's or an OCI runtime's name.
    pub runtime: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum RunResult {
    /// The foreground container ended with this exit code.
    Exited(i32),
    /// The container runs under its monitor; this is its id.
    Detached(String),
}

impl Engine {
    pub fn run(&self, opts: &RunOptions) -> Result<RunResult> {
        let (container, spec) = self.make(opts, false)?;
        if opts.detach {
            monitor::spawn(self, &container)?;
            Ok(RunResult::Detached(container.state.id))
        } else {
            // `--rm` containers keep no logs (nothing could read them), so their
            // output goes straight to the terminal; others are teed into the log.
            let capture = !container.state.auto_remove;
            self.supervise(container, &spec, capture, opts.interactive, None)
                .map(RunResult::Exited)
        }
    }

    /// `wharf create`: everything `run` does before the container starts
    /// (record, name, networks, spec and bundle), leaving it `created` for
    /// `start`. Returns its id.
    pub fn create(&self, opts: &RunOptions) -> Result<String> {
        let (container, _) = self.make(opts, true)?;
        Ok(container.state.id)
    }

    /// Makes the container `opts` describe, up to its written config.json.
    /// `created_only`: for `wharf create`, whose container is started later
    /// (detached by `start`, or attached by `start -a`), so no process owns
    /// it yet and a restart policy needs no -d.
    fn make(&self, opts: &RunOptions, created_only: bool) -> Result<(Container, Spec)> {
        // Flags are checked before anything is created, so a typo leaves nothing behind.
        let platform = opts
            .platform
            .as_deref()
            .map(str::parse::<Platform>)
            .transpose()?;
        let memory = opts.memory.as_deref().map(spec::parse_memory).transpose()?;
        let mut volumes = opts
            .volumes
            .iter()
            .map(|v| spec::parse_volume(v))
            .collect::<Result<Vec<_>>>()?;
        if let Some(w) = opts.workdir.as_deref().filter(|w| !w.starts_with('/')) {
            return Err(Error::InvalidArgument(format!(
                "the working directory \"{w}\" is invalid: it must be an absolute path"
            )));
        }
        let mut linux = opts.linux.options()?;
        let cpus = spec::parse_cpus(opts.linux.cpus)?;
        let (network_mode, ports) = opts.network.parse()?;
        opts.network.apply_etc(&mut linux)?;
        let labels = parse_labels(&opts.labels)?;
        for m in &opts.mounts {
            match crate::flags::parse_mount(m)? {
                crate::flags::Mount::Volume(v) => volumes.push(v),
                crate::flags::Mount::Tmpfs(t) => linux.tmpfs.push(t),
            }
        }
        let healthcheck = opts.health.config()?;
        let pull = crate::flags::PullPolicy::parse(opts.pull.as_deref())?;
        let runtime = opts
            .runtime
            .as_deref()
            .map(crate::flags::parse_runtime)
            .transpose()?;
        if let Some(sig) = &opts.stop_signal {
            wharf_linux::parse_signal(sig)?;
        }
        if let Some(path) = opts.cidfile.as_deref().filter(|p| p.exists()) {
            return Err(Error::Conflict(format!(
                "Container ID file found, make sure the other container isn't running or delete {}",
                path.display()
            )));
        }
        let restart = opts.restart.as_deref().unwrap_or_default();
        let policy = crate::restart::RestartPolicy::parse(restart)?;
        if policy != crate::restart::RestartPolicy::No {
            if opts.rm {
                return Err(Error::InvalidArgument(
                    "conflicting options: --restart and --rm: a container removed when it exits cannot be restarted; drop one".into(),
                ));
            }
            if !opts.detach && !created_only {
                return Err(Error::InvalidArgument(
                    "--restart needs -d: the restarts are done by a detached container's monitor process (Wharf has no daemon)".into(),
                ));
            }
        }

        if pull == crate::flags::PullPolicy::Always {
            self.pull_always(&opts.image, platform.as_ref())?;
        }
        let image = match self.store.resolve(&opts.image, platform.as_ref()) {
            Err(wharf_image::Error::ImageNotFound(_))
                if pull == crate::flags::PullPolicy::Never =>
            {
                return Err(Error::InvalidArgument(format!(
                    "No such image: {} (--pull never: pull or build it first)",
                    opts.image
                )))
            }
            // Like Docker, a missing image that names a registry is pulled first.
            Err(wharf_image::Error::ImageNotFound(_))
                if crate::registry::names_registry(&opts.image) =>
            {
                self.pull_for_run(&opts.image, platform.as_ref())?;
                self.store.resolve(&opts.image, platform.as_ref())?
            }
            other => other.map_err(|e| {
                self.if_image_removed(&opts.image, platform.as_ref(), None, None, e.into())
            })?,
        };
        if image.platform_fallback {
            eprintln!(
                "wharf: {} has no variant for this host's platform; running its Wasm variant",
                opts.image
            );
        }
        if let Some(p) = image
            .platform()
            .filter(|p| !p.is_wasm() && *p != Platform::host())
        {
            return Err(Error::Unsupported(format!(
                "{} is an image for {p}, and this host runs {}: pick another platform (--platform) or image",
                opts.image,
                Platform::host()
            )));
        }
        let executor = executor::for_image(&image);
        let wasm = executor.runs_in_owner();
        if let Some(p) = &platform {
            if p.is_wasm() != wasm {
                return Err(Error::Unsupported(format!(
                    "{} is a {} image with no {p} variant: drop --platform, or pick an image built for {p}",
                    opts.image,
                    if wasm { "Wasm (wasi/wasm)" } else { "Linux" },
                )));
            }
        }
        if let Some((kind, note)) = &runtime {
            let wanted = match kind {
                crate::flags::RuntimeKind::Wasm => Some(true),
                crate::flags::RuntimeKind::Linux => Some(false),
                crate::flags::RuntimeKind::Any => None,
            };
            if wanted.is_some_and(|w| w != wasm) {
                return Err(Error::Unsupported(format!(
                    "--runtime {} runs {} containers, and {} is a {} image; drop --runtime or name a {} runtime",
                    opts.runtime.as_deref().unwrap_or_default(),
                    if wasm { "Linux" } else { "Wasm" },
                    opts.image,
                    if wasm { "Wasm" } else { "Linux" },
                    if wasm { "Wasm (io.containerd.wasmtime.v1)" } else { "Linux (runc, crun)" },
                )));
            }
            if let Some(note) = note {
                eprintln!("{note}");
            }
        }
        if wasm {
            refuse_or_warn_for_wasm(opts, healthcheck.is_some())?;
        } else if opts.linux.init {
            linux.init = Some(crate::init::installed(self)?);
        }
        let network_mode = if opts.network.is_default() && executor.networked_by_default() {
            NetworkMode::Bridges(vec![wharf_net::DEFAULT_NETWORK.to_string()])
        } else {
            network_mode
        };
        if network_mode != NetworkMode::None && !executor.joins_networks() {
            return Err(Error::Unsupported(format!(
                "{} runs as a {} container, which cannot be put on a network; run it without --network and -p",
                opts.image,
                executor.name()
            )));
        }
        let rootfs = self.unpack(&image).map_err(|e| {
            self.if_image_removed(&opts.image, platform.as_ref(), Some(&image.id()), None, e)
        })?;
        let (mut entrypoint, cmd) =
            spec::image_command(&image, opts.entrypoint.as_deref(), &opts.args);
        if entrypoint.is_empty() {
            entrypoint = executor.default_entrypoint(&image, &opts.image);
        }
        let args: Vec<String> = entrypoint.iter().chain(&cmd).cloned().collect();
        if args.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "no command: {} has no ENTRYPOINT or CMD; give one after the image name",
                opts.image
            )));
        }
        let cwd = opts
            .workdir
            .clone()
            .unwrap_or_else(|| spec::image_workdir(&image));
        let env = spec::merge_env(spec::image_env(&image), &opts.env)?;
        linux.user = opts.linux.user.clone().or_else(|| spec::image_user(&image));
        let bridges = match &network_mode {
            NetworkMode::Bridges(names) => names.clone(),
            _ => Vec::new(),
        };

        // Named volumes are resolved (made, filled) last before the record
        // that names them, under their lock until it is written.
        let in_use = self.use_volumes(&mut volumes, &rootfs)?;
        let container = self
            .containers
            .create(&NewContainer {
                name: opts.name.as_deref(),
                image: &opts.image,
                image_id: &image.id(),
                executor: executor.name(),
                auto_remove: opts.rm,
                rootfs: &rootfs,
                entrypoint: &entrypoint,
                cmd: &cmd,
                owner: (executor.runs_in_owner() && !opts.detach && !created_only)
                    .then(|| std::process::id() as i32),
                networks: &bridges,
                volumes: &in_use.names,
                labels: &labels,
                restart,
                settings: Settings {
                    stop_signal: opts
                        .stop_signal
                        .clone()
                        .or_else(|| spec::image_stop_signal(&image))
                        .unwrap_or_default(),
                    stop_timeout: opts.stop_timeout,
                    runtime: opts.runtime.clone().unwrap_or_default(),
                    healthcheck,
                    init: opts.linux.init && !wasm,
                    privileged: opts.linux.privileged,
                },
            })
            .inspect_err(|_| self.abandon_volumes(&in_use))?;
        drop(in_use);
        let made = self
            .attach_networks(
                &container,
                &network_mode,
                &opts.network,
                ports,
                opts.linux.privileged || can_change_network(&linux.cap_add),
            )
            .and_then(|attached| {
                if let Some(a) = &attached {
                    // A later `start` of the exited container sets the same networks up again.
                    crate::start::save_attached(&container, a)?;
                }
                linux.network = network_mode.joined(attached);
                Ok(())
            })
            .and_then(|()| {
                spec::build(SpecInput {
                    args,
                    env,
                    cwd,
                    rootfs: &rootfs,
                    volumes: &volumes,
                    limits: spec::Limits {
                        memory,
                        cpus,
                        pids: opts.linux.pids_limit,
                    },
                    read_only: opts.linux.read_only,
                    hostname: opts
                        .linux
                        .hostname
                        .clone()
                        .unwrap_or_else(|| container.short_id().to_string()),
                    terminal: opts.tty,
                })
            })
            .and_then(|mut spec| {
                let input = PrepareInput {
                    image: Some(&image),
                    rootfs: &rootfs,
                    linux: &linux,
                    ephemeral: opts.rm,
                };
                executor.prepare(self, container.bundle(), &mut spec, &input)?;
                let bytes = serde_json::to_vec_pretty(&spec).expect("spec serializes");
                crate::fsutil::write_atomic(&container.config_path(), &bytes)
                    .map_err(|e| Error::io("writing the container's config.json", e))?;
                if let Some(path) = &opts.cidfile {
                    write_cidfile(path, container.id())?;
                }
                Ok(spec)
            });
        match made {
            Ok(spec) => {
                self.container_event(&container, "create", []);
                Ok((container, spec))
            }
            Err(e) => {
                self.discard(&container);
                let id = image.id();
                Err(self.if_image_removed(
                    &opts.image,
                    platform.as_ref(),
                    Some(&id),
                    Some(&rootfs),
                    e,
                ))
            }
        }
    }

    /// The executor a container was created with.
    pub(crate) fn executor_of(&self, container: &Container) -> Result<&'static dyn Executor> {
        executor::by_name(&container.state.kind)
    }

    /// Removes a container, with whatever it left on the host.
    pub(crate) fn discard(&self, container: &Container) {
        if let Ok(executor) = self.executor_of(container) {
            executor.delete(self, container.bundle());
        }
        self.detach_networks(container);
        let _ = self.containers.remove(container);
    }

    /// Runs the container's spec from this process (the foreground `wharf
    /// run`, or the monitor), waits for it and records how it ended. With
    /// `capture`, the output also goes to the json-file log (echoed to the
    /// terminal unless this is the monitor). `ready` (the monitor's pipe)
    /// hears "ok" once the container is about to run, or what stopped it.
    pub(crate) fn supervise(
        &self,
        mut container: Container,
        spec: &Spec,
        capture: bool,
        interactive: bool,
        ready: Option<File>,
    ) -> Result<i32> {
        let executor = self.executor_of(&container)?;
        // Signals are taken from the start, so a Ctrl-C while the container
        // is being created is not lost: it reaches the container once there
        // is one to reach.
        let target = SignalTarget::default();
        let signal_thread = signals::forward({
            let target = target.clone();
            let on_stuck = executor
                .runs_in_owner()
                .then(|| self.leave_if_stuck(&container));
            move |sig| {
                target.deliver(sig);
                if let Some(on_stuck) = &on_stuck {
                    on_stuck(sig);
                }
            }
        })?;
        let capture = if capture {
            Some(Capture::start(&container.log_path(), ready.is_none())?)
        } else {
            None
        };
        if !executor.runs_in_owner() {
            // The container is made by cloning this process: no thread of
            // ours may be half-started then (see wait_started).
            signal_thread.wait_started();
            if let Some(c) = &capture {
                c.wait_started();
            }
        }
        let started = executor
            .create(self, container.bundle(), spec, interactive)
            .and_then(|mut task| {
                target.set(task.signal_target());
                let pid = task.start()?;
                Ok((task, pid))
            });
        let (task, init) = match started {
            Ok(started) => started,
            Err(e) => {
                if let Some(c) = capture {
                    c.finish();
                }
                return Err(self.failed_to_start(container, ready, e));
            }
        };
        if let Some(pid) = init {
            container.state.init_pid = pid;
            container.state.init_start = process::start_time(pid).unwrap_or(0);
        }
        if !container.is_running() || init.is_some() {
            container.mark_running(std::process::id() as i32)?;
        }
        self.container_event(&container, "start", []);
        for volume in &container.state.volumes {
            self.event(
                "volume",
                "mount",
                volume,
                [
                    ("container", container.id().to_string()),
                    ("driver", "local".to_string()),
                ],
            );
        }
        report_ready(ready);
        // Probes while this run lasts; stopped (and joined) when it ends.
        let checker =
            container.state.settings.healthcheck.as_ref().map(|check| {
                crate::health::start(&self.root, container.id(), &container.dir, check)
            });
        let exit = task.wait();
        drop(checker);
        if let Some(c) = capture {
            c.finish();
        }
        self.detach_networks(&container);
        let exit = match exit {
            Ok(exit) => exit,
            Err(e) => {
                executor.delete(self, container.bundle());
                self.record_exit(container, 125, &e.to_string())?;
                return Err(e);
            }
        };
        if let Some(m) = &exit.message {
            eprintln!("{m}");
        }
        container.state.oom_killed = exit.oom_killed;
        let error = match (&exit.message, exit.oom_killed) {
            (Some(m), _) => m.as_str(),
            (None, true) => "OOM killed",
            (None, false) => "",
        };
        self.record_exit(container, exit.code, error)?;
        Ok(exit.code)
    }

    /// Records how a container ended, or removes it (`--rm`): a record about
    /// to be deleted is not written first.
    fn record_exit(&self, mut container: Container, code: i32, error: &str) -> Result<()> {
        let die = [("exitCode", code.to_string())];
        if container.state.auto_remove {
            self.container_event(&container, "die", die);
            self.containers.remove(&container)?;
            self.container_event(&container, "destroy", []);
            Ok(())
        } else {
            container.mark_exited(code, error)?;
            self.container_event(&container, "die", die);
            Ok(())
        }
    }

    /// Records a container whose executor failed before it ran, tells the
    /// monitor's parent, and hands the error back.
    fn failed_to_start(&self, container: Container, ready: Option<File>, e: Error) -> Error {
        if let Some(mut ready) = ready {
            let _ = writeln!(ready, "error: {e}");
        }
        if let Ok(executor) = self.executor_of(&container) {
            executor.delete(self, container.bundle());
        }
        self.detach_networks(&container);
        let _ = self.record_exit(container, 125, &e.to_string());
        e
    }

    /// For a container that runs inside this process: a guest blocked in a
    /// host call (a sleep, a stdin read) only notices a signal when the call
    /// returns, so if it has not ended after a grace period, record its exit
    /// here and leave, as a killed process would.
    fn leave_if_stuck(&self, container: &Container) -> impl Fn(i32) + Send + 'static {
        let record = container.clone();
        let containers = self.containers.clone();
        let root = self.root.clone();
        move |sig| {
            let mut record = record.clone();
            let containers = containers.clone();
            let root = root.clone();
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(SIGNAL_GRACE_MS));
                let die = [("exitCode", (128 + sig).to_string())];
                if record.state.auto_remove {
                    crate::events::container_event(&root, &record, "die", die);
                    if containers.remove(&record).is_ok() {
                        crate::events::container_event(&root, &record, "destroy", []);
                    }
                } else {
                    let _ = record.mark_exited(
                        128 + sig,
                        "stopped by a signal while blocked in a host call",
                    );
                    crate::events::container_event(&root, &record, "die", die);
                }
                // SAFETY: _exit ends the process without running destructors, like a signal would.
                unsafe { libc::_exit(128 + sig) };
            });
        }
    }
}

/// A Wasm guest has no processes, users, capabilities or devices: the
/// Linux-only flags that cannot mean anything to it are refused when
/// asking for them is asking for something it cannot give (--privileged, a
/// healthcheck, which needs an exec), and named in one warning otherwise.
fn refuse_or_warn_for_wasm(opts: &RunOptions, healthcheck: bool) -> Result<()> {
    if opts.linux.privileged {
        return Err(Error::Unsupported(format!(
            "--privileged is for Linux containers, and {} runs as a Wasm guest, which has no capabilities, devices or seccomp filter to lift; its grants are its -v directories, -e variables and network",
            opts.image
        )));
    }
    if healthcheck {
        return Err(Error::Unsupported(format!(
            "{} runs as a Wasm guest, where no health-check command can be exec'd beside it; drop --health-cmd (wharf compose can probe a Wasm container's HTTP port)",
            opts.image
        )));
    }
    let l = &opts.linux;
    let mut ignored: Vec<&str> = Vec::new();
    let mut note = |given: bool, flag: &'static str| {
        if given {
            ignored.push(flag);
        }
    };
    note(l.user.is_some(), "--user");
    note(!l.cap_add.is_empty(), "--cap-add");
    note(!l.cap_drop.is_empty(), "--cap-drop");
    note(!l.security_opt.is_empty(), "--security-opt");
    note(l.pids_limit.is_some(), "--pids-limit");
    note(
        !l.tmpfs.is_empty() || opts.mounts.iter().any(|m| m.contains("tmpfs")),
        "--tmpfs",
    );
    note(!l.ulimits.is_empty(), "--ulimit");
    note(l.init, "--init");
    if !ignored.is_empty() {
        eprintln!(
            "wharf: warning: {} ha{} no meaning for a Wasm guest (no processes, users, capabilities or kernel limits) and {} ignored",
            ignored.join(", "),
            if ignored.len() == 1 { "s" } else { "ve" },
            if ignored.len() == 1 { "is" } else { "are" },
        );
    }
    Ok(())
}

/// `--cidfile`: the id, in a file made whole before it appears (a temp
/// file linked into place, which fails if the name exists meanwhile).
fn write_cidfile(path: &std::path::Path, id: &str) -> Result<()> {
    use std::io::ErrorKind;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    let written = File::create(&tmp).and_then(|mut f| {
        f.write_all(id.as_bytes())?;
        f.sync_all()
    });
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Err(Error::Conflict(format!(
            "Container ID file found, make sure the other container isn't running or delete {}",
            path.display()
        ))),
        Err(e) => Err(Error::io(
            format!("writing the container id file {}", path.display()),
            e,
        )),
    }
}

/// `--label` values: `KEY=VALUE`, or `KEY` for an empty value (Docker's rule).
pub fn parse_labels(flags: &[String]) -> Result<BTreeMap<String, String>> {
    let mut labels = BTreeMap::new();
    for flag in flags {
        let (key, value) = flag.split_once('=').unwrap_or((flag, ""));
        if key.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "invalid label \"{flag}\": the key is empty; write --label KEY=VALUE"
            )));
        }
        labels.insert(key.to_string(), value.to_string());
    }
    Ok(labels)
}

/// Where the signal thread sends what it receives: the container's
/// executor once the container exists; before that, the signal waits.
#[derive(Clone, Default)]
struct SignalTarget(Arc<Mutex<TargetState>>);

#[derive(Default)]
struct TargetState {
    deliver: Option<Box<dyn Fn(i32) + Send>>,
    pending: Option<i32>,
}

impl SignalTarget {
    fn deliver(&self, sig: i32) {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match &state.deliver {
            Some(deliver) => deliver(sig),
            None => state.pending = Some(sig),
        }
    }

    fn set(&self, deliver: Box<dyn Fn(i32) + Send>) {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sig) = state.pending.take() {
            deliver(sig);
        }
        state.deliver = Some(deliver);
    }
}

fn report_ready(ready: Option<File>) {
    if let Some(mut ready) = ready {
        let _ = ready.write_all(b"ok\n");
    }
}

/// Whether a container with these added capabilities could change its own
/// network namespace (addresses, routes, firewall), which must then not be
/// handed to another container afterwards (wharf-net's pool).
pub(crate) fn can_change_network(cap_add: &[String]) -> bool {
    cap_add.iter().any(|c| {
        let c = c.to_ascii_uppercase();
        let c = c.strip_prefix("CAP_").unwrap_or(&c);
        matches!(c, "ALL" | "NET_ADMIN" | "SYS_ADMIN")
    })
}

impl Engine {
    /// `err`, or "image was removed" when it is what a concurrent `rmi`
    /// causes (a blob, or the unpacked `rootfs`, gone between reading
    /// index.json and using the image) and `name` no longer names the image
    /// (`id`, when known): a run racing `rmi -f` reports the removal, not
    /// missing content or a missing command.
    pub(crate) fn if_image_removed(
        &self,
        name: &str,
        platform: Option<&Platform>,
        id: Option<&str>,
        rootfs: Option<&std::path::Path>,
        err: Error,
    ) -> Error {
        let content_gone = rootfs.is_some_and(|r| !r.exists())
            || matches!(
                &err,
                Error::Image(wharf_image::Error::BlobNotFound(_))
                    | Error::Image(wharf_image::Error::MissingBlob { .. })
                    | Error::Image(wharf_image::Error::Io { .. })
                    | Error::Snapshot(wharf_snapshot::Error::Io { .. })
            );
        if !content_gone {
            return err;
        }
        let removed = match self.store.resolve(name, platform) {
            // Still named but missing content: a damaged store, not a race.
            Err(wharf_image::Error::ImageNotFound(_)) => true,
            Ok(now) => id.is_some_and(|id| now.id() != id),
            Err(_) => false,
        };
        if removed {
            Error::Image(wharf_image::Error::ImageRemoved(name.to_string()))
        } else {
            err
        }
    }
}
