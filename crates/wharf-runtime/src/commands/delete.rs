use crate::{Cli, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Kill a running container first; a missing container is not an error.
    #[arg(short, long)]
    pub force: bool,
    pub id: String,
}

pub fn run(cli: &Cli, a: &Args) -> Result<i32> {
    super::check_id(&a.id)?;
    match wharf_linux::delete(&cli.root, &a.id, a.force) {
        Ok(()) => Ok(0),
        // Like runc: `delete --force` of a container that is already gone succeeds.
        Err(wharf_linux::Error::NotFound { .. }) if a.force => {
            let _ = std::fs::remove_dir_all(cli.root.join(&a.id));
            Ok(0)
        }
        Err(e) => Err(super::linux_err(e)),
    }
}
