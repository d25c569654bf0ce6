//! `wharf run`: image + flags → container record + runtime spec → a guest
//! run in the foreground, or under a detached monitor.
//!
//! This is the measured start path: one index lookup, one stat of the
//! snapshot, one module read (for its digest) and one cache read; no
//! directory scans and no locks.

use std::fs::File;
use std::io::Write;

use oci_spec::runtime::Spec;

use crate::container::{Container, NewContainer};
use crate::logs::Capture;
use crate::spec::{self, SpecInput};
use crate::{monitor, signals, wasm_exec, Engine, Error, Kind, Platform, Result};

/// How long a signalled guest may take to notice before its owner exits anyway.
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

        let image = self.store.resolve(&opts.image, platform.as_ref())?;
        if image.platform_fallback {
            eprintln!(
                "wharf: {} has no variant for this host's platform; running its Wasm variant",
                opts.image
            );
        }
        let prepared = self.prepare(&image)?;
        if prepared.kind == Kind::Linux {
            return Err(Error::Unsupported(format!(
                "{} is a Linux image, and this build of Wharf runs Wasm containers only: Linux containers need the linux executor (namespaces and cgroups), which is not part of this build yet; run a Wasm image, e.g. one built with --platform wasi/wasm",
                opts.image
            )));
        }
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
        let module = prepared.module_path(self, Some(&args[0]), &cwd)?;

        let container = self.containers.create(&NewContainer {
            name: opts.name.as_deref(),
            image: &opts.image,
            image_id: &image.id(),
            kind: prepared.kind,
            auto_remove: opts.rm,
            rootfs: &prepared.rootfs,
            entrypoint: &entrypoint,
            cmd: &cmd,
        })?;
        let spec = spec::build(SpecInput {
            kind: prepared.kind,
            args,
            env,
            cwd,
            rootfs: &prepared.rootfs,
            volumes: &volumes,
            memory,
            hostname: container.short_id().to_string(),
            module: Some(module),
            terminal: opts.tty,
        });
        let written = spec.and_then(|spec| {
            let bytes = serde_json::to_vec_pretty(&spec).expect("spec serializes");
            crate::fsutil::write_atomic(&container.config_path(), &bytes)
                .map_err(|e| Error::io("writing the container's config.json", e))?;
            Ok(spec)
        });
        let spec = match written {
            Ok(spec) => spec,
            Err(e) => {
                let _ = self.containers.remove(&container);
                return Err(e);
            }
        };
        if opts.detach {
            monitor::spawn(self, &container)?;
            Ok(RunResult::Detached(container.state.id))
        } else {
            self.run_foreground(container, &spec, opts.interactive)
                .map(RunResult::Exited)
        }
    }

    fn run_foreground(&self, container: Container, spec: &Spec, interactive: bool) -> Result<i32> {
        let runtime = self.wasm_runtime()?;
        signals::forward(self.on_signal(&runtime, &container))?;
        if !interactive {
            crate::logs::null_stdin()?;
        }
        // `--rm` containers keep no logs (nothing could read them), so their
        // output goes straight to the terminal; others are teed into the log.
        let echo_into_log = !container.state.auto_remove;
        self.supervise(container, spec, &runtime, echo_into_log, None)
    }

    /// What the owner of a guest does on SIGTERM, Ctrl-C and the like:
    /// interrupt the guest through the epoch, which stops compiled code at
    /// once. A guest blocked in a host call (a sleep, a stdin read) only sees
    /// that when the call returns, so if it has not ended after a grace
    /// period, record its exit here and leave, as a killed process would.
    pub(crate) fn on_signal(
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

    /// Starts the guest a container's spec describes in this process, waits
    /// for it and records how it ended. `ready` (the detached monitor's pipe)
    /// hears "ok" once the guest is about to start, or the error that stopped it.
    pub(crate) fn supervise(
        &self,
        mut container: Container,
        spec: &Spec,
        runtime: &wharf_wasm::Runtime,
        capture_logs: bool,
        ready: Option<File>,
    ) -> Result<i32> {
        let loaded = match wasm_exec::load(runtime, spec) {
            Ok(l) => l,
            Err(e) => {
                if let Some(mut ready) = ready {
                    let _ = writeln!(ready, "error: {e}");
                }
                let _ = container.mark_exited(125, &e.to_string());
                if container.state.auto_remove {
                    let _ = self.containers.remove(&container);
                }
                return Err(e);
            }
        };
        let capture = if capture_logs {
            // The monitor's own stdio is /dev/null: capture without echo.
            Some(Capture::start(&container.log_path(), ready.is_none())?)
        } else {
            None
        };
        container.mark_running(std::process::id() as i32)?;
        if let Some(mut ready) = ready {
            let _ = ready.write_all(b"ok\n");
        }
        let result = loaded.run(runtime);
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
        container.mark_exited(code, &error)?;
        if container.state.auto_remove {
            self.containers.remove(&container)?;
        }
        result.map(|_| code)
    }
}
