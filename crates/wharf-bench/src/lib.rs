//! `wharf bench`: Wasm and Linux containers measured side by side.
//!
//! The bench drives the `wharf` binary itself, as a user would, against a
//! private temporary store: it builds the `examples/` guests into Wasm (WASI
//! preview 1 module and preview 2 component) and Linux images with
//! `wharf build`, then measures image sizes, start-to-exit latency (cold and
//! warm, and warm on a bridge network of its own), peak memory, CPU
//! throughput relative to native, and density, next to the peers installed
//! on the machine (crun, runc, wasmtime, wasmer, podman). It writes `report.md`, `results.json` (schema in docs/bench.md)
//! and SVG charts, and returns a markdown comparison table.

mod charts;
mod cpu;
mod density;
mod guests;
mod http;
mod images;
mod latency;
mod machine;
mod memory;
mod network;
mod oci;
mod peers;
mod proc;
mod report;
pub mod results;
mod session;
mod settings;
mod stats;
mod store;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

pub use crate::guests::find_examples;
use crate::results::Results;
use crate::session::Bench;

/// What to run and where to write.
#[derive(Debug, Clone)]
pub struct Config {
    /// The `wharf` binary to drive (normally the running one).
    pub wharf: PathBuf,
    /// The examples/ directory holding the built guests; found when None.
    pub examples: Option<PathBuf>,
    /// Where report.md, results.json and the charts go.
    pub output: PathBuf,
    /// Fewer iterations and smaller kernels (under 2 minutes).
    pub quick: bool,
    /// Override the number of measured runs per start-latency target (also
    /// caps the networked targets' fewer runs).
    pub runs: Option<usize>,
    /// Override the number of warm-up runs (also caps the networked
    /// targets' fewer warm-up runs).
    pub warmup: Option<usize>,
    /// Override the number of containers in the density test.
    pub density: Option<usize>,
    /// Override the number of Wasm containers in the density test (else
    /// `density` when given).
    pub density_wasm: Option<usize>,
    /// Version of the wharf binary (for the report).
    pub wharf_version: String,
    /// Version of the embedded wasmtime (for the report).
    pub wasmtime_version: String,
}

/// What a bench run produced.
pub struct Outcome {
    pub results: Results,
    /// The comparison table (markdown), for stdout.
    pub summary: String,
    pub output: PathBuf,
}

/// The default output directory: `./wharf-bench-YYYYMMDD-HHMMSS`.
pub fn default_output() -> PathBuf {
    PathBuf::from(format!("wharf-bench-{}", machine::now_stamp()))
}

/// The build profile of this code ("release" or "debug").
pub fn build_profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}

/// Runs the whole bench and writes the output directory.
pub fn run(cfg: &Config) -> Result<Outcome> {
    let started = Instant::now();
    let started_at = machine::now_rfc3339();
    let load_before = machine::loadavg();
    let ex = find_examples(cfg.examples.as_deref(), &cfg.wharf)?;
    guests::check_artifacts(&ex)?;
    let tmp = tempfile::Builder::new().prefix("wharf-bench-").tempdir()?;
    let root = tmp.path().join("root");
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&root)?;
    std::fs::create_dir_all(&work)?;
    let pb = ProgressBar::new(1);
    pb.set_style(
        ProgressStyle::with_template("wharf bench {elapsed:>4} [{bar:30}] {pos}/{len} {msg}")
            .unwrap()
            .progress_chars("=> "),
    );
    let mut b = Bench {
        cfg,
        settings: settings::from_config(cfg),
        examples: ex,
        root,
        work,
        pb,
        load_max: load_before[0],
        peers: Vec::new(),
        targets: Vec::new(),
        cpu_runners: Vec::new(),
        network: None,
        podman: None,
    };
    let result = b.measure(started, started_at, load_before);
    b.cleanup();
    b.pb.finish_and_clear();
    drop(tmp);
    let results = result?;
    std::fs::create_dir_all(&cfg.output)
        .with_context(|| format!("creating {}", cfg.output.display()))?;
    let write = |name: &str, data: &[u8]| -> Result<()> {
        let p = cfg.output.join(name);
        std::fs::write(&p, data).with_context(|| format!("writing {}", p.display()))
    };
    write(
        "results.json",
        format!("{}\n", serde_json::to_string_pretty(&results)?).as_bytes(),
    )?;
    write("report.md", report::full(&results).as_bytes())?;
    charts::write_all(&results, &cfg.output)?;
    Ok(Outcome {
        summary: report::summary(&results),
        results,
        output: cfg.output.clone(),
    })
}
