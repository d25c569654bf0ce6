use anyhow::Result;
use wharf_engine::Engine;

use crate::table;

/// Manage volumes (named directories that outlive containers, for both kinds)
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Create a volume [default name: 64 random hex digits]
    Create {
        /// Set metadata on the volume (KEY=VALUE); repeatable
        #[arg(long = "label", value_name = "KEY=VALUE")]
        labels: Vec<String>,
        /// Driver (only local)
        #[arg(short = 'd', long, default_value = "local")]
        driver: String,
        name: Option<String>,
    },
    /// List volumes
    #[command(alias = "list")]
    Ls {
        /// Only print volume names
        #[arg(short = 'q', long)]
        quiet: bool,
    },
    /// Show volumes in detail (JSON)
    Inspect {
        #[arg(required = true)]
        volumes: Vec<String>,
    },
    /// Remove volumes (refused while containers use them)
    #[command(alias = "remove")]
    Rm {
        /// Do not complain about volumes that do not exist
        #[arg(short = 'f', long)]
        force: bool,
        #[arg(required = true)]
        volumes: Vec<String>,
    },
    /// Remove every volume no container uses
    Prune {
        /// Do not ask (Wharf never asks; accepted for Docker's scripts)
        #[arg(short = 'f', long)]
        force: bool,
        /// Every unused volume (Docker's flag; Wharf has only named volumes,
        /// so prune always removes them all)
        #[arg(short = 'a', long)]
        all: bool,
    },
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    match a.command {
        Command::Create {
            labels,
            driver,
            name,
        } => {
            if driver != "local" {
                anyhow::bail!("volume driver {driver} is not supported: Wharf makes local volumes (--driver local)");
            }
            let v = engine.volume_create(name.as_deref(), &labels)?;
            println!("{}", v.name);
            Ok(0)
        }
        Command::Ls { quiet } => {
            let volumes = engine.volume_list()?;
            if quiet {
                for v in &volumes {
                    println!("{}", v.name);
                }
            } else {
                let cells: Vec<Vec<String>> = volumes
                    .iter()
                    .map(|v| vec!["local".to_string(), v.name.clone()])
                    .collect();
                table::print(&["DRIVER", "VOLUME NAME"], &cells);
            }
            Ok(0)
        }
        Command::Inspect { volumes } => {
            let mut found = Vec::new();
            let mut code = 0;
            for v in &volumes {
                match engine.volume(v) {
                    Ok(v) => found.push(v.docker_json()),
                    Err(e) => {
                        eprintln!("Error: {}", table::escape_controls(&e.to_string()));
                        code = 1;
                    }
                }
            }
            println!("{}", serde_json::to_string_pretty(&found)?);
            Ok(code)
        }
        Command::Rm { force, volumes } => super::each(&volumes, |v| engine.volume_remove(v, force)),
        Command::Prune { force: _, all: _ } => {
            let pruned = engine.volume_prune()?;
            if !pruned.removed.is_empty() {
                println!("Deleted Volumes:");
                for v in &pruned.removed {
                    println!("{v}");
                }
                println!();
            }
            println!(
                "Total reclaimed space: {}",
                table::human_size(pruned.reclaimed)
            );
            Ok(0)
        }
    }
}
