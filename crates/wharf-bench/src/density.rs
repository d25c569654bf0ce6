//! Density: many idle containers started at once, and what they hold.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use serde_json::Value;

use crate::guests::KINDS;
use crate::machine;
use crate::proc;
use crate::results::Density;
use crate::session::Bench;

impl Bench<'_> {
    /// N detached `sleep 30` containers of each kind started at once (N:
    /// `density_wasm_n` for Wasm, `density_n` for Linux): the time until all
    /// returned and the memory they hold; then removed.
    pub(crate) fn density(&mut self) -> Result<Vec<Density>> {
        let mut out = Vec::new();
        for (kind, tag, _, _) in KINDS {
            let n = if kind == "linux" {
                self.settings.density_n
            } else {
                self.settings.density_wasm_n
            };
            let image = format!("hello:{tag}");
            self.phase(&format!("density: {n} x {image} sleep 30"));
            let cmd = self.wharf(&["run", "-d", "--network", "none", &image, "sleep", "30"]);
            let start = Instant::now();
            let children: Vec<std::io::Result<Child>> = (0..n)
                .map(|_| {
                    let mut c = cmd.command();
                    c.stdin(Stdio::null())
                        .stdout(Stdio::piped())
                        .stderr(Stdio::piped());
                    c.spawn()
                })
                .collect();
            let mut ids = Vec::new();
            let mut errors = Vec::new();
            for ch in children {
                match ch.and_then(|c| c.wait_with_output()) {
                    Ok(o) if o.status.success() => {
                        ids.push(String::from_utf8_lossy(&o.stdout).trim().to_string())
                    }
                    Ok(o) => errors.push(String::from_utf8_lossy(&o.stderr).trim().to_string()),
                    Err(e) => errors.push(e.to_string()),
                }
            }
            let elapsed = start.elapsed().as_secs_f64() * 1000.0;
            let measured = self.density_memory(kind, &ids);
            self.remove_containers(&ids);
            self.pb.inc(1);
            if !errors.is_empty() {
                bail!(
                    "density: {} of {n} `wharf run -d {image}` failed: {}",
                    errors.len(),
                    errors[0]
                );
            }
            let (total, rss_total, method) = measured?;
            out.push(Density {
                kind: kind.into(),
                image,
                n,
                start_all_ms: elapsed,
                per_container_ms: elapsed / n as f64,
                total_bytes: total,
                per_container_bytes: total / n as u64,
                rss_total_bytes: rss_total,
                method,
            });
        }
        Ok(out)
    }

    /// Memory held by running containers `ids`: their monitors' RSS, plus
    /// their memory cgroups' usage for Linux containers.
    fn density_memory(&self, kind: &str, ids: &[String]) -> Result<(u64, u64, String)> {
        std::thread::sleep(Duration::from_millis(200));
        let mut args = vec!["inspect"];
        args.extend(ids.iter().map(String::as_str));
        let v: Value = serde_json::from_str(&proc::capture(&self.wharf(&args))?)?;
        let (mut total, mut rss_total) = (0u64, 0u64);
        for c in v.as_array().into_iter().flatten() {
            let id = c["Id"].as_str().unwrap_or_default();
            if c["State"]["Running"] != Value::Bool(true) {
                bail!("density: container {id} is not running: {}", c["State"]);
            }
            let pid = c["State"]["ConmonPid"].as_u64().unwrap_or(0) as u32;
            let rss = machine::rss_bytes(pid)
                .ok_or_else(|| anyhow!("density: no RSS for the monitor (pid {pid}) of {id}"))?;
            rss_total += rss;
            total += machine::pss_bytes(pid).unwrap_or(rss);
            if kind == "linux" {
                let (dir, v2) = machine::container_memory_cgroup(id)
                    .ok_or_else(|| anyhow!("density: no memory cgroup for container {id}"))?;
                let usage = machine::cgroup_usage(&dir, v2).unwrap_or(0);
                total += usage;
                rss_total += usage;
            }
        }
        let method = if kind == "linux" {
            "sum of the monitors' PSS + the containers' memory cgroup usage"
        } else {
            "sum of the monitors' PSS (each monitor runs its guest in-process)"
        };
        Ok((total, rss_total, method.into()))
    }
}
