use anyhow::Result;
use serde_json::json;
use wharf_engine::Engine;

use crate::table;

/// List containers
#[derive(clap::Args)]
pub struct Args {
    /// Show all containers, not only running ones
    #[arg(short = 'a', long)]
    all: bool,
    /// Only print container ids
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Output format: table or json (one object per line)
    #[arg(long, default_value = "table")]
    format: String,
    /// Only containers matching: label=KEY, label=KEY=VALUE, name=NAME, id=ID,
    /// status=created|running|paused|exited (repeatable; label filters must all
    /// match, several of another key need only one to, as in Docker)
    #[arg(short = 'f', long = "filter", value_name = "KEY=VALUE")]
    filters: Vec<String>,
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    let filters = a
        .filters
        .iter()
        .map(|f| f.parse())
        .collect::<wharf_engine::Result<Vec<wharf_engine::ContainerFilter>>>()?;
    let rows = engine.ps(a.all, &filters)?;
    if a.quiet {
        for r in &rows {
            println!("{}", &r.id[..12]);
        }
        return Ok(0);
    }
    match a.format.as_str() {
        "json" => {
            for r in &rows {
                let v = json!({
                    "ID": &r.id[..12], "Names": r.name, "Image": r.image, "Command": r.command,
                    "CreatedAt": r.created, "Status": r.status, "State": r.state, "Kind": r.kind,
                    "Ports": r.ports, "Labels": labels_text(&r.labels),
                });
                println!("{v}");
            }
        }
        "table" => {
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        r.id[..12].to_string(),
                        r.image.clone(),
                        quote_command(&r.command),
                        format!("{} ago", wharf_engine::lifecycle::since(Some(&r.created))),
                        r.status.clone(),
                        r.ports.clone(),
                        r.name.clone(),
                    ]
                })
                .collect();
            table::print(
                &[
                    "CONTAINER ID",
                    "IMAGE",
                    "COMMAND",
                    "CREATED",
                    "STATUS",
                    "PORTS",
                    "NAMES",
                ],
                &cells,
            );
        }
        other => anyhow::bail!("unknown --format {other}: use table or json"),
    }
    Ok(0)
}

/// Docker's `Labels` field: `k=v,k2=v2`.
fn labels_text(labels: &std::collections::BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Docker truncates the command to 20 characters inside quotes.
fn quote_command(cmd: &str) -> String {
    let short: String = if cmd.chars().count() > 20 {
        cmd.chars().take(19).collect::<String>() + "…"
    } else {
        cmd.to_string()
    };
    format!("\"{short}\"")
}
