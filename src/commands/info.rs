use anyhow::Result;
use serde_json::Value;
use wharf_engine::Engine;

use crate::table;

/// Show the store's contents and what this host offers Wharf (cgroups,
/// executors, netavark, runtimes)
#[derive(clap::Args)]
pub struct Args {
    /// Output: json, or a Go template ('{{.ContainersRunning}}',
    /// '{{.CgroupLayout}}', '{{json .Peers}}')
    #[arg(short = 'f', long, value_name = "FORMAT")]
    format: Option<String>,
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    // Parsed first: a bad template is an error before any work.
    let template = match a.format.as_deref().map(str::trim) {
        None | Some("") | Some("json") => None,
        Some(text) => Some(crate::format::compile(text)?),
    };
    let info = engine.info()?;
    if let Some(t) = template {
        println!("{}", crate::format::render_value(&t, &info)?);
        return Ok(0);
    }
    if a.format.is_some() {
        println!("{info}");
        return Ok(0);
    }
    let n = |k: &str| info[k].as_u64().unwrap_or(0);
    let s = |k: &str| match &info[k] {
        Value::String(s) => table::escape_controls(s),
        other => other.to_string(),
    };
    println!("Client: Wharf {}", env!("CARGO_PKG_VERSION"));
    println!("Store:");
    println!(" Root Dir: {}", s("RootDir"));
    println!(" Size: {}", table::human_size(n("RootDirSize")));
    println!(" Containers: {}", n("Containers"));
    println!("  Running: {}", n("ContainersRunning"));
    println!("  Paused: {}", n("ContainersPaused"));
    println!("  Stopped: {}", n("ContainersStopped"));
    println!(" Images: {}", n("Images"));
    println!("Host:");
    println!(" Kernel Version: {}", s("KernelVersion"));
    println!(" OSType: {}", s("OSType"));
    println!(" Architecture: {}", s("Architecture"));
    println!(" CPUs: {}", n("NCPU"));
    let layout = match s("CgroupLayout").as_str() {
        "v2" => "2 (unified)".to_string(),
        "hybrid" => "1 (hybrid: v1 controllers, plus an empty cgroup2 mount)".to_string(),
        "v1" => "1 (legacy)".to_string(),
        other => format!("unknown ({other})"),
    };
    println!(" Cgroup Version: {layout}");
    let executors: Vec<&str> = info["Executors"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    println!(
        " Executors: {} (wasmtime {})",
        executors.join(", "),
        s("WasmtimeVersion")
    );
    println!(" Peers:");
    if let Some(peers) = info["Peers"].as_object() {
        for (name, p) in peers {
            let role = p["Role"].as_str().unwrap_or_default();
            match p["Path"].as_str() {
                Some(path) => println!(
                    "  {name}: {} ({path}): {role}",
                    p["Version"].as_str().unwrap_or("version unknown")
                ),
                None => println!("  {name}: not found: {role}"),
            }
        }
    }
    Ok(0)
}
