use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use wharf_engine::Engine;

/// Save images to an OCI archive (a tar of an OCI image layout)
#[derive(clap::Args)]
pub struct Args {
    /// Write to this file instead of stdout
    #[arg(short = 'o', long)]
    output: Option<PathBuf>,
    /// Images to save: names, ids or digests
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    match a.output {
        Some(path) => {
            // Written beside the target and renamed, so a failed save leaves no partial archive.
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let mut tmp = tempfile::NamedTempFile::new_in(dir)
                .with_context(|| format!("creating a file in {}", dir.display()))?;
            engine.save(&a.images, std::io::BufWriter::new(tmp.as_file_mut()))?;
            tmp.as_file().sync_all()?;
            tmp.persist(&path)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        None => {
            if std::io::stdout().is_terminal() {
                bail!("refusing to write an archive to a terminal: use -o FILE or redirect stdout");
            }
            let mut out = std::io::stdout().lock();
            engine.save(&a.images, &mut out)?;
            out.flush()?;
        }
    }
    Ok(0)
}
