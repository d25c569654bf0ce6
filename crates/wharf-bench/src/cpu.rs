//! CPU throughput: the `cpu` guest's kernels (sha256, nbody) under every
//! runner, timed by the kernels themselves and compared with native.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use crate::proc::{self, Cmd};
use crate::results::Cpu;
use crate::session::{Bench, CpuRunner};
use crate::stats;

impl Bench<'_> {
    /// The command that runs `kernel arg` under runner `r`; for crun and runc
    /// a bundle of its own, since the arguments live in the bundle's spec.
    fn cpu_cmd(&mut self, r: &CpuRunner, kernel: &str, arg: u64) -> Result<Cmd> {
        if r.runner == "crun" || r.runner == "runc" {
            let bin = PathBuf::from(&r.prefix.argv[0]);
            let wrapped = r.prefix.argv[1] == "wrapped";
            let rootfs = self.work.join("rootfs");
            let name = format!("{}-cpu-{kernel}-{arg}", r.runner);
            let bundle = self.bundle(
                &bin,
                &name,
                &rootfs,
                &["/cpu".into(), kernel.into(), arg.to_string()],
            )?;
            let id = format!("wharf-bench-{}-{name}", std::process::id());
            return Ok(self.oci_run_cmd(&bin, &bundle, &id, wrapped));
        }
        let mut c = r.prefix.clone();
        c.argv.push(kernel.into());
        c.argv.push(arg.to_string());
        Ok(c)
    }

    /// Every CPU runner on both kernels: one warm-up round, then `cpu_reps`
    /// rounds; every run's result must equal the first run's.
    pub(crate) fn cpu(&mut self) -> Result<Vec<Cpu>> {
        let mut out = Vec::new();
        let runners = std::mem::take(&mut self.cpu_runners);
        for (kernel, arg) in [
            ("sha256", self.settings.sha256_mib),
            ("nbody", self.settings.nbody_steps),
        ] {
            let cmds: Vec<Cmd> = runners
                .iter()
                .map(|r| self.cpu_cmd(r, kernel, arg))
                .collect::<Result<_>>()?;
            let mut expected: Option<String> = None;
            let mut samples: Vec<Vec<f64>> = vec![Vec::new(); cmds.len()];
            for rep in 0..=self.settings.cpu_reps {
                self.phase(&format!(
                    "cpu {kernel} {arg}: {}",
                    if rep == 0 {
                        "warm-up".to_string()
                    } else {
                        format!("round {rep}/{}", self.settings.cpu_reps)
                    }
                ));
                for (i, c) in cmds.iter().enumerate() {
                    let text = proc::capture(c)?;
                    self.pb.inc(1);
                    let (result, ms) = parse_kernel(&text).with_context(|| {
                        format!("`{}` printed no elapsed_ms line: {text}", c.shown())
                    })?;
                    match &expected {
                        None => expected = Some(result),
                        Some(e) if *e != result => bail!(
                            "`{}` computed a different result than native:\n{result}\nvs\n{e}",
                            c.shown()
                        ),
                        _ => {}
                    }
                    if rep > 0 {
                        samples[i].push(ms);
                    }
                }
            }
            let native =
                stats::median(&samples[runners.iter().position(|r| r.key == "native").unwrap()]);
            for (r, s) in runners.iter().zip(samples) {
                let med = stats::median(&s);
                out.push(Cpu {
                    kernel: kernel.into(),
                    arg,
                    target: r.key.clone(),
                    label: r.label.clone(),
                    kind: r.kind.clone(),
                    runner: r.runner.clone(),
                    reps: s.len(),
                    median_ms: med,
                    samples_ms: s,
                    time_ratio_to_native: med / native,
                });
            }
        }
        self.cpu_runners = runners;
        Ok(out)
    }
}

/// (result lines, elapsed ms) of a `cpu` kernel's output.
fn parse_kernel(text: &str) -> Option<(String, f64)> {
    let mut ms = None;
    let mut result = Vec::new();
    for l in text.lines() {
        match l.trim().strip_prefix("elapsed_ms=") {
            Some(v) => ms = v.trim().parse::<f64>().ok(),
            None => result.push(l.trim()),
        }
    }
    // A kernel faster than the clock's millisecond still took time.
    ms.map(|m| (result.join("\n"), m.max(0.5)))
}
