use std::path::PathBuf;

use crate::{Failure, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory to write config.json into.
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
}

pub fn run(cli: &crate::Cli, a: &Args) -> Result<i32> {
    if cli.rootless.as_deref() == Some("true") {
        return Err(Failure::from("--rootless specs are not supported"));
    }
    let path = a.bundle.join("config.json");
    if path.exists() {
        return Err(Failure::from(format!(
            "File {} exists. Remove it first",
            path.display()
        )));
    }
    let text = serde_json::to_string_pretty(&wharf_linux::default_spec())?;
    std::fs::write(&path, text + "\n")
        .map_err(|e| Failure::from(format!("writing {}: {e}", path.display())))?;
    Ok(0)
}
