use std::time::SystemTime;

use anyhow::Result;
use wharf_engine::{parse_log_time, Engine, LogOptions};

/// Fetch the logs of a container
#[derive(clap::Args)]
pub struct Args {
    /// Follow the log until the container exits
    #[arg(short = 'f', long)]
    follow: bool,
    /// Show timestamps
    #[arg(short = 't', long)]
    timestamps: bool,
    /// Show only the last N lines ("all" for every line)
    #[arg(short = 'n', long, value_name = "N")]
    tail: Option<String>,
    /// Show lines written since a time: RFC 3339 (2026-12-06T10:00:00Z), Unix seconds, or a duration before now (10m)
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Show lines written before a time (same forms as --since)
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// The container's name or id
    container: String,
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    let now = SystemTime::now();
    let time = |t: &Option<String>| t.as_deref().map(|t| parse_log_time(t, now)).transpose();
    let tail = match a.tail.as_deref() {
        None | Some("all") => None,
        Some(n) => Some(n.parse::<usize>().map_err(|_| {
            wharf_engine::Error::InvalidArgument(format!(
                "invalid --tail \"{n}\": give a number of lines or \"all\""
            ))
        })?),
    };
    let opts = LogOptions {
        follow: a.follow,
        timestamps: a.timestamps,
        tail,
        since: time(&a.since)?,
        until: time(&a.until)?,
    };
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    engine.logs(&a.container, &opts, &mut out, &mut err)?;
    Ok(0)
}
