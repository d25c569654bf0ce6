//! The example guests the bench builds its images from: which programs,
//! in which packagings, and where they are.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};

/// The example programs every packaging is built from.
pub(crate) const PROGRAMS: [&str; 2] = ["hello", "cpu"];

/// One packaging of a program: (kind, tag, Dockerfile, platform).
pub(crate) const KINDS: [(&str, &str, &str, &str); 3] = [
    ("wasm-p1", "wasm", "Dockerfile", "wasi/wasm"),
    ("wasm-p2", "p2", "Dockerfile.p2", "wasip2/wasm"),
    ("linux", "linux", "Dockerfile.linux", "linux/amd64"),
];

/// The file `wharf build` copies into an image of `program` as `kind`.
pub(crate) fn artifact_name(program: &str, kind: &str) -> String {
    match kind {
        "wasm-p1" => format!("{program}.wasm"),
        "wasm-p2" => format!("{program}-p2.wasm"),
        _ => program.to_string(),
    }
}

/// The tag the bench gives `program` built as `kind`, e.g. `hello:wasm`.
pub(crate) fn image_of(program: &str, kind: &str) -> String {
    let tag = KINDS.iter().find(|k| k.0 == kind).map(|k| k.1).unwrap();
    format!("{program}:{tag}")
}

/// Finds examples/ with built guests: `explicit`, else `./examples`, else
/// the checkout the wharf binary was built in (…/target/<profile>/wharf).
pub fn find_examples(explicit: Option<&Path>, exe: &Path) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    let mut candidates = vec![PathBuf::from("examples")];
    for dir in exe.ancestors().skip(1).take(5) {
        candidates.push(dir.join("examples"));
    }
    candidates
        .into_iter()
        .find(|c| c.join("hello/Dockerfile").is_file())
        .map(|c| c.canonicalize().unwrap_or(c))
        .ok_or_else(|| {
            anyhow!(
                "cannot find the examples/ directory (run from the Wharf checkout or pass \
                 --examples DIR); build the guests with `bash scripts/setup.sh`"
            )
        })
}

/// Fails, naming every missing file, unless every guest and Dockerfile
/// the bench builds from is there.
pub(crate) fn check_artifacts(ex: &Path) -> Result<()> {
    let mut missing = Vec::new();
    for p in PROGRAMS {
        for (kind, _, dockerfile, _) in KINDS {
            for f in [artifact_name(p, kind), dockerfile.to_string()] {
                let path = ex.join(p).join(&f);
                if !path.is_file() {
                    missing.push(path.display().to_string());
                }
            }
        }
    }
    if !missing.is_empty() {
        bail!(
            "missing example artifacts: {}; run `bash scripts/setup.sh` to build the guests \
             (wasm32-wasip1, wasm32-wasip2 and x86_64-unknown-linux-musl)",
            missing.join(", ")
        );
    }
    Ok(())
}
