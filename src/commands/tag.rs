use anyhow::Result;
use wharf_engine::Engine;

/// Create a tag TARGET that refers to SOURCE
#[derive(clap::Args)]
pub struct Args {
    /// The image to tag: a name, id or digest
    #[arg(value_name = "SOURCE")]
    source: String,
    /// The new name, [REGISTRY/]REPOSITORY[:TAG]
    #[arg(value_name = "TARGET")]
    target: String,
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    engine.tag(&a.source, &a.target)?;
    Ok(0)
}
