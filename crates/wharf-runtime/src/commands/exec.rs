use std::path::PathBuf;

use oci_spec::runtime::Process;

use crate::{Cli, Failure, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// process.json (runtime-spec Process) to run instead of the inline form.
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    /// Return once the process started.
    #[arg(short, long)]
    pub detach: bool,
    /// Write the process's pid to this file.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Allocate a pseudo terminal (inline form).
    #[arg(short, long)]
    pub tty: bool,
    /// Unix socket that receives the pty master.
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Working directory (inline form).
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Extra environment KEY=VALUE (inline form).
    #[arg(short, long)]
    pub env: Vec<String>,
    /// uid[:gid] (inline form).
    #[arg(short, long)]
    pub user: Option<String>,
    /// Pass this many extra fds (from 3) to the process.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: i32,
    pub id: String,
    /// Command and arguments (inline form).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

fn parse_user(u: &str) -> Result<(u32, u32)> {
    let bad = || {
        Failure::from(format!(
            "invalid --user {u:?}: use uid or uid:gid (numbers)"
        ))
    };
    let (uid, gid) = u.split_once(':').unwrap_or((u, "0"));
    Ok((
        uid.parse().map_err(|_| bad())?,
        gid.parse().map_err(|_| bad())?,
    ))
}

pub fn run(cli: &Cli, a: &Args) -> Result<i32> {
    super::check_id(&a.id)?;
    let process: Process = match &a.process {
        Some(path) => {
            let text = std::fs::read(path)
                .map_err(|e| Failure::from(format!("reading {}: {e}", path.display())))?;
            serde_json::from_slice(&text)
                .map_err(|e| Failure::from(format!("invalid process {}: {e}", path.display())))?
        }
        None => {
            if a.command.is_empty() {
                return Err(Failure::from(
                    "exec needs a command: wharf-runtime exec ID COMMAND [ARG...] or --process FILE",
                ));
            }
            let user = a.user.as_deref().map(parse_user).transpose()?;
            wharf_linux::exec_defaults(
                &cli.root,
                &a.id,
                a.command.clone(),
                a.env.clone(),
                a.cwd.clone(),
                user,
                a.tty,
            )
            .map_err(super::linux_err)?
        }
    };
    let terminal = process.terminal().unwrap_or(false);
    if a.detach && terminal && a.console_socket.is_none() {
        return Err(Failure::from(
            "cannot allocate a tty for a detached exec without --console-socket",
        ));
    }
    let opts = wharf_linux::ExecOptions {
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
        preserve_fds: a.preserve_fds,
        stdio: None,
    };
    let started =
        wharf_linux::exec_process(&cli.root, &a.id, &process, opts).map_err(super::linux_err)?;
    if a.detach {
        return Ok(0);
    }
    super::forward_signals(started.pid);
    if let Some(master) = started.pty_master {
        wharf_linux::proxy_terminal(master);
    }
    wharf_linux::wait_process(started.pid).map_err(super::linux_err)
}
