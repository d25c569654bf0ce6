use anyhow::Result;
use wharf_engine::Engine;

/// Rename a container
#[derive(clap::Args)]
pub struct Args {
    /// The container to rename (name or id)
    #[arg(value_name = "CONTAINER")]
    container: String,
    /// Its new name
    #[arg(value_name = "NEW_NAME")]
    new_name: String,
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    engine.rename(&a.container, &a.new_name)?;
    Ok(0)
}
