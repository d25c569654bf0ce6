use std::collections::HashMap;

use anyhow::Result;
use serde_json::{json, Value};
use wharf_engine::{ContainerSummary, Engine};

use crate::format::Format;
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
    /// Output: table, json (one object per line), a Go template
    /// ('{{.ID}} {{.Names}}'), or `table` and a template for aligned columns
    /// under Docker's headers. Fields: ID, Image, Command, CreatedAt,
    /// RunningFor, Ports, Status, Size, Names, Labels, Mounts, Networks,
    /// State, LocalVolumes, Kind
    #[arg(long, value_name = "FORMAT")]
    format: Option<String>,
    /// Only containers matching: label=KEY, label=KEY=VALUE, name=NAME, id=ID,
    /// status=created|running|paused|exited (repeatable; label filters must all
    /// match, several of another key need only one to, as in Docker)
    #[arg(short = 'f', long = "filter", value_name = "KEY=VALUE")]
    filters: Vec<String>,
    /// Show the N last created containers, in any state
    #[arg(short = 'n', long = "last", value_name = "N")]
    last: Option<usize>,
    /// Show the last created container, in any state
    #[arg(short = 'l', long)]
    latest: bool,
    /// Do not truncate ids and commands
    #[arg(long)]
    no_trunc: bool,
    /// Show the bytes each container wrote over its image (and the image's
    /// size besides, "virtual")
    #[arg(short = 's', long)]
    size: bool,
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    let format = Format::parse(a.format.as_deref())?;
    let filters = a
        .filters
        .iter()
        .map(|f| f.parse())
        .collect::<wharf_engine::Result<Vec<wharf_engine::ContainerFilter>>>()?;
    let last = if a.latest { Some(1) } else { a.last };
    let mut rows = engine.ps(a.all || last.is_some(), &filters)?;
    if let Some(n) = last {
        rows.truncate(n);
    }
    if a.quiet {
        for r in &rows {
            println!("{}", id_of(r, a.no_trunc));
        }
        return Ok(0);
    }
    // Sizes walk each container's files: only when asked for.
    let wants_size = a.size || a.format.as_deref().is_some_and(|f| f.contains("Size"));
    let sizes = if wants_size {
        Some(sizes(engine, &rows)?)
    } else {
        None
    };
    let size_of = |r: &ContainerSummary| sizes.as_ref().map(|s| s[&r.id].clone());
    if !format.is_table() {
        let objects: Vec<Value> = rows
            .iter()
            .map(|r| docker_row(r, a.no_trunc, size_of(r)))
            .collect();
        format.print(&objects, HEADERS)?;
        return Ok(0);
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut row = vec![
                id_of(r, a.no_trunc).to_string(),
                r.image.clone(),
                command(&r.command, a.no_trunc),
                format!("{} ago", wharf_engine::lifecycle::since(Some(&r.created))),
                r.status.clone(),
                r.ports.clone(),
                r.name.clone(),
            ];
            if let Some(size) = size_of(r) {
                row.push(size);
            }
            row
        })
        .collect();
    let mut header = vec![
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ];
    if sizes.is_some() {
        header.push("SIZE");
    }
    table::print(&header, &cells);
    Ok(0)
}

/// Docker's column header of each field, for `--format 'table ...'`.
const HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Names", "NAMES"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
    ("State", "STATE"),
    ("LocalVolumes", "LOCAL VOLUMES"),
    ("Kind", "KIND"),
];

/// A container as Docker's `ps --format` sees it (plus Wharf's Kind).
fn docker_row(r: &ContainerSummary, no_trunc: bool, size: Option<String>) -> Value {
    json!({
        "ID": id_of(r, no_trunc), "Names": r.name, "Image": r.image,
        "Command": command(&r.command, no_trunc),
        "CreatedAt": table::docker_time(&r.created),
        "RunningFor": format!("{} ago", wharf_engine::lifecycle::since(Some(&r.created))),
        "Status": r.status, "State": r.state, "Kind": r.kind, "Ports": r.ports,
        "Labels": labels_text(&r.labels), "Networks": r.networks.join(","),
        "Mounts": r.volumes.join(","), "LocalVolumes": r.volumes.len().to_string(),
        "Size": size.unwrap_or_else(|| "0B".to_string()),
    })
}

/// Each container's SIZE cell: written bytes, and with the image's
/// `(virtual N)` as Docker shows it.
fn sizes(engine: &Engine, rows: &[ContainerSummary]) -> Result<HashMap<String, String>> {
    let images: HashMap<String, u64> = engine
        .images()?
        .into_iter()
        .map(|i| (i.id, i.size))
        .collect();
    let mut out = HashMap::new();
    for r in rows {
        let written = engine.container_size(&r.id)?;
        let image = engine
            .container(&r.id)
            .ok()
            .and_then(|c| images.get(&c.state.image_id).copied())
            .unwrap_or(0);
        out.insert(
            r.id.clone(),
            format!(
                "{} (virtual {})",
                table::human_size(written),
                table::human_size(written + image)
            ),
        );
    }
    Ok(out)
}

fn id_of(r: &ContainerSummary, no_trunc: bool) -> &str {
    if no_trunc {
        &r.id
    } else {
        &r.id[..12]
    }
}

/// Docker's `Labels` field: `k=v,k2=v2`.
fn labels_text(labels: &std::collections::BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Docker shows the command in quotes, cut to 20 characters unless
/// `--no-trunc`.
pub(super) fn command(cmd: &str, no_trunc: bool) -> String {
    let short: String = if !no_trunc && cmd.chars().count() > 20 {
        cmd.chars().take(19).collect::<String>() + "…"
    } else {
        cmd.to_string()
    };
    format!("\"{short}\"")
}
