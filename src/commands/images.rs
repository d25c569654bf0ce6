use anyhow::Result;
use serde_json::json;
use wharf_engine::Engine;

use crate::table;

/// List images
#[derive(clap::Args)]
pub struct Args {
    /// Only print image ids
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Output format: table or json (one object per line)
    #[arg(long, default_value = "table")]
    format: String,
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    let mut rows = Vec::new();
    for img in engine.images()? {
        let names = if img.names.is_empty() {
            vec!["<none>:<none>".to_string()]
        } else {
            img.names.clone()
        };
        for name in names {
            let (repo, tag) = table::split_name(&name);
            rows.push((repo, tag, img.clone()));
        }
    }
    if a.quiet {
        for (_, _, img) in &rows {
            println!("{}", short(&img.id));
        }
        return Ok(0);
    }
    match a.format.as_str() {
        "json" => {
            for (repo, tag, img) in &rows {
                let v = json!({
                    "Repository": repo, "Tag": tag, "ID": short(&img.id), "Digest": img.manifest_digest,
                    "CreatedAt": img.created, "Size": table::human_size(img.size), "Platform": img.platforms.join(","),
                });
                println!("{v}");
            }
        }
        "table" => {
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|(repo, tag, img)| {
                    vec![
                        repo.clone(),
                        tag.clone(),
                        short(&img.id).to_string(),
                        img.platforms.join(","),
                        table::human_size(img.size),
                    ]
                })
                .collect();
            table::print(
                &["REPOSITORY", "TAG", "IMAGE ID", "PLATFORM", "SIZE"],
                &cells,
            );
        }
        other => anyhow::bail!("unknown --format {other}: use table or json"),
    }
    Ok(0)
}

fn short(digest: &str) -> &str {
    let hex = digest.trim_start_matches("sha256:");
    &hex[..hex.len().min(12)]
}
