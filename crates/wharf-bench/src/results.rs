//! The shape of `results.json` (schema documented in docs/bench.md).
//! Bump [`SCHEMA_VERSION`] on any incompatible change.

use serde::{Deserialize, Serialize};

pub const SCHEMA: &str = "wharf-bench";
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    pub schema: String,
    pub schema_version: u32,
    /// "quick" or "full".
    pub mode: String,
    /// UTC, RFC 3339.
    pub started_at: String,
    pub duration_s: f64,
    pub settings: Settings,
    pub machine: Machine,
    pub versions: Versions,
    pub peers: Vec<Peer>,
    pub sizes: Vec<Size>,
    pub latency: Vec<Latency>,
    pub memory: Vec<Memory>,
    pub cpu: Vec<Cpu>,
    pub density: Vec<Density>,
    /// HTTP serving under load (wrk); empty when wrk is not installed.
    #[serde(default)]
    pub http: Vec<Http>,
    pub goals: Vec<Goal>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    pub runs: usize,
    pub warmup: usize,
    pub cold_runs: usize,
    pub cpu_reps: usize,
    pub sha256_mib: u64,
    pub nbody_steps: u64,
    pub density_n: usize,
    /// Wasm containers started at once in the density test: more than
    /// Linux ones, since each costs about a millisecond and a mebibyte.
    /// Results written before it was recorded used `density_n`.
    #[serde(default)]
    pub density_wasm_n: usize,
    pub memory_sleep_s: f64,
    /// Measured runs of each networked start-latency target (`wharf run
    /// --network`): fewer than `runs`, since netavark's setup and teardown
    /// make each run some hundred milliseconds.
    #[serde(default)]
    pub network_runs: usize,
    /// Warm-up runs of each networked target.
    #[serde(default)]
    pub network_warmup: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    pub cpu_model: String,
    pub cores: usize,
    pub memory_bytes: u64,
    pub kernel: String,
    /// "v1", "hybrid" (v1 controllers + cgroup2 at /sys/fs/cgroup/unified) or "v2".
    pub cgroup: String,
    /// /proc/loadavg (1, 5, 15 min) when the run started. May be 0 on an idle machine.
    pub load_before: [f64; 3],
    /// /proc/loadavg when the run ended.
    pub load_after: [f64; 3],
    /// Highest 1-minute load average seen at the phase boundaries.
    pub load_max_1m: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Versions {
    pub wharf: String,
    /// "release" or "debug": the build of the wharf binary measured.
    pub wharf_build: String,
    pub wasmtime_embedded: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Peer {
    /// crun, runc, wharf-runtime, wasmtime, wasmer, podman, netavark
    /// (needed by the networked targets), hyperfine.
    pub name: String,
    /// "measured", "not installed", "failed" or "not used".
    pub status: String,
    pub version: Option<String>,
    pub path: Option<String>,
    /// How it was run, or why it failed.
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Size {
    /// "wasm-p1", "wasm-p2" or "linux".
    pub kind: String,
    /// Program: "hello" or "cpu".
    pub program: String,
    pub image: String,
    /// Sum of the layer sizes in the manifest (gzip-compressed).
    pub compressed_bytes: u64,
    /// Bytes of regular files in the image's unpacked snapshot tree.
    pub unpacked_bytes: u64,
    /// The module, component or static binary itself.
    pub artifact_bytes: u64,
    pub artifact: String,
    /// Wall time of `wharf build` (Wasm builds include compiling the module).
    pub build_ms: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Latency {
    /// Stable key, e.g. "wharf-wasm-p1", "crun", "native".
    pub target: String,
    /// Human label (the command, abbreviated).
    pub label: String,
    /// "wasm-p1", "wasm-p2", "linux" or "native".
    pub kind: String,
    /// "wharf", "native", or the peer's name.
    pub runner: String,
    /// "warm" or "cold".
    pub phase: String,
    pub runs: usize,
    /// Warm-up runs before the measured ones (null for cold runs).
    pub warmup: Option<usize>,
    pub median_ms: f64,
    /// First and third quartiles (linear interpolation between the closest
    /// ranks, so `median_ms` is the 0.5 quantile): the latency chart's box.
    /// Absent from results written before they were recorded.
    #[serde(default)]
    pub q1_ms: f64,
    #[serde(default)]
    pub q3_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub mean_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    /// Every measured run, in order, milliseconds.
    pub samples_ms: Vec<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Memory {
    pub target: String,
    pub label: String,
    pub kind: String,
    /// "maxrss-gnu-time" (peak RSS by `/usr/bin/time -f %M`: the largest
    /// process of the run), "maxrss-wait4" (ru_maxrss from wait4, which also
    /// counts the bench's own RSS; used without GNU time),
    /// "cgroup-v1-max_usage_in_bytes", "cgroup-v2-memory.peak" or
    /// "cgroup-v2-memory.current".
    pub method: String,
    /// Median over `samples` measurements.
    pub peak_bytes: u64,
    pub max_bytes: u64,
    pub samples: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cpu {
    /// "sha256" or "nbody".
    pub kernel: String,
    pub arg: u64,
    pub target: String,
    pub label: String,
    pub kind: String,
    pub runner: String,
    pub reps: usize,
    /// Median of the kernel's own `elapsed_ms` line (process start excluded).
    pub median_ms: f64,
    pub samples_ms: Vec<f64>,
    /// median_ms / native median_ms: 1.0 is native speed, 1.2 is 20% slower.
    pub time_ratio_to_native: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Density {
    pub kind: String,
    pub image: String,
    pub n: usize,
    /// Wall time from spawning N concurrent `wharf run -d` to the last one returning.
    pub start_all_ms: f64,
    pub per_container_ms: f64,
    /// Memory held by the N idle containers (see `method`): the monitors'
    /// proportional set size (PSS: pages shared between them, such as the
    /// wharf binary, counted once overall), plus cgroup usage for Linux.
    pub total_bytes: u64,
    pub per_container_bytes: u64,
    /// The same with the monitors' RSS instead of PSS (shared pages counted
    /// in every monitor).
    pub rss_total_bytes: u64,
    pub method: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Goal {
    pub id: String,
    pub statement: String,
    /// The measured value compared with `threshold` (ms, MiB or a ratio; see `unit`).
    pub measured: Option<f64>,
    pub threshold: f64,
    pub unit: String,
    /// true / false, or null when it cannot be checked here (peer not installed).
    pub met: Option<bool>,
    /// The goal is a floor (measured >= threshold) rather than a ceiling.
    #[serde(default)]
    pub at_least: bool,
    /// What `measured` compares with, when the goal is a ratio that can be
    /// taken against more than one baseline ("" otherwise).
    #[serde(default)]
    pub against: String,
    /// The same ratio against the other baselines (crun without its
    /// unshare wrapper, crun on Wharf's spec), each met or not: shown
    /// beside `measured`, never folded into a note.
    #[serde(default)]
    pub also: Vec<Comparison>,
    pub note: String,
}

/// A goal's ratio against another baseline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comparison {
    pub against: String,
    pub measured: f64,
    pub met: bool,
}

/// One HTTP server loaded by wrk: the hello component served by Wharf or
/// `wasmtime serve`, or the same routes as a native server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Http {
    /// "wharf-wasm-p2", "wharf-linux", "wasmtime-serve" or "native".
    pub target: String,
    pub label: String,
    /// "wasm-p2", "linux" or "native".
    pub kind: String,
    pub runner: String,
    /// wrk's connections for the throughput run (its threads: 2).
    pub connections: usize,
    /// Length of each wrk run.
    pub duration_s: f64,
    pub requests_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Socket errors plus non-2xx/3xx responses.
    pub errors: u64,
    /// The same at 1 connection (1 thread).
    pub single_requests_per_s: f64,
    pub single_p50_ms: f64,
    pub single_p99_ms: f64,
    pub single_errors: u64,
    /// RSS of the idle server's processes after its first request (for a
    /// container: the monitor and the container's process).
    pub idle_rss_bytes: u64,
}
