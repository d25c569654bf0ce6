use std::io::Write;
use std::time::Duration;

use anyhow::Result;
use wharf_engine::{Engine, StatsSampler};

use crate::table;

/// Display a live stream of containers' resource usage (all running ones by default)
#[derive(clap::Args)]
pub struct Args {
    /// Print one reading and exit
    #[arg(long = "no-stream")]
    no_stream: bool,
    /// The containers to show (default: all running)
    #[arg(value_name = "CONTAINER")]
    containers: Vec<String>,
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    let mut sampler = StatsSampler::new(engine, &a.containers)?;
    // CPU % needs two readings: the first one only starts the clock.
    sampler.sample()?;
    std::thread::sleep(Duration::from_millis(500));
    loop {
        let rows: Vec<Vec<String>> = sampler
            .sample()?
            .into_iter()
            .map(|r| {
                let mem_pct = if r.memory_limit > 0 {
                    r.memory as f64 / r.memory_limit as f64 * 100.0
                } else {
                    0.0
                };
                vec![
                    r.id[..12].to_string(),
                    r.name,
                    format!("{:.2}%", r.cpu_percent),
                    format!(
                        "{} / {}",
                        binary_size(r.memory),
                        binary_size(r.memory_limit)
                    ),
                    format!("{mem_pct:.2}%"),
                    format!("{} / {}", decimal_size(r.net_rx), decimal_size(r.net_tx)),
                    format!(
                        "{} / {}",
                        decimal_size(r.block_read),
                        decimal_size(r.block_write)
                    ),
                    r.pids.to_string(),
                ]
            })
            .collect();
        if !a.no_stream {
            // Docker's refresh: clear the screen, table at the top.
            print!("\x1b[2J\x1b[H");
        }
        table::print(
            &[
                "CONTAINER ID",
                "NAME",
                "CPU %",
                "MEM USAGE / LIMIT",
                "MEM %",
                "NET I/O",
                "BLOCK I/O",
                "PIDS",
            ],
            &rows,
        );
        let _ = std::io::stdout().flush();
        if a.no_stream {
            return Ok(0);
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Docker's memory sizes: binary units, four significant digits ("1.5MiB").
fn binary_size(bytes: u64) -> String {
    size(bytes, 1024.0, &["B", "KiB", "MiB", "GiB", "TiB"], 4)
}

/// Docker's I/O sizes: decimal units, three significant digits ("24.6kB").
fn decimal_size(bytes: u64) -> String {
    size(bytes, 1000.0, &["B", "kB", "MB", "GB", "TB"], 3)
}

/// `bytes` in the largest unit under `base`, with `significant` digits
/// and no trailing zeros (C's %g, which Docker's go-units uses).
fn size(bytes: u64, base: f64, units: &[&str], significant: usize) -> String {
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= base && i < units.len() - 1 {
        v /= base;
        i += 1;
    }
    let whole = if v >= 1.0 {
        v.log10().floor() as usize + 1
    } else {
        1
    };
    let digits = significant.saturating_sub(whole);
    let text = format!("{v:.digits$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    format!("{text}{}", units[i])
}

#[cfg(test)]
mod tests {
    #[test]
    fn binary_sizes_read_like_dockers() {
        assert_eq!(super::binary_size(0), "0B");
        assert_eq!(super::binary_size(1536 * 1024), "1.5MiB");
        assert_eq!(super::binary_size(8 * 1024 * 1024 * 1024), "8GiB");
        assert_eq!(super::decimal_size(24_576), "24.6kB");
        assert_eq!(super::decimal_size(680), "680B");
    }
}
