use std::io::Write;
use std::path::Path;

use anyhow::{bail, Result};
use wharf_engine::Engine;

/// Copy files between a container and the host: CONTAINER:PATH HOST_PATH, HOST_PATH CONTAINER:PATH (- for a tar stream)
#[derive(clap::Args)]
pub struct Args {
    /// CONTAINER:PATH, a host path, or - (a tar stream on stdin)
    #[arg(value_name = "SRC")]
    src: String,
    /// CONTAINER:PATH, a host path, or - (a tar stream on stdout)
    #[arg(value_name = "DEST")]
    dest: String,
}

/// `CONTAINER:PATH` → (container, path); a local path (one starting with
/// `/` or `.`, or without a colon) is None, as in Docker.
fn container_path(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    arg.split_once(':').filter(|(c, _)| !c.is_empty())
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    match (container_path(&a.src), container_path(&a.dest)) {
        (Some(_), Some(_)) => {
            bail!("copying between containers is not supported; copy through the host")
        }
        (None, None) => bail!("one of SRC and DEST must be CONTAINER:PATH"),
        (Some((c, path)), None) if a.dest == "-" => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            engine.copy_out_tar(c, path, &mut out)?;
            out.flush()?;
        }
        (Some((c, path)), None) => engine.copy_out(c, path, Path::new(&a.dest))?,
        (None, Some((c, path))) if a.src == "-" => {
            engine.copy_in_tar(c, &mut std::io::stdin().lock(), path)?;
        }
        (None, Some((c, path))) => engine.copy_in(c, Path::new(&a.src), path)?,
    }
    Ok(0)
}
