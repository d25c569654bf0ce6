//! Peak memory: the peak RSS of a run of every target, and the memory
//! cgroup peak of a Linux container.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};

use crate::proc::{self, Sample};
use crate::results::Memory;
use crate::session::Bench;
use crate::{machine, stats};

impl Bench<'_> {
    /// Runs per target of the peak-RSS measurement.
    pub(crate) fn mem_runs(&self) -> usize {
        self.settings.runs.min(10)
    }

    /// Peak RSS of every target but the wrapper overheads and the networked
    /// starts (timed for their start only: each run is slow): separate runs,
    /// through GNU time when it is installed, else the wait4 maxrss of the
    /// warm-start `samples` (one list per target, in `targets` order).
    pub(crate) fn peak_rss(&mut self, samples: &[Vec<Sample>]) -> Result<Vec<Memory>> {
        let time = proc::which("time");
        let mut mem = Vec::new();
        let n = self.mem_runs();
        for (i, timed) in samples.iter().enumerate() {
            let t = &self.targets[i];
            if t.kind == "overhead" || t.networked {
                continue;
            }
            let (key, label) = if t.key == "wharf-linux" {
                (
                    "wharf-linux-engine".to_string(),
                    "wharf run --rm hello:linux: the engine process outside the container (largest process of the run)".to_string(),
                )
            } else if t.runner == "wharf" {
                (t.key.clone(), format!("{} (the whole process)", t.label))
            } else {
                (
                    t.key.clone(),
                    format!("{} (largest process of the run)", t.label),
                )
            };
            let (kind, cmd) = (t.kind.clone(), t.cmd.clone());
            self.phase(&format!("peak memory: {}", t.key));
            let mut rss = Vec::new();
            for x in timed.iter().take(n) {
                match &time {
                    Some(time) => {
                        rss.push(proc::peak_rss_gnu_time(time, &cmd, &self.work)? as f64);
                        self.pb.inc(1);
                    }
                    None => rss.push(x.maxrss_bytes as f64),
                }
            }
            mem.push(Memory {
                target: key,
                label,
                kind,
                method: if time.is_some() {
                    "maxrss-gnu-time".into()
                } else {
                    "maxrss-wait4".into()
                },
                peak_bytes: stats::median(&rss) as u64,
                max_bytes: stats::max(&rss) as u64,
                samples: rss.len(),
            });
        }
        Ok(mem)
    }

    /// The memory cgroup peak of a detached `hello sleep S` Linux container,
    /// read until just before it exits.
    pub(crate) fn linux_cgroup_peak(&mut self) -> Result<Memory> {
        let secs = format!("{}", self.settings.memory_sleep_s);
        let samples = if self.cfg.quick { 1 } else { 3 };
        let mut peaks = Vec::new();
        let mut method = "";
        for _ in 0..samples {
            let out = proc::capture(&self.wharf(&[
                "run",
                "-d",
                "--network",
                "none",
                "hello:linux",
                "sleep",
                &secs,
            ]))?;
            let id = out.trim().to_string();
            let deadline =
                Instant::now() + Duration::from_secs_f64(self.settings.memory_sleep_s + 10.0);
            let mut last = None;
            let mut seen = false;
            while Instant::now() < deadline {
                match machine::container_memory_cgroup(&id) {
                    Some((dir, v2)) => {
                        seen = true;
                        if let Some(v) = machine::cgroup_peak(&dir, v2) {
                            last = Some(v);
                        }
                    }
                    None if seen => break,
                    None => {}
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            self.remove_containers(&[&id]);
            let (v, m) = last.ok_or_else(|| {
                anyhow!(
                    "cannot read the memory cgroup of Linux container {id} \
                     (looked in /sys/fs/cgroup/memory/wharf/{id} and /sys/fs/cgroup/wharf/{id})"
                )
            })?;
            method = m;
            peaks.push(v as f64);
        }
        self.pb.inc(1);
        Ok(Memory {
            target: "wharf-linux".into(),
            label: format!(
                "wharf run -d hello:linux sleep {secs}: the container's memory cgroup peak"
            ),
            kind: "linux".into(),
            method: method.into(),
            peak_bytes: stats::median(&peaks) as u64,
            max_bytes: stats::max(&peaks) as u64,
            samples: peaks.len(),
        })
    }
}
