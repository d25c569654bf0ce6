use std::io::Write;

use anyhow::{bail, Context, Result};
use wharf_engine::Engine;

/// Export a container's filesystem as a tar archive
#[derive(clap::Args)]
pub struct Args {
    /// Write to a file instead of stdout
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<std::path::PathBuf>,
    /// The container (name or id)
    #[arg(value_name = "CONTAINER")]
    container: String,
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    let Some(path) = a.output else {
        if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            bail!("refusing to write a tar archive to a terminal; use -o FILE or redirect stdout");
        }
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        engine.export(&a.container, &mut out)?;
        out.flush()?;
        return Ok(0);
    };
    // Written beside the target and renamed, so a failed export leaves no partial file.
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(".".as_ref());
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a file in {}", dir.display()))?;
    engine.export(&a.container, tmp.as_file_mut())?;
    tmp.as_file_mut().flush()?;
    tmp.as_file().sync_all()?;
    tmp.persist(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(0)
}
