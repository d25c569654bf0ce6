//! `wharf-runtime`: an OCI runtime with runc's command line. Linux bundles
//! run under `wharf-linux` (youki's libcontainer); Wasm bundles run inside
//! the same namespaces and cgroups, the container's init calling the
//! engine's Wasm executor instead of `execve`. Each command lives in
//! `commands/<name>.rs` and only parses flags and prints.

mod commands;
mod log;
mod wasm;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Global flags, as runc has them (containerd passes `--root`, `--log`,
/// `--log-format` before the command).
#[derive(Debug, Parser)]
#[command(
    name = "wharf-runtime",
    version,
    about = "Run Linux and WebAssembly containers from OCI bundles (runc's command line)"
)]
pub struct Cli {
    /// Directory for container state (tmpfs recommended).
    #[arg(long, global = true, default_value = "/run/wharf-runtime")]
    pub root: PathBuf,
    /// Log file (default: stderr).
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long = "log-format", global = true, default_value = "text")]
    pub log_format: log::Format,
    /// Manage cgroups through systemd (cgroupsPath is slice:prefix:name).
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// Log debug messages too.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Accepted for runc compatibility; rootless mode is not supported.
    #[arg(long, global = true, hide = true, num_args = 0..=1, default_missing_value = "true")]
    pub rootless: Option<String>,
    /// Accepted for runc compatibility; checkpointing is not supported.
    #[arg(long, global = true, hide = true)]
    pub criu: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a container from a bundle (it waits for `start`).
    Create(commands::create::Args),
    /// Start a created container.
    Start(commands::start::Args),
    /// Print a container's state as runtime-spec JSON.
    State(commands::state::Args),
    /// Send a signal to a container's init (or all its processes).
    Kill(commands::kill::Args),
    /// Delete a container and its resources.
    Delete(commands::delete::Args),
    /// Create and start a container; wait for it unless --detach.
    Run(commands::run::Args),
    /// Run a process inside a running container.
    Exec(commands::exec::Args),
    /// List the processes of a container.
    Ps(commands::ps::Args),
    /// List containers under --root.
    List(commands::list::Args),
    /// Freeze all processes of a container.
    Pause(commands::pause::Args),
    /// Thaw a paused container.
    Resume(commands::resume::Args),
    /// Change a container's resource limits.
    Update(commands::update::Args),
    /// Print the runtime-spec features this runtime supports.
    Features(commands::features::Args),
    /// Write a default config.json.
    Spec(commands::spec::Args),
}

/// An error for the user: message and exit code (runc uses 1).
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub code: i32,
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure {
            message: e.to_string(),
            code: 1,
        }
    }
}

pub type Result<T, E = Failure> = std::result::Result<T, E>;

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            let code = match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => 0,
                _ => 1,
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let logger = log::Logger::new(cli.log.clone(), cli.log_format, cli.debug);
    logger.debug(&format!("{:?}", std::env::args().collect::<Vec<_>>()));
    let result = commands::dispatch(&cli, &logger);
    match result {
        Ok(code) => std::process::exit(code),
        Err(f) => {
            logger.error(&f.message);
            std::process::exit(f.code);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn command_line_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
