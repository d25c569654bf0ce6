use crate::log::Logger;
use crate::{Cli, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub create: super::create::Args,
    /// Return once started instead of waiting for the container.
    #[arg(short, long)]
    pub detach: bool,
    /// Keep the container's state after it exits (foreground only).
    #[arg(long)]
    pub keep: bool,
}

/// create + start; in the foreground, wait, delete, and exit with the
/// container's code (a pty is proxied when the spec asks for a terminal).
pub fn run(cli: &Cli, log: &Logger, a: &Args) -> Result<i32> {
    let id = &a.create.id;
    let (started, spec) = super::create::create(cli, log, &a.create, !a.detach)?;
    if let Err(e) = wharf_linux::start_created(&cli.root, id) {
        let _ = wharf_linux::delete(&cli.root, id, true);
        return Err(super::linux_err(e));
    }
    if a.detach {
        return Ok(0);
    }
    super::forward_signals(started.pid);
    if let Some(master) = started.pty_master {
        wharf_linux::proxy_terminal(master);
    }
    let code = wharf_linux::wait_process(started.pid).map_err(super::linux_err);
    if !a.keep {
        // The init is reaped: what is left is empty cgroups and state.
        let _ = wharf_linux::remove_reaped(&cli.root, id, &spec);
    }
    code
}
