//! The per-container monitor of detached containers (Wharf's conmon): a
//! small process in its own session that owns the container, writes its
//! output to the json-file log and records its exit, so the container
//! outlives the `wharf run -d` that started it and every later command can
//! see it.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use std::time::{Duration, Instant};

use crate::container::Container;
use crate::{logs, restart, Engine, Error, Result};

/// The hidden subcommand the `wharf` binary routes to [`Engine::monitor`].
pub const MONITOR_COMMAND: &str = "__monitor";
const READY_ENV: &str = "WHARF_MONITOR_READY_FD";

/// Starts the monitor and waits until the container is about to run (or failed to).
pub fn spawn(engine: &Engine, container: &Container) -> Result<()> {
    let exe = std::env::current_exe().map_err(|e| Error::io("finding the wharf executable", e))?;
    let (mut read, write) =
        std::io::pipe().map_err(|e| Error::io("creating the monitor's ready pipe", e))?;
    let write_fd = write.as_raw_fd();
    let mut cmd = Command::new(exe);
    cmd.arg("--root")
        .arg(engine.root())
        .arg(MONITOR_COMMAND)
        .arg(container.id())
        .env(READY_ENV, write_fd.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // Own session: the terminal's Ctrl-C and hang-ups are not the container's.
            libc::setsid();
            // Keep the ready pipe's write end across exec.
            let flags = libc::fcntl(write_fd, libc::F_GETFD);
            libc::fcntl(write_fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| Error::io("starting the container monitor", e))?;
    drop(write);
    let mut answer = String::new();
    let _ = read.read_to_string(&mut answer);
    // The monitor is not our child to wait for: it outlives us, and init reaps it.
    drop(child);
    match answer.trim() {
        "ok" => Ok(()),
        "" => Err(Error::Unsupported(format!(
            "the monitor of container {} died before the container started; see `wharf inspect {}`",
            container.state.name, container.state.name
        ))),
        msg => Err(Error::Unsupported(
            msg.trim_start_matches("error: ").to_string(),
        )),
    }
}

impl Engine {
    /// Entry point of the monitor process. Returns its exit code.
    pub fn monitor(&self, id: &str) -> i32 {
        let ready = std::env::var(READY_ENV)
            .ok()
            .and_then(|v| v.parse::<i32>().ok())
            .map(logs::fd_file);
        let Some(mut ready) = ready else {
            eprintln!("wharf: {MONITOR_COMMAND} is internal to `wharf run -d`");
            return 2;
        };
        let loaded = self.containers.load(id).and_then(|container| {
            let spec = oci_spec::runtime::Spec::load(container.config_path()).map_err(|e| {
                Error::Corrupt(format!("container {id} has an unreadable config.json: {e}"))
            })?;
            Ok((container, spec))
        });
        match loaded {
            Ok((container, spec)) => self.run_with_policy(container, &spec, ready),
            Err(e) => {
                let _ = writeln!(ready, "error: {e}");
                1
            }
        }
    }

    /// Runs the container, and again as long as its restart policy says
    /// so (`restart.rs`): after Docker's back-off, unless the user stopped
    /// or removed it meanwhile, with its networks set up again as they were
    /// (same addresses, aliases and host ports) and its writable layer
    /// kept. Returns the last exit code.
    fn run_with_policy(
        &self,
        mut container: Container,
        spec: &oci_spec::runtime::Spec,
        ready: std::fs::File,
    ) -> i32 {
        let policy = restart::RestartPolicy::parse(&container.state.restart).unwrap_or_default();
        let mut ready = Some(ready);
        loop {
            let attached = self.attached(&container);
            let started = Instant::now();
            // supervise reports to `ready` and closes it once the container runs.
            let code = match self.supervise(container.clone(), spec, true, false, ready.take()) {
                Ok(code) => code,
                Err(_) => return 125,
            };
            let id = container.id().to_string();
            let stopped = |c: &Container| restart::stopped_by_user(&c.dir);
            match self.containers.load(&id) {
                Ok(c) => container = c,
                // Removed (`rm -f`): nothing to restart.
                Err(_) => return code,
            }
            if !policy.restarts(code, container.state.restart_count, stopped(&container)) {
                return code;
            }
            let wait = restart::delay(container.state.restart_count, started.elapsed());
            let deadline = Instant::now() + wait;
            while Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50).min(wait));
                match self.containers.load(&id) {
                    Ok(c) if !stopped(&c) => container = c,
                    _ => return code,
                }
            }
            container.state.restart_count += 1;
            let again = container
                .save()
                .and_then(|()| self.executor_of(&container))
                .and_then(|executor| {
                    executor.rearm(self, container.bundle(), &container.state.rootfs)
                })
                .and_then(|()| match &attached {
                    Some(a) => self.reattach(a),
                    None => Ok(()),
                });
            if let Err(e) = again {
                let _ = container.mark_exited(125, &format!("restarting: {e}"));
                return 125;
            }
        }
    }
}
