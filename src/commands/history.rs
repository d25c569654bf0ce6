use anyhow::Result;
use serde_json::{json, Value};
use wharf_engine::images::HistoryEntry;
use wharf_engine::Engine;

use crate::format::Format;
use crate::table;

/// Show the history of an image: the steps that made it, newest first
#[derive(clap::Args)]
pub struct Args {
    /// Do not truncate ids and the CREATED BY column
    #[arg(long)]
    no_trunc: bool,
    /// Sizes and dates for people ("5 days ago", "1.2MB"); -H=false prints
    /// RFC 3339 times and bytes
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true, value_name = "BOOL")]
    human: bool,
    /// Only print image ids (`<missing>` for steps below the image)
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Output: table, json (one object per line), a Go template
    /// ('{{.CreatedBy}}'), or `table` and a template. Fields: ID,
    /// CreatedSince, CreatedAt, CreatedBy, Size, Comment
    #[arg(long, value_name = "FORMAT")]
    format: Option<String>,
    /// The image: name, id or digest
    image: String,
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    let format = Format::parse(a.format.as_deref())?;
    let steps = engine.image_history(&a.image)?;
    let rows: Vec<Value> = steps
        .iter()
        .map(|s| docker_row(s, a.no_trunc, a.human))
        .collect();
    let cell = |r: &Value, k: &str| r[k].as_str().unwrap_or_default().to_string();
    if a.quiet {
        rows.iter().for_each(|r| println!("{}", cell(r, "ID")));
        return Ok(0);
    }
    if !format.is_table() {
        format.print(&rows, HEADERS)?;
        return Ok(0);
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            ["ID", "CreatedSince", "CreatedBy", "Size", "Comment"]
                .iter()
                .map(|k| cell(r, k))
                .collect()
        })
        .collect();
    table::print(
        &["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
        &cells,
    );
    Ok(0)
}

/// Docker's column header of each field, for `--format 'table ...'`.
const HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedBy", "CREATED BY"),
    ("Size", "SIZE"),
    ("Comment", "COMMENT"),
];

/// A step as Docker's `history --format` sees it.
fn docker_row(s: &HistoryEntry, no_trunc: bool, human: bool) -> Value {
    let id = match &s.id {
        Some(id) if no_trunc => id.clone(),
        Some(id) => id.trim_start_matches("sha256:").chars().take(12).collect(),
        None => "<missing>".to_string(),
    };
    // Docker cuts CREATED BY to 45 characters.
    let created_by = if !no_trunc && s.created_by.chars().count() > 45 {
        s.created_by.chars().take(44).collect::<String>() + "…"
    } else {
        s.created_by.clone()
    };
    json!({
        "ID": id,
        "CreatedSince": match &s.created {
            Some(t) if human => format!("{} ago", wharf_engine::lifecycle::since(Some(t))),
            Some(t) => t.clone(),
            None => "N/A".to_string(),
        },
        "CreatedAt": s.created.as_deref().map(table::docker_time).unwrap_or_default(),
        "CreatedBy": created_by,
        "Size": if human { table::human_size(s.size) } else { s.size.to_string() },
        "Comment": s.comment,
    })
}
