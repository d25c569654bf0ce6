use anyhow::Result;
use wharf_engine::Engine;

/// Create a tag TARGET that refers to SOURCE
#[derive(clap::Args)]
pub struct Args {
    source: String,
    target: String,
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    engine.tag(&a.source, &a.target)?;
    Ok(0)
}
