use crate::{Cli, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    pub id: String,
}

pub fn run(cli: &Cli, a: &Args) -> Result<i32> {
    super::check_id(&a.id)?;
    wharf_linux::start_created(&cli.root, &a.id).map_err(super::linux_err)?;
    Ok(0)
}
