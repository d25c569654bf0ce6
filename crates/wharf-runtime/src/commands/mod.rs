//! One file per command; each parses its flags, calls `wharf-linux` (and
//! the engine's Wasm executor for Wasm bundles) and prints.

pub mod create;
pub mod delete;
pub mod exec;
pub mod features;
pub mod kill;
pub mod list;
pub mod pause;
pub mod ps;
pub mod resume;
pub mod run;
pub mod spec;
pub mod start;
pub mod state;
pub mod update;

use crate::log::Logger;
use crate::{Cli, Command, Failure, Result};

/// Runs the command; Ok(exit code).
pub fn dispatch(cli: &Cli, log: &Logger) -> Result<i32> {
    if cli.rootless.as_deref() == Some("true") && !matches!(cli.command, Command::Spec(_)) {
        log.warn("--rootless=true is not supported; running as a rootful runtime");
    }
    match &cli.command {
        Command::Create(a) => create::run(cli, log, a),
        Command::Start(a) => start::run(cli, a),
        Command::State(a) => state::run(cli, a),
        Command::Kill(a) => kill::run(cli, a),
        Command::Delete(a) => delete::run(cli, a),
        Command::Run(a) => run::run(cli, log, a),
        Command::Exec(a) => exec::run(cli, a),
        Command::Ps(a) => ps::run(cli, a),
        Command::List(a) => list::run(cli, a),
        Command::Pause(a) => pause::run(cli, a),
        Command::Resume(a) => resume::run(cli, a),
        Command::Update(a) => update::run(cli, a),
        Command::Features(a) => features::run(a),
        Command::Spec(a) => spec::run(cli, a),
    }
}

/// runc's wording where containerd matches on it ("does not exist",
/// "container not running"); wharf-linux's message otherwise.
pub fn linux_err(e: wharf_linux::Error) -> Failure {
    let message = match &e {
        wharf_linux::Error::NotFound { id, .. } => format!("container {id:?} does not exist"),
        wharf_linux::Error::AlreadyExists { id, root } => format!(
            "container with id {id:?} already exists (under {}): delete it first or pick another id",
            root.display()
        ),
        _ => e.to_string(),
    };
    Failure { message, code: 1 }
}

/// Container id argument check (runc's rule), before anything is touched.
pub fn check_id(id: &str) -> Result<()> {
    wharf_linux::validate_id(id).map_err(linux_err)
}

/// Passes the signals a foreground container gets
/// ([`wharf_linux::FORWARDED_SIGNALS`], and SIGWINCH, which runc forwards
/// too) on to its process `pid` (run/exec): blocked here, forwarded by a
/// thread.
pub fn forward_signals(pid: i32) {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    for s in wharf_linux::FORWARDED_SIGNALS {
        if let Ok(s) = Signal::try_from(s) {
            set.add(s);
        }
    }
    set.add(Signal::SIGWINCH);
    let _ = set.thread_block();
    std::thread::spawn(move || {
        while let Ok(sig) = set.wait() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
        }
    });
}
