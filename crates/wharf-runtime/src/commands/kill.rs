use crate::{Cli, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Signal every process of the container, not just its init.
    #[arg(short, long)]
    pub all: bool,
    pub id: String,
    /// Signal name (TERM, SIGKILL) or number.
    #[arg(default_value = "SIGTERM", allow_hyphen_values = true)]
    pub signal: String,
}

pub fn run(cli: &Cli, a: &Args) -> Result<i32> {
    super::check_id(&a.id)?;
    let sig = wharf_linux::parse_signal(&a.signal).map_err(super::linux_err)?;
    wharf_linux::kill(&cli.root, &a.id, sig, a.all).map_err(super::linux_err)?;
    Ok(0)
}
