//! `wharf bench`: Wasm vs Linux containers, measured side by side. The
//! measurements live in the wharf-bench crate; this file parses the flags.

use std::path::PathBuf;

use anyhow::Result;

/// Measure Wasm and Linux containers side by side (start latency, memory,
/// CPU, density, image size) in a temporary store of its own, and write
/// report.md, results.json and SVG charts
#[derive(clap::Args)]
pub struct Args {
    /// Fewer runs and smaller kernels (under 2 minutes); used by the demo
    #[arg(long)]
    quick: bool,
    /// Directory for report.md, results.json and the charts
    /// [default: ./wharf-bench-YYYYMMDD-HHMMSS]
    #[arg(short = 'o', long, value_name = "DIR")]
    output: Option<PathBuf>,
    /// Measured runs per start-latency target [default: 200, --quick 30];
    /// also caps the cold runs and the CPU repetitions
    #[arg(long, env = "WHARF_BENCH_RUNS", value_name = "N")]
    runs: Option<usize>,
    /// Warm-up runs before measuring [default: 20, --quick 5]
    #[arg(long, env = "WHARF_BENCH_WARMUP", value_name = "N")]
    warmup: Option<usize>,
    /// Containers started at once in the density test [default: 50, --quick 10]
    #[arg(long, value_name = "N")]
    density: Option<usize>,
    /// Wasm containers started at once in the density test [default: 1000,
    /// --quick 100; --density sets it too]
    #[arg(long, value_name = "N")]
    density_wasm: Option<usize>,
    /// The examples/ directory with the guests built by scripts/setup.sh
    /// [default: ./examples, else the checkout wharf was built in]
    #[arg(long, value_name = "DIR")]
    examples: Option<PathBuf>,
}

/// Runs the bench. It never touches the store given by --root/WHARF_ROOT: it
/// builds and runs everything in a temporary store of its own.
pub fn exec(a: Args) -> Result<i32> {
    let wharf = std::env::current_exe()?;
    let cfg = wharf_bench::Config {
        wharf,
        examples: a.examples,
        output: a.output.unwrap_or_else(wharf_bench::default_output),
        quick: a.quick,
        runs: a.runs,
        warmup: a.warmup,
        density: a.density,
        density_wasm: a.density_wasm,
        wharf_version: env!("CARGO_PKG_VERSION").to_string(),
        wasmtime_version: wharf_wasm::WASMTIME_VERSION.to_string(),
    };
    let out = wharf_bench::run(&cfg)?;
    println!("{}", out.summary);
    eprintln!(
        "wharf bench: report.md, results.json and charts in {}",
        out.output.display()
    );
    Ok(0)
}
