use std::time::Duration;

use anyhow::Result;
use wharf_engine::Engine;

/// Restart one or more containers: stop (SIGTERM, SIGKILL after the timeout), then start detached
#[derive(clap::Args)]
pub struct Args {
    /// Seconds to wait for the stop before killing
    #[arg(short = 't', long = "time", alias = "timeout", default_value_t = 10)]
    time: u64,
    /// The containers to restart (names or ids)
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    super::each(&a.containers, |c| {
        engine.restart(c, Duration::from_secs(a.time))
    })
}
