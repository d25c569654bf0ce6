use anyhow::Result;
use serde_json::{json, Value};
use wharf_engine::images::ImageSummary;
use wharf_engine::{Engine, ImageFilter};

use crate::format::Format;
use crate::table;

/// List images
#[derive(clap::Args)]
pub struct Args {
    /// Only print image ids
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Output: table, json (one object per line), a Go template
    /// ('{{.Repository}}:{{.Tag}}'), or `table` and a template. Fields: ID,
    /// Repository, Tag, Digest, CreatedSince, CreatedAt, Size, Platform
    #[arg(long, value_name = "FORMAT")]
    format: Option<String>,
    /// Only images matching: dangling=true|false (without a name),
    /// reference=PATTERN (a glob over repo or repo:tag); repeatable
    #[arg(short = 'f', long = "filter", value_name = "KEY=VALUE")]
    filters: Vec<String>,
    /// Do not truncate image ids
    #[arg(long)]
    no_trunc: bool,
    /// Show all images (Docker's flag: Wharf keeps no intermediate images,
    /// so the list is the same)
    #[arg(short = 'a', long)]
    all: bool,
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    let format = Format::parse(a.format.as_deref())?;
    let filters = a
        .filters
        .iter()
        .map(|f| f.parse())
        .collect::<wharf_engine::Result<Vec<ImageFilter>>>()?;
    let mut rows = Vec::new();
    for img in engine.images()? {
        let names: Vec<Option<String>> = if img.names.is_empty() {
            vec![None]
        } else {
            img.names.iter().cloned().map(Some).collect()
        };
        for name in names {
            if !ImageFilter::all_match(&filters, name.as_deref()) {
                continue;
            }
            let (repo, tag) = match &name {
                Some(n) => table::split_name(n),
                None => ("<none>".to_string(), "<none>".to_string()),
            };
            rows.push((repo, tag, img.clone()));
        }
    }
    let id = |img: &ImageSummary| {
        if a.no_trunc {
            img.id.clone()
        } else {
            short(&img.id).to_string()
        }
    };
    if a.quiet {
        for (_, _, img) in &rows {
            println!("{}", id(img));
        }
        return Ok(0);
    }
    if !format.is_table() {
        let objects: Vec<Value> = rows
            .iter()
            .map(|(repo, tag, img)| {
                json!({
                    "Repository": repo, "Tag": tag, "ID": id(img), "Digest": img.manifest_digest,
                    "CreatedAt": img.created.as_deref().map(table::docker_time).unwrap_or_default(),
                    "CreatedSince": created_since(img),
                    "Size": table::human_size(img.size), "Platform": img.platforms.join(","),
                    "UnpackedSize": unpacked(engine, img),
                })
            })
            .collect();
        format.print(&objects, HEADERS)?;
        return Ok(0);
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|(repo, tag, img)| {
            vec![
                repo.clone(),
                tag.clone(),
                id(img),
                img.platforms.join(","),
                table::human_size(img.size),
                unpacked(engine, img),
            ]
        })
        .collect();
    table::print(
        &[
            "REPOSITORY",
            "TAG",
            "IMAGE ID",
            "PLATFORM",
            "SIZE",
            "UNPACKED",
        ],
        &cells,
    );
    Ok(0)
}

/// Docker's column header of each field, for `--format 'table ...'`.
const HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE ID"),
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("Platform", "PLATFORM"),
    ("UnpackedSize", "UNPACKED"),
];

/// The image's unpacked size, "-" before its layers are unpacked.
fn unpacked(engine: &Engine, img: &ImageSummary) -> String {
    engine
        .unpacked_size(&img.manifest_digest)
        .map(table::human_size)
        .unwrap_or_else(|| "-".to_string())
}

fn created_since(img: &ImageSummary) -> String {
    match &img.created {
        Some(t) => format!("{} ago", wharf_engine::lifecycle::since(Some(t))),
        None => "N/A".to_string(),
    }
}

fn short(digest: &str) -> &str {
    let hex = digest.trim_start_matches("sha256:");
    &hex[..hex.len().min(12)]
}
