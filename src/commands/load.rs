use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use anyhow::{Context, Result};
use wharf_engine::Engine;

/// Load images from an OCI archive or a docker-archive (tar, gzip or zstd)
#[derive(clap::Args)]
pub struct Args {
    /// Read from this file instead of stdin
    #[arg(short = 'i', long)]
    input: Option<PathBuf>,
    /// Print nothing
    #[arg(short = 'q', long)]
    quiet: bool,
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    let loaded = match &a.input {
        Some(path) => {
            let f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            engine
                .load(BufReader::new(f))
                .with_context(|| format!("loading {}", path.display()))?
        }
        None => engine
            .load(std::io::stdin().lock())
            .context("loading from stdin")?,
    };
    if !a.quiet {
        for name in loaded {
            if name.starts_with("sha256:") {
                println!("Loaded image ID: {}", crate::table::escape_controls(&name));
            } else {
                println!("Loaded image: {}", crate::table::escape_controls(&name));
            }
        }
    }
    Ok(0)
}
