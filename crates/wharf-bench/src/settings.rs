//! How much the bench measures: iterations and kernel sizes.

use crate::results::Settings;
use crate::Config;

/// The run counts and kernel sizes of `--quick` or a full run, with the
/// user's overrides applied.
pub(crate) fn from_config(cfg: &Config) -> Settings {
    let mut s = if cfg.quick {
        Settings {
            runs: 30,
            warmup: 5,
            cold_runs: 3,
            cpu_reps: 5,
            sha256_mib: 16,
            nbody_steps: 1_000_000,
            density_n: 10,
            density_wasm_n: 100,
            memory_sleep_s: 2.0,
            network_runs: 5,
            network_warmup: 1,
        }
    } else {
        Settings {
            runs: 200,
            warmup: 20,
            cold_runs: 10,
            cpu_reps: 5,
            sha256_mib: 64,
            nbody_steps: 2_000_000,
            density_n: 50,
            density_wasm_n: 1000,
            memory_sleep_s: 2.0,
            network_runs: 20,
            network_warmup: 2,
        }
    };
    if let Some(r) = cfg.runs {
        s.runs = r.max(1);
        s.cold_runs = s.cold_runs.min(s.runs);
        s.cpu_reps = s.cpu_reps.min(s.runs);
        s.network_runs = s.network_runs.min(s.runs);
    }
    if let Some(w) = cfg.warmup {
        s.warmup = w;
        s.network_warmup = s.network_warmup.min(w);
    }
    if let Some(n) = cfg.density {
        s.density_n = n.max(1);
        s.density_wasm_n = s.density_n;
    }
    if let Some(n) = cfg.density_wasm {
        s.density_wasm_n = n.max(1);
    }
    s
}
