use anyhow::Result;
use wharf_engine::Engine;

use crate::format::Format;
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
        /// The volume's name
        name: Option<String>,
    },
    /// List volumes
    #[command(alias = "list")]
    Ls {
        /// Only print volume names
        #[arg(short = 'q', long)]
        quiet: bool,
        /// Output: table, json (one object per line), a Go template
        /// ('{{.Name}}'), or `table` and a template. Fields: Driver, Name,
        /// Mountpoint, Labels, Scope, CreatedAt
        #[arg(long, value_name = "FORMAT")]
        format: Option<String>,
    },
    /// Show volumes in detail (JSON)
    Inspect {
        /// Volume names
        #[arg(required = true, value_name = "VOLUME")]
        volumes: Vec<String>,
    },
    /// Remove volumes (refused while containers use them)
    #[command(alias = "remove")]
    Rm {
        /// Do not complain about volumes that do not exist
        #[arg(short = 'f', long)]
        force: bool,
        /// Volume names
        #[arg(required = true, value_name = "VOLUME")]
        volumes: Vec<String>,
    },
    /// Remove every volume no container uses
    Prune {
        /// Do not ask for confirmation (needed when stdin is not a terminal)
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
        Command::Ls { quiet, format } => {
            let format = Format::parse(format.as_deref())?;
            let volumes = engine.volume_list()?;
            if !quiet && !format.is_table() {
                let rows: Vec<serde_json::Value> = volumes.iter().map(docker_row).collect();
                format.print(&rows, HEADERS)?;
            } else if quiet {
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
        Command::Prune { force, all: _ } => {
            let warning =
                "WARNING! This will remove all local volumes not used by at least one container.";
            if !super::prune::confirm(force, warning, "volume prune")? {
                return Ok(0);
            }
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

/// Docker's column header of each field, for `--format 'table ...'`.
const HEADERS: &[(&str, &str)] = &[
    ("Driver", "DRIVER"),
    ("Name", "VOLUME NAME"),
    ("Mountpoint", "MOUNTPOINT"),
    ("Labels", "LABELS"),
    ("Scope", "SCOPE"),
    ("CreatedAt", "CREATED AT"),
];

/// A volume as Docker's `volume ls --format` sees it.
fn docker_row(v: &wharf_engine::Volume) -> serde_json::Value {
    let labels: Vec<String> = v.labels.iter().map(|(k, x)| format!("{k}={x}")).collect();
    serde_json::json!({
        "Driver": "local", "Name": v.name, "Mountpoint": v.mountpoint,
        "Labels": labels.join(","), "Scope": "local",
        "CreatedAt": table::docker_time(&v.created_at),
    })
}
