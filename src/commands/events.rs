use std::io::Write;
use std::time::SystemTime;

use anyhow::Result;
use wharf_engine::{parse_log_time, Engine, EventFilter};

use crate::format::Format;

/// Get real time events from the engine (what this store's commands did)
#[derive(clap::Args)]
pub struct Args {
    /// Show events since this time: RFC 3339 (2026-12-06T10:00:00Z), Unix
    /// seconds, or a duration before now (10m); then keep streaming unless
    /// --until is given
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Stop at this time (same forms as --since); events up to it are
    /// printed, then the command exits
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Only events matching: type=container|image|network|volume,
    /// event=ACTION, container=NAME|ID, image=NAME, network=NAME|ID,
    /// volume=NAME, label=KEY[=VALUE] (repeatable; several of one key need
    /// only one to match, every key must)
    #[arg(short = 'f', long = "filter", value_name = "KEY=VALUE")]
    filters: Vec<String>,
    /// Output: Docker's line (default), json (one object per line), or a Go
    /// template ('{{.Type}} {{.Action}} {{.Actor.ID}}', '{{json .}}').
    /// Fields: Type, Action, Actor (ID, Attributes), status, id, from,
    /// scope, time, timeNano
    #[arg(long, value_name = "FORMAT")]
    format: Option<String>,
}

const HEADERS: &[(&str, &str)] = &[("Type", "TYPE"), ("Action", "ACTION")];

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    let format = Format::parse(a.format.as_deref())?;
    let now = SystemTime::now();
    let since = a
        .since
        .as_deref()
        .map(|t| parse_log_time(t, now))
        .transpose()?;
    let until = a
        .until
        .as_deref()
        .map(|t| parse_log_time(t, now))
        .transpose()?;
    let filters = a
        .filters
        .iter()
        .map(|f| f.parse())
        .collect::<wharf_engine::Result<Vec<EventFilter>>>()?;
    let mut stdout = std::io::stdout().lock();
    let mut failed: Option<anyhow::Error> = None;
    engine.events(since, until, &filters, |event| {
        let text = if format.is_table() {
            format!("{}\n", event.line())
        } else {
            let row = serde_json::to_value(event).expect("event serializes");
            match format.render(&[row], HEADERS) {
                Ok(text) => text,
                Err(e) => {
                    failed = Some(e);
                    return false;
                }
            }
        };
        // Each event goes out as it happens, not when a buffer fills.
        match stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
        {
            Ok(()) => true,
            // The reader went away (`wharf events | head`): a quiet end.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => false,
            Err(e) => {
                failed = Some(anyhow::Error::new(e).context("writing events to stdout"));
                false
            }
        }
    })?;
    match failed {
        Some(e) => Err(e),
        None => Ok(0),
    }
}
