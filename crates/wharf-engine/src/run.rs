//! `wharf run`: image + flags → container record + runtime spec → a guest
//! run in the foreground, or under a detached monitor. Both kinds take the
//! same path; they differ only in the executor that runs the spec.
//!
//! This is the measured start path: one index lookup, one stat of the
//! snapshot, and for Wasm one module read (for its digest) and one cache
//! read; no directory scans and no locks.

use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use oci_spec::runtime::Spec;

use crate::container::{Container, NewContainer};
use crate::linux_exec::{self, LinuxFlags};
use crate::logs::Capture;
use crate::spec::{self, SpecInput};
use crate::{monitor, process, signals, tty, wasm_exec, Engine, Error, Kind, Platform, Result};

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
    /// Flags that only Linux containers take (a Wasm guest has no users,
    /// capabilities or processes to limit).
    pub linux: LinuxFlags,
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
        // Flags are checked before anything is created, so a typo leaves nothing behind.
        let platform = opts
            .platform
            .as_deref()
            .map(str::parse::<Platform>)
            .transpose()?;
        let memory = opts.memory.as_deref().map(spec::parse_memory).transpose()?;
        let volumes = opts
            .volumes
            .iter()
            .map(|v| spec::parse_volume(v))
            .collect::<Result<Vec<_>>>()?;
        if let Some(w) = opts.workdir.as_deref().filter(|w| !w.starts_with('/')) {
            return Err(Error::InvalidArgument(format!(
                "the working directory \"{w}\" is invalid: it must be an absolute path"
            )));
        }
        let linux_options = opts.linux.options(memory, opts.tty, "")?;

        let image = match self.store.resolve(&opts.image, platform.as_ref()) {
            // Like Docker, a missing image that names a registry is pulled first.
            Err(wharf_image::Error::ImageNotFound(_))
                if crate::registry::names_registry(&opts.image) =>
            {
                self.pull_for_run(&opts.image, platform.as_ref())?;
                self.store.resolve(&opts.image, platform.as_ref())?
            }
            other => other?,
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
        let prepared = self.prepare(&image)?;
        let (mut entrypoint, cmd) =
            spec::image_command(&image, opts.entrypoint.as_deref(), &opts.args);
        if entrypoint.is_empty() && prepared.module_is_layer() {
            // The module is the layer itself and the image names no program:
            // argv[0] names the image, as wasmtime's argv[0] names the file.
            entrypoint.push(opts.image.clone());
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
        let module = match prepared.kind {
            Kind::Wasm => Some(prepared.module_path(self, Some(&args[0]), &cwd)?),
            Kind::Linux => None,
        };
        let user = opts.linux.user.clone().or_else(|| spec::image_user(&image));

        let container = self.containers.create(&NewContainer {
            name: opts.name.as_deref(),
            image: &opts.image,
            image_id: &image.id(),
            kind: prepared.kind,
            auto_remove: opts.rm,
            rootfs: &prepared.rootfs,
            entrypoint: &entrypoint,
            cmd: &cmd,
            owner: (prepared.kind == Kind::Wasm && !opts.detach).then(|| std::process::id() as i32),
        })?;
        let made = spec::build(SpecInput {
            kind: prepared.kind,
            args,
            env,
            cwd,
            rootfs: &prepared.rootfs,
            volumes: &volumes,
            memory,
            hostname: container.short_id().to_string(),
            module,
            terminal: opts.tty,
        })
        .and_then(|mut spec| {
            if prepared.kind == Kind::Linux {
                linux_exec::notice_rlimit_clamp(&self.root);
                let mut o = linux_options.clone();
                o.user = user;
                o.hostname = opts
                    .linux
                    .hostname
                    .clone()
                    .unwrap_or_else(|| container.short_id().to_string());
                linux_exec::prepare_bundle(
                    &container.dir,
                    container.id(),
                    &mut spec,
                    &prepared.rootfs,
                    &o,
                    opts.rm,
                )?;
            }
            let bytes = serde_json::to_vec_pretty(&spec).expect("spec serializes");
            crate::fsutil::write_atomic(&container.config_path(), &bytes)
                .map_err(|e| Error::io("writing the container's config.json", e))?;
            Ok(spec)
        });
        let spec = match made {
            Ok(spec) => spec,
            Err(e) => {
                self.discard(&container);
                return Err(e);
            }
        };
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

    /// Removes a container that never ran, with whatever it left on the host.
    pub(crate) fn discard(&self, container: &Container) {
        if container.state.kind == Kind::Linux {
            linux_exec::cleanup(&self.root, &container.dir, container.id());
        }
        let _ = self.containers.remove(container);
    }

    /// Runs the container's spec from this process (the foreground `wharf
    /// run`, or the monitor), waits for it and records how it ended. With
    /// `capture`, the output also goes to the json-file log (echoed to the
    /// terminal unless this is the monitor). `ready` (the monitor's pipe)
    /// hears "ok" once the container is about to run, or what stopped it.
    pub(crate) fn supervise(
        &self,
        container: Container,
        spec: &Spec,
        capture: bool,
        interactive: bool,
        ready: Option<File>,
    ) -> Result<i32> {
        match container.state.kind {
            Kind::Wasm => self.supervise_wasm(container, spec, capture, interactive, ready),
            Kind::Linux => self.supervise_linux(container, spec, capture, interactive, ready),
        }
    }

    fn supervise_wasm(
        &self,
        mut container: Container,
        spec: &Spec,
        capture: bool,
        interactive: bool,
        ready: Option<File>,
    ) -> Result<i32> {
        let runtime = self.wasm_runtime()?;
        signals::forward(self.on_wasm_signal(&runtime, &container))?;
        if !interactive {
            crate::logs::null_stdin()?;
        }
        let loaded = match wasm_exec::load(&runtime, spec) {
            Ok(l) => l,
            Err(e) => return Err(self.failed_to_start(container, ready, e)),
        };
        let capture = if capture {
            Some(Capture::start(&container.log_path(), ready.is_none())?)
        } else {
            None
        };
        if !container.is_running() {
            container.mark_running(std::process::id() as i32)?;
        }
        report_ready(ready);
        let result = loaded.run(&runtime);
        let (code, error) = match &result {
            Ok(outcome) => {
                let message = wasm_exec::describe(outcome);
                if let Some(m) = &message {
                    eprintln!("{m}");
                }
                (outcome.exit_code(), message.unwrap_or_default())
            }
            Err(e) => (125, e.to_string()),
        };
        if let Some(c) = capture {
            c.finish();
        }
        self.record_exit(container, code, &error)?;
        result.map(|_| code)
    }

    fn supervise_linux(
        &self,
        mut container: Container,
        spec: &Spec,
        capture: bool,
        interactive: bool,
        ready: Option<File>,
    ) -> Result<i32> {
        // Signals go to the container's init once it exists.
        let init = Arc::new(AtomicI32::new(0));
        let target = Arc::clone(&init);
        signals::forward(move |sig| {
            let pid = target.load(Ordering::Relaxed);
            if pid > 0 {
                // SAFETY: kill(2) has no memory-safety preconditions.
                unsafe { libc::kill(pid, sig) };
            }
        })?;
        let capture = if capture {
            Some(Capture::start(&container.log_path(), ready.is_none())?)
        } else {
            None
        };
        let state_root = linux_exec::state_root(&self.root);
        let started = linux_exec::inherit_stdio(interactive).and_then(|stdio| {
            Ok(wharf_linux::start(
                &state_root,
                container.id(),
                &container.dir,
                stdio,
            )?)
        });
        let started = match started {
            Ok(s) => s,
            Err(e) => {
                if let Some(c) = capture {
                    c.finish();
                }
                return Err(self.failed_to_start(container, ready, e));
            }
        };
        init.store(started.pid, Ordering::Relaxed);
        container.state.init_pid = started.pid;
        container.state.init_start = process::start_time(started.pid).unwrap_or(0);
        container.mark_running(std::process::id() as i32)?;
        report_ready(ready);
        let terminal = spec
            .process()
            .as_ref()
            .and_then(|p| p.terminal())
            .unwrap_or(false);
        let raw = terminal.then(tty::RawMode::enter);
        let output = match &started.pty_master {
            Some(master) => Some(
                master
                    .try_clone()
                    .and_then(|m| tty::pump(m, interactive))
                    .map_err(|e| Error::io("attaching the container's terminal", e))?,
            ),
            None => None,
        };
        let cgroups = spec
            .linux()
            .as_ref()
            .and_then(|l| l.cgroups_path().clone())
            .unwrap_or_else(|| format!("/wharf/{}", container.id()).into());
        let exit = wharf_linux::wait_and_remove(&state_root, container.id(), &started, &cgroups);
        if let Some(t) = output {
            let _ = t.join();
        }
        drop(raw);
        if let Some(c) = capture {
            c.finish();
        }
        match &exit {
            Ok(_) => {
                let _ = wharf_linux::unmount_overlay(&container.dir);
            }
            Err(_) => linux_exec::cleanup(&self.root, &container.dir, container.id()),
        }
        let exit = exit?;
        container.state.oom_killed = exit.oom_killed;
        self.record_exit(
            container,
            exit.code,
            if exit.oom_killed { "OOM killed" } else { "" },
        )?;
        Ok(exit.code)
    }

    /// Records how a container ended, or removes it (`--rm`): a record about
    /// to be deleted is not written first.
    fn record_exit(&self, mut container: Container, code: i32, error: &str) -> Result<()> {
        if container.state.auto_remove {
            self.containers.remove(&container)
        } else {
            container.mark_exited(code, error)
        }
    }

    /// Records a container whose executor failed before it ran, tells the
    /// monitor's parent, and hands the error back.
    fn failed_to_start(&self, mut container: Container, ready: Option<File>, e: Error) -> Error {
        if let Some(mut ready) = ready {
            let _ = writeln!(ready, "error: {e}");
        }
        if container.state.kind == Kind::Linux {
            linux_exec::cleanup(&self.root, &container.dir, container.id());
        }
        let _ = container.mark_exited(125, &e.to_string());
        if container.state.auto_remove {
            let _ = self.containers.remove(&container);
        }
        e
    }

    /// What the owner of a Wasm guest does on SIGTERM, Ctrl-C and the like:
    /// interrupt the guest through the epoch, which stops compiled code at
    /// once. A guest blocked in a host call (a sleep, a stdin read) only sees
    /// that when the call returns, so if it has not ended after a grace
    /// period, record its exit here and leave, as a killed process would.
    fn on_wasm_signal(
        &self,
        runtime: &wharf_wasm::Runtime,
        container: &Container,
    ) -> impl Fn(i32) + Send + 'static {
        let interrupter = runtime.interrupter();
        let record = container.clone();
        let containers = self.containers.clone();
        move |sig| {
            interrupter.interrupt(sig);
            let mut record = record.clone();
            let containers = containers.clone();
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(SIGNAL_GRACE_MS));
                if record.state.auto_remove {
                    let _ = containers.remove(&record);
                } else {
                    let _ = record.mark_exited(
                        128 + sig,
                        "stopped by a signal while blocked in a host call",
                    );
                }
                // SAFETY: _exit ends the process without running destructors, like a signal would.
                unsafe { libc::_exit(128 + sig) };
            });
        }
    }
}

fn report_ready(ready: Option<File>) {
    if let Some(mut ready) = ready {
        let _ = ready.write_all(b"ok\n");
    }
}
