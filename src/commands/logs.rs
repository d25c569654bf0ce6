use anyhow::Result;
use wharf_engine::Engine;

/// Fetch the logs of a container
#[derive(clap::Args)]
pub struct Args {
    /// Follow the log until the container exits
    #[arg(short = 'f', long)]
    follow: bool,
    /// Show timestamps
    #[arg(short = 't', long)]
    timestamps: bool,
    container: String,
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    engine.logs(&a.container, a.follow, a.timestamps, &mut out, &mut err)?;
    Ok(0)
}
