use crate::{Cli, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    pub id: String,
}

pub fn run(cli: &Cli, a: &Args) -> Result<i32> {
    super::check_id(&a.id)?;
    let state = wharf_linux::state(&cli.root, &a.id).map_err(super::linux_err)?;
    println!("{}", serde_json::to_string_pretty(&state)?);
    Ok(0)
}
