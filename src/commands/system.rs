use anyhow::Result;
use serde_json::{json, Value};
use wharf_engine::system::Usage;
use wharf_engine::Engine;

use super::{info, prune};
use crate::format::Format;
use crate::table;

/// Manage Wharf: disk usage, prune, info
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Show the space images, containers and volumes take, and what a
    /// prune would free
    Df(DfArgs),
    Prune(prune::SystemArgs),
    Info(info::Args),
}

#[derive(clap::Args)]
struct DfArgs {
    /// Output: table, json (one object per line), a Go template
    /// ('{{.Type}} {{.Size}}'), or `table` and a template. Fields: Type,
    /// TotalCount, Active, Size, Reclaimable
    #[arg(long, value_name = "FORMAT")]
    format: Option<String>,
    /// Show each image, container and volume, with its size (images: the
    /// bytes of layers other images share, and how many containers use it)
    #[arg(short = 'v', long)]
    verbose: bool,
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    match a.command {
        Command::Df(a) => df(engine, a),
        Command::Prune(a) => prune::system(engine, a),
        Command::Info(a) => info::exec(engine, a),
    }
}

fn df(engine: &Engine, a: DfArgs) -> Result<i32> {
    let format = Format::parse(a.format.as_deref())?;
    if a.verbose {
        if !format.is_table() {
            anyhow::bail!(
                "system df -v prints tables only: drop --format, or drop -v for --format"
            );
        }
        return verbose(engine);
    }
    let rows: Vec<Value> = engine.disk_usage()?.iter().map(docker_row).collect();
    if !format.is_table() {
        format.print(&rows, HEADERS)?;
        return Ok(0);
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            ["Type", "TotalCount", "Active", "Size", "Reclaimable"]
                .iter()
                .map(|k| match &r[*k] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect();
    table::print(&["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"], &cells);
    Ok(0)
}

/// Docker's column header of each field, for `--format 'table ...'`.
const HEADERS: &[(&str, &str)] = &[
    ("Type", "TYPE"),
    ("TotalCount", "TOTAL"),
    ("Active", "ACTIVE"),
    ("Size", "SIZE"),
    ("Reclaimable", "RECLAIMABLE"),
];

/// A `system df` line as Docker's `--format` sees it.
fn docker_row(u: &Usage) -> Value {
    // Docker: the share of the total, when there is a total.
    let reclaimable = match (u.reclaimable * 100).checked_div(u.size) {
        Some(percent) => format!("{} ({percent}%)", table::human_size(u.reclaimable)),
        None => table::human_size(u.reclaimable),
    };
    json!({
        "Type": u.kind, "TotalCount": u.total.to_string(), "Active": u.active.to_string(),
        "Size": table::human_size(u.size), "Reclaimable": reclaimable,
    })
}

/// `system df -v`: Docker's three sections.
fn verbose(engine: &Engine) -> Result<i32> {
    println!("Images space usage:\n");
    let mut cells = Vec::new();
    for img in engine.image_usage()? {
        let names: Vec<(String, String)> = if img.names.is_empty() {
            vec![("<none>".into(), "<none>".into())]
        } else {
            img.names.iter().map(|n| table::split_name(n)).collect()
        };
        for (repo, tag) in names {
            cells.push(vec![
                repo,
                tag,
                img.id
                    .trim_start_matches("sha256:")
                    .chars()
                    .take(12)
                    .collect(),
                match &img.created {
                    Some(t) => format!("{} ago", wharf_engine::lifecycle::since(Some(t))),
                    None => "N/A".to_string(),
                },
                table::human_size(img.size),
                table::human_size(img.shared),
                table::human_size(img.size.saturating_sub(img.shared)),
                img.containers.to_string(),
            ]);
        }
    }
    table::print(
        &[
            "REPOSITORY",
            "TAG",
            "IMAGE ID",
            "CREATED",
            "SIZE",
            "SHARED SIZE",
            "UNIQUE SIZE",
            "CONTAINERS",
        ],
        &cells,
    );
    println!("\nContainers space usage:\n");
    let mut cells = Vec::new();
    for r in engine.ps(true, &[])? {
        cells.push(vec![
            r.id[..12].to_string(),
            r.image.clone(),
            super::ps::command(&r.command, false),
            r.volumes.len().to_string(),
            table::human_size(engine.container_size(&r.id)?),
            format!("{} ago", wharf_engine::lifecycle::since(Some(&r.created))),
            r.status.clone(),
            r.name.clone(),
        ]);
    }
    table::print(
        &[
            "CONTAINER ID",
            "IMAGE",
            "COMMAND",
            "LOCAL VOLUMES",
            "SIZE",
            "CREATED",
            "STATUS",
            "NAMES",
        ],
        &cells,
    );
    println!("\nLocal Volumes space usage:\n");
    let cells: Vec<Vec<String>> = engine
        .volume_usage()?
        .into_iter()
        .map(|v| vec![v.name, v.links.to_string(), table::human_size(v.size)])
        .collect();
    table::print(&["VOLUME NAME", "LINKS", "SIZE"], &cells);
    Ok(0)
}
