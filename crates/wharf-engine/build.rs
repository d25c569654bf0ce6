//! Builds `wharf-init` (init/main.rs), the init `run --init` mounts into a
//! container, as a static executable: it must run in images that have no
//! libc or dynamic loader. The engine embeds the result.

fn main() {
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("init/main.rs");
    println!("cargo:rerun-if-changed={}", src.display());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let target = std::env::var("TARGET").expect("TARGET");
    let status = std::process::Command::new(rustc)
        .args([
            "--edition",
            "2021",
            "--crate-name",
            "wharf_init",
            "--target",
        ])
        .arg(&target)
        .args([
            "-C",
            "opt-level=s",
            "-C",
            "panic=abort",
            "-C",
            "strip=symbols",
            "-C",
            "target-feature=+crt-static",
            "-o",
        ])
        .arg(out.join("wharf-init"))
        .arg(&src)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .expect("running rustc for wharf-init");
    assert!(
        status.success(),
        "building the static wharf-init failed: it needs the target's static C library (Debian: libc6-dev)"
    );
}
