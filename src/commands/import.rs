use std::fs::File;
use std::path::Path;

use anyhow::{Context, Result};
use wharf_engine::{Engine, ImportOptions};

/// Import a root filesystem tarball (plain, gzip or zstd) as a one-layer image
#[derive(clap::Args)]
pub struct Args {
    /// Apply a Dockerfile instruction to the image's config (repeatable):
    /// CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR
    #[arg(short = 'c', long = "change", value_name = "INSTRUCTION")]
    changes: Vec<String>,
    /// The comment of the image's history entry
    #[arg(short = 'm', long)]
    message: Option<String>,
    /// The image's platform [default: the host's, e.g. linux/amd64]
    #[arg(long)]
    platform: Option<String>,
    /// The tarball, or - for stdin
    #[arg(value_name = "TARBALL|-")]
    tarball: String,
    /// Name the image (name[:tag])
    #[arg(value_name = "IMAGE[:TAG]")]
    image: Option<String>,
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    if a.tarball.contains("://") {
        anyhow::bail!(
            "cannot import {}: Wharf imports files and stdin, not URLs; download it first (e.g. curl -fsSL URL | wharf import - IMAGE)",
            a.tarball
        );
    }
    let platform = a
        .platform
        .as_deref()
        .map(str::parse)
        .transpose()
        .context("--platform")?;
    let opts = ImportOptions {
        changes: a.changes,
        platform,
        message: a.message,
        source: a.tarball.clone(),
    };
    let imported = if a.tarball == "-" {
        engine.import(std::io::stdin().lock(), a.image.as_deref(), &opts)?
    } else {
        let path = Path::new(&a.tarball);
        if path.is_dir() {
            anyhow::bail!(
                "{} is a directory; wharf import takes a tarball of it: tar -C {} -c . | wharf import - IMAGE",
                path.display(),
                path.display()
            );
        }
        let file = File::open(path).with_context(|| {
            format!(
                "cannot open {}; give a readable tarball, or - to read one from stdin",
                path.display()
            )
        })?;
        engine.import(file, a.image.as_deref(), &opts)?
    };
    println!("{}", imported.id);
    Ok(0)
}
