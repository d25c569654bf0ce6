use anyhow::Result;
use serde_json::Value;
use wharf_engine::Engine;

use crate::table;

/// Manage networks (bridge networks with container name resolution)
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Create a bridge network
    Create {
        /// Subnet in CIDR form [default: the next free 10.89.N.0/24]
        #[arg(long)]
        subnet: Option<String>,
        /// Gateway address [default: the subnet's first address]
        #[arg(long)]
        gateway: Option<String>,
        /// No outbound access: containers reach only each other
        #[arg(long)]
        internal: bool,
        /// Driver (only bridge)
        #[arg(short = 'd', long, default_value = "bridge")]
        driver: String,
        name: String,
    },
    /// List networks
    #[command(alias = "list")]
    Ls {
        /// Only print network names
        #[arg(short = 'q', long)]
        quiet: bool,
        /// Output format: table or json (one object per line)
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// Show networks in detail (JSON), with their containers
    Inspect {
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// Remove networks (refused while containers use them)
    #[command(alias = "remove")]
    Rm {
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// Remove every network no container uses (the default `bridge` stays)
    Prune {
        /// Do not ask (Wharf never asks; accepted for Docker's scripts)
        #[arg(short = 'f', long)]
        force: bool,
    },
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    match a.command {
        Command::Create {
            subnet,
            gateway,
            internal,
            driver,
            name,
        } => {
            if driver != "bridge" {
                anyhow::bail!("network driver {driver} is not supported: Wharf makes bridge networks (--driver bridge)");
            }
            let n =
                engine.network_create(&name, subnet.as_deref(), gateway.as_deref(), internal)?;
            println!("{}", n.id());
            Ok(0)
        }
        Command::Ls { quiet, format } => {
            let nets = engine.network_list()?;
            let field = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
            if quiet {
                for n in &nets {
                    println!("{}", field(n, "Name"));
                }
                return Ok(0);
            }
            match format.as_str() {
                "json" => nets.iter().for_each(|n| println!("{n}")),
                "table" => {
                    let cells: Vec<Vec<String>> = nets
                        .iter()
                        .map(|n| {
                            let subnet = n["IPAM"]["Config"][0]["Subnet"].as_str().unwrap_or("");
                            vec![
                                field(n, "Id").chars().take(12).collect(),
                                field(n, "Name"),
                                field(n, "Driver"),
                                subnet.to_string(),
                                n["Containers"]
                                    .as_object()
                                    .map_or(0, |c| c.len())
                                    .to_string(),
                            ]
                        })
                        .collect();
                    table::print(
                        &["NETWORK ID", "NAME", "DRIVER", "SUBNET", "CONTAINERS"],
                        &cells,
                    );
                }
                other => anyhow::bail!("unknown --format {other}: use table or json"),
            }
            Ok(0)
        }
        Command::Inspect { networks } => {
            let mut found = Vec::new();
            let mut code = 0;
            for n in &networks {
                match engine.network_inspect(n) {
                    Ok(v) => found.push(v),
                    Err(e) => {
                        eprintln!("Error: {e}");
                        code = 1;
                    }
                }
            }
            println!("{}", serde_json::to_string_pretty(&found)?);
            Ok(code)
        }
        Command::Rm { networks } => super::each(&networks, |n| engine.network_remove(n)),
        Command::Prune { force: _ } => {
            let removed = engine.network_prune()?;
            if !removed.is_empty() {
                println!("Deleted Networks:");
                for n in removed {
                    println!("{n}");
                }
            }
            Ok(0)
        }
    }
}
