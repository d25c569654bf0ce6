use std::io::Read;
use std::path::PathBuf;

use oci_spec::runtime::LinuxResources;
use serde_json::{json, Map, Value};

use crate::{Cli, Failure, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// runtime-spec LinuxResources JSON file ("-" for stdin); the flags below
    /// are then ignored.
    #[arg(short = 'r', long)]
    pub resources: Option<PathBuf>,
    /// Memory limit (bytes, or with k/m/g suffix; -1 unlimited).
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory + swap limit.
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit.
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    #[arg(long = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Maximum number of processes (-1 unlimited).
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    pub id: String,
}

fn bytes(flag: &str, s: &str) -> Result<i64> {
    if s == "-1" {
        return Ok(-1);
    }
    let lower = s.trim().to_ascii_lowercase();
    let lower = lower.trim_end_matches('b');
    let (num, mult) = match lower.chars().last() {
        Some('k') => (&lower[..lower.len() - 1], 1i64 << 10),
        Some('m') => (&lower[..lower.len() - 1], 1 << 20),
        Some('g') => (&lower[..lower.len() - 1], 1 << 30),
        Some('t') => (&lower[..lower.len() - 1], 1 << 40),
        _ => (lower, 1),
    };
    num.trim()
        .parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| Failure::from(format!("invalid --{flag} {s:?}: use bytes, e.g. 64m")))
}

pub fn run(cli: &Cli, a: &Args) -> Result<i32> {
    super::check_id(&a.id)?;
    let resources: LinuxResources = match &a.resources {
        Some(path) => {
            let mut text = Vec::new();
            if path.as_os_str() == "-" {
                std::io::stdin().read_to_end(&mut text)?;
            } else {
                text = std::fs::read(path)
                    .map_err(|e| Failure::from(format!("reading {}: {e}", path.display())))?;
            }
            serde_json::from_slice(&text)
                .map_err(|e| Failure::from(format!("invalid resources {}: {e}", path.display())))?
        }
        None => {
            let mut memory = Map::new();
            if let Some(m) = &a.memory {
                memory.insert("limit".into(), json!(bytes("memory", m)?));
            }
            if let Some(m) = &a.memory_swap {
                memory.insert("swap".into(), json!(bytes("memory-swap", m)?));
            }
            if let Some(m) = &a.memory_reservation {
                memory.insert("reservation".into(), json!(bytes("memory-reservation", m)?));
            }
            let mut cpu = Map::new();
            if let Some(v) = a.cpu_shares {
                cpu.insert("shares".into(), json!(v));
            }
            if let Some(v) = a.cpu_quota {
                cpu.insert("quota".into(), json!(v));
            }
            if let Some(v) = a.cpu_period {
                cpu.insert("period".into(), json!(v));
            }
            if let Some(v) = &a.cpuset_cpus {
                cpu.insert("cpus".into(), json!(v));
            }
            if let Some(v) = &a.cpuset_mems {
                cpu.insert("mems".into(), json!(v));
            }
            let mut r = Map::new();
            if !memory.is_empty() {
                r.insert("memory".into(), Value::Object(memory));
            }
            if !cpu.is_empty() {
                r.insert("cpu".into(), Value::Object(cpu));
            }
            if let Some(p) = a.pids_limit {
                r.insert("pids".into(), json!({ "limit": p }));
            }
            if let Some(w) = a.blkio_weight {
                r.insert("blockIO".into(), json!({ "weight": w }));
            }
            serde_json::from_value(Value::Object(r))?
        }
    };
    wharf_linux::update(&cli.root, &a.id, &resources).map_err(super::linux_err)?;
    Ok(0)
}
