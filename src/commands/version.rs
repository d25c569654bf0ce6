use anyhow::Result;
use serde_json::{json, Value};

/// Show Wharf's version and those of the engines it is built on
#[derive(clap::Args)]
pub struct Args {
    /// Output: json, or a Go template over {"Client": {...}}
    /// ('{{.Client.Version}}', '{{.Client.WasmtimeVersion}}')
    #[arg(short = 'f', long, value_name = "FORMAT")]
    format: Option<String>,
}

/// What `wharf version` reports; no store needed.
pub fn exec(a: Args) -> Result<i32> {
    let v = versions();
    let client = &v["Client"];
    match a.format.as_deref().map(str::trim) {
        None | Some("") => {
            let field = |k: &str| client[k].as_str().unwrap_or_default().to_string();
            println!("Client: Wharf");
            println!(" Version:           {}", field("Version"));
            println!(" Wasmtime version:  {}", field("WasmtimeVersion"));
            println!(" libcontainer:      {}", field("LibcontainerVersion"));
            println!(" Rust version:      {}", field("RustVersion"));
            println!(" OS/Arch:           {}/{}", field("Os"), field("Arch"));
        }
        Some("json") => println!("{v}"),
        Some(text) => {
            let template = crate::format::compile(text)?;
            println!("{}", crate::format::render_value(&template, &v)?);
        }
    }
    Ok(0)
}

fn versions() -> Value {
    json!({
        "Client": {
            "Platform": {"Name": "Wharf"},
            "Version": env!("CARGO_PKG_VERSION"),
            "WasmtimeVersion": wharf_wasm::WASMTIME_VERSION,
            "LibcontainerVersion": env!("WHARF_LIBCONTAINER_VERSION"),
            "RustVersion": env!("WHARF_RUSTC_VERSION"),
            "Os": std::env::consts::OS,
            // Docker's (Go's) names for the architectures.
            "Arch": match std::env::consts::ARCH {
                "x86_64" => "amd64",
                "aarch64" => "arm64",
                other => other,
            },
        }
    })
}
