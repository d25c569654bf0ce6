//! Links `wharf` for a fast start (see build/link.rs), and records the
//! versions `wharf version` prints: libcontainer's from Cargo.lock (the one
//! linked), and the compiler's.
include!("build/link.rs");

fn main() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    link_for_fast_start(&dir.join("wharf.order"));
    println!("cargo:rerun-if-changed=build/link.rs");
    println!("cargo:rerun-if-changed=Cargo.lock");
    let lock = std::fs::read_to_string(dir.join("Cargo.lock")).unwrap_or_default();
    println!(
        "cargo:rustc-env=WHARF_LIBCONTAINER_VERSION={}",
        locked_version(&lock, "libcontainer").unwrap_or("unknown")
    );
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let rustc_version = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .unwrap_or_default();
    println!(
        "cargo:rustc-env=WHARF_RUSTC_VERSION={}",
        rustc_version.trim()
    );
}

/// The version of package `name` in a Cargo.lock.
fn locked_version<'a>(lock: &'a str, name: &str) -> Option<&'a str> {
    let wanted = format!("name = \"{name}\"");
    let mut lines = lock.lines();
    lines.find(|l| l.trim() == wanted)?;
    lines
        .next()?
        .trim()
        .strip_prefix("version = \"")?
        .strip_suffix('"')
}
