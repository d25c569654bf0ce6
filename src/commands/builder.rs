use anyhow::Result;
use wharf_engine::Engine;

use crate::table;

/// Manage the build cache
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Remove the build cache (the layers only it keeps are deleted)
    Prune {
        /// Do not ask (Wharf never asks; accepted for Docker's scripts)
        #[arg(short = 'f', long)]
        force: bool,
        /// All of the cache (Docker's flag; Wharf always removes all of it)
        #[arg(short = 'a', long)]
        all: bool,
    },
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    match a.command {
        Command::Prune { force: _, all: _ } => {
            let (entries, freed) = engine.prune_build_cache()?;
            println!("Deleted build cache entries: {entries}");
            println!("Total reclaimed space: {}", table::human_size(freed));
            Ok(0)
        }
    }
}
