use anyhow::Result;
use serde_json::Value;
use wharf_engine::Engine;

use crate::format::Format;
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
        /// The network's name
        name: String,
    },
    /// List networks
    #[command(alias = "list")]
    Ls {
        /// Only print network names
        #[arg(short = 'q', long)]
        quiet: bool,
        /// Output: table, json (one object per line), a Go template
        /// ('{{.Name}}'), or `table` and a template. Fields: ID, Name,
        /// Driver, Scope, IPv6, Internal, Labels, CreatedAt, Subnet
        #[arg(long, value_name = "FORMAT")]
        format: Option<String>,
    },
    /// Show networks in detail (JSON), with their containers
    Inspect {
        /// Network names or ids
        #[arg(required = true, value_name = "NETWORK")]
        networks: Vec<String>,
    },
    /// Remove networks (refused while containers use them)
    #[command(alias = "remove")]
    Rm {
        /// Network names or ids
        #[arg(required = true, value_name = "NETWORK")]
        networks: Vec<String>,
    },
    /// Remove every network no container uses (the default `bridge` stays)
    Prune {
        /// Do not ask for confirmation (needed when stdin is not a terminal)
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
            // Parsed first: a bad template is an error before anything prints.
            Format::parse(format.as_deref())?;
            let nets = engine.network_list()?;
            let field = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
            if quiet {
                for n in &nets {
                    println!("{}", field(n, "Name"));
                }
                return Ok(0);
            }
            let format = Format::parse(format.as_deref())?;
            if !format.is_table() {
                let rows: Vec<Value> = nets.iter().map(docker_row).collect();
                format.print(&rows, HEADERS)?;
                return Ok(0);
            }
            let cells: Vec<Vec<String>> = nets
                .iter()
                .map(|n| {
                    vec![
                        field(n, "Id").chars().take(12).collect(),
                        field(n, "Name"),
                        field(n, "Driver"),
                        subnet(n),
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
        Command::Prune { force } => {
            let warning =
                "WARNING! This will remove all custom networks not used by at least one container.";
            if !super::prune::confirm(force, warning, "network prune")? {
                return Ok(0);
            }
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

/// Docker's column header of each field, for `--format 'table ...'`.
const HEADERS: &[(&str, &str)] = &[
    ("ID", "NETWORK ID"),
    ("Name", "NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("IPv6", "IPV6"),
    ("Internal", "INTERNAL"),
    ("Labels", "LABELS"),
    ("CreatedAt", "CREATED AT"),
    ("Subnet", "SUBNET"),
];

/// A network as Docker's `network ls --format` sees it (plus its subnet).
fn docker_row(n: &Value) -> Value {
    let text = |k: &str| n[k].as_str().unwrap_or_default().to_string();
    serde_json::json!({
        "ID": text("Id").chars().take(12).collect::<String>(),
        "Name": text("Name"), "Driver": text("Driver"), "Scope": text("Scope"),
        "IPv6": n["EnableIPv6"].as_bool().unwrap_or(false).to_string(),
        "Internal": n["Internal"].as_bool().unwrap_or(false).to_string(),
        "Labels": "", "CreatedAt": table::docker_time(&text("Created")),
        "Subnet": subnet(n),
    })
}

fn subnet(n: &Value) -> String {
    n["IPAM"]["Config"][0]["Subnet"]
        .as_str()
        .unwrap_or("")
        .to_string()
}
