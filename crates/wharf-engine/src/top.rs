//! `wharf top` and `wharf stats`: a running container's processes and
//! resource use, from its executor (Linux: its cgroup; Wasm: the process
//! the guest runs in) and /proc.

use std::collections::HashMap;
use std::process::Command;
use std::time::Instant;

use crate::container::Container;
use crate::{process, Engine, Error, Result};

/// `wharf top`'s table: ps's header and the rows of the container's processes.
#[derive(Debug, Clone)]
pub struct Top {
    pub titles: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Said on stderr: what the rows are, when that is not obvious.
    pub note: Option<String>,
}

/// One row of `wharf stats`.
#[derive(Debug, Clone)]
pub struct StatsRow {
    pub id: String,
    pub name: String,
    /// Of one CPU, as Docker counts (200% is two CPUs' worth).
    pub cpu_percent: f64,
    pub memory: u64,
    pub memory_limit: u64,
    pub net_rx: u64,
    pub net_tx: u64,
    pub block_read: u64,
    pub block_write: u64,
    pub pids: u64,
}

impl Engine {
    fn running(&self, key: &str) -> Result<Container> {
        let c = self.container(key)?;
        if !c.is_running() {
            return Err(Error::Conflict(format!("container {key} is not running")));
        }
        Ok(c)
    }

    /// `wharf top CONTAINER [ps OPTIONS]`: the host's `ps` (with Docker's
    /// default `-ef`), the rows of the container's processes kept, as
    /// Docker does.
    pub fn top(&self, key: &str, ps_args: &[String]) -> Result<Top> {
        let c = self.running(key)?;
        let executor = self.executor_of(&c)?;
        let pids = executor.processes(self, c.bundle(), c.state.pid)?;
        let args: Vec<String> = if ps_args.is_empty() {
            vec!["-ef".into()]
        } else {
            ps_args.to_vec()
        };
        let out = Command::new("ps")
            .args(&args)
            .output()
            .map_err(|e| Error::io("running ps (install procps)", e))?;
        if !out.status.success() {
            return Err(Error::InvalidArgument(format!(
                "ps {} failed: {}; give options ps takes",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let titles: Vec<String> = lines
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let Some(pid_col) = titles.iter().position(|t| t == "PID") else {
            return Err(Error::InvalidArgument(format!(
                "ps {} prints no PID column, so the container's processes cannot be picked out; include one (e.g. -o pid,comm)",
                args.join(" ")
            )));
        };
        let mut rows = Vec::new();
        for line in lines {
            let mut fields: Vec<String> = line.split_whitespace().map(str::to_string).collect();
            let pid = fields.get(pid_col).and_then(|p| p.parse::<i32>().ok());
            if !pid.is_some_and(|p| pids.contains(&p)) {
                continue;
            }
            // The last column (the command) may hold spaces.
            if fields.len() > titles.len() && !titles.is_empty() {
                let last = fields.split_off(titles.len() - 1).join(" ");
                fields.push(last);
            }
            rows.push(fields);
        }
        let note = executor.runs_in_owner().then(|| {
            format!(
                "container {key} is a {} guest with no processes of its own: this is the wharf process it runs in (pid {})",
                executor.name(),
                c.state.pid
            )
        });
        Ok(Top { titles, rows, note })
    }

    /// One reading of a running container's counters, with the CPU time
    /// it has used so far (ns), from which the sampler makes CPU %.
    fn reading(&self, c: &Container) -> Result<(StatsRow, u64)> {
        let executor = self.executor_of(c)?;
        let usage = executor.usage(self, c.bundle(), c.state.pid)?;
        let pids = executor.processes(self, c.bundle(), c.state.pid)?;
        let (net_rx, net_tx) = process::net_io(&pids);
        // The spec's limit (a Wasm guest's is its linear memory), else the
        // cgroup's; none, or more than the host has, is the host's memory.
        let spec_limit = oci_spec::runtime::Spec::load(c.config_path())
            .ok()
            .as_ref()
            .and_then(wharf_wasm::oci::memory_limit)
            .unwrap_or(0);
        let host = host_memory();
        let limit = [spec_limit, usage.memory_limit]
            .into_iter()
            .find(|l| *l > 0 && (host == 0 || *l <= host))
            .unwrap_or(host);
        let row = StatsRow {
            id: c.state.id.clone(),
            name: c.state.name.clone(),
            cpu_percent: 0.0,
            memory: usage.memory,
            memory_limit: limit,
            net_rx,
            net_tx,
            block_read: usage.block_read,
            block_write: usage.block_write,
            pids: usage.pids,
        };
        Ok((row, usage.cpu_ns))
    }
}

/// Successive readings of `wharf stats`, CPU % from the CPU time used
/// between two of them.
pub struct StatsSampler<'e> {
    engine: &'e Engine,
    /// The containers asked for; empty: every running one, at each reading.
    keys: Vec<String>,
    last: HashMap<String, (u64, Instant)>,
}

impl<'e> StatsSampler<'e> {
    /// Checks that the named containers exist.
    pub fn new(engine: &'e Engine, keys: &[String]) -> Result<StatsSampler<'e>> {
        for key in keys {
            engine.container(key)?;
        }
        Ok(StatsSampler {
            engine,
            keys: keys.to_vec(),
            last: HashMap::new(),
        })
    }

    /// One row per container; a named one that is not running shows zeros.
    pub fn sample(&mut self) -> Result<Vec<StatsRow>> {
        let containers = if self.keys.is_empty() {
            self.engine
                .containers(&[])?
                .into_iter()
                .filter(Container::is_running)
                .collect()
        } else {
            self.keys
                .iter()
                .map(|k| self.engine.container(k))
                .collect::<Result<Vec<_>>>()?
        };
        let mut rows = Vec::new();
        for c in containers {
            let reading = if c.is_running() {
                self.engine.reading(&c).ok()
            } else {
                None
            };
            let Some((mut row, cpu_ns)) = reading else {
                rows.push(StatsRow {
                    id: c.state.id.clone(),
                    name: c.state.name.clone(),
                    cpu_percent: 0.0,
                    memory: 0,
                    memory_limit: 0,
                    net_rx: 0,
                    net_tx: 0,
                    block_read: 0,
                    block_write: 0,
                    pids: 0,
                });
                continue;
            };
            let now = Instant::now();
            row.cpu_percent = match self.last.insert(row.id.clone(), (cpu_ns, now)) {
                Some((before, at)) if now > at => {
                    let wall = now.duration_since(at).as_nanos() as f64;
                    cpu_ns.saturating_sub(before) as f64 / wall * 100.0
                }
                _ => 0.0,
            };
            rows.push(row);
        }
        Ok(rows)
    }
}

/// The host's memory (MemTotal), in bytes; 0 when unknown.
fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}
