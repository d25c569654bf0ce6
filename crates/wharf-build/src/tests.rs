//! Builds without an engine (no RUN): stages, `COPY --from` through the
//! crate's own unpacking, `--target`, and the build cache.

use std::fs;

use crate::{build, BuildOptions, Store};

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    ctx: std::path::PathBuf,
}

fn fixture(dockerfile: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let ctx = dir.path().join("ctx");
    fs::create_dir_all(ctx.join("sub")).unwrap();
    fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
    fs::write(ctx.join("a.txt"), "a\n").unwrap();
    fs::write(ctx.join("sub/b.txt"), "b\n").unwrap();
    Fixture {
        _dir: dir,
        store,
        ctx,
    }
}

fn run(f: &Fixture, opts: impl FnOnce(&mut BuildOptions)) -> (crate::Built, String) {
    let mut o = BuildOptions {
        context: f.ctx.clone(),
        ..Default::default()
    };
    opts(&mut o);
    let lock = f.store.lock().unwrap();
    let mut out = Vec::new();
    let built = build(&f.store, &lock, &o, None, &mut out).unwrap();
    (built, String::from_utf8(out).unwrap())
}

/// The image's config, parsed.
fn config(f: &Fixture, built: &crate::Built) -> serde_json::Value {
    let p = f.store.blob_path(&built.config_digest).unwrap();
    serde_json::from_slice(&fs::read(p).unwrap()).unwrap()
}

const STAGES: &str = "\
ARG DIR=/data
FROM scratch AS one
ARG DIR
COPY a.txt ${DIR}/a.txt
FROM scratch AS unused
COPY missing-file /x
FROM scratch
ARG DIR
COPY --from=one ${DIR}/a.txt /copied-by-name
COPY --from=0 /data /copied-by-index/
COPY sub /sub
ENTRYPOINT [\"/copied-by-name\"]
";

#[test]
fn stages_copy_from_and_skip_what_the_target_does_not_need() {
    let f = fixture(STAGES);
    let (built, out) = run(&f, |_| {});
    // The unused stage (whose COPY would fail) was not built.
    assert!(!out.contains("missing-file"), "{out}");
    assert!(out.contains("Step 10/10"), "{out}");
    let c = config(&f, &built);
    assert_eq!(c["rootfs"]["diff_ids"].as_array().unwrap().len(), 3, "{c}");
    // --target picks a stage by name.
    let (one, _) = run(&f, |o| o.target = Some("ONE".into()));
    assert_eq!(
        config(&f, &one)["rootfs"]["diff_ids"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let lock = f.store.lock().unwrap();
    let o = BuildOptions {
        context: f.ctx.clone(),
        target: Some("nope".into()),
        ..Default::default()
    };
    let e = build(&f.store, &lock, &o, None, &mut Vec::new())
        .unwrap_err()
        .to_string();
    assert!(e.contains("nope") && e.contains("one, unused"), "{e}");
}

#[test]
fn unchanged_rebuild_hits_the_cache_and_keeps_the_id() {
    let f = fixture(STAGES);
    let (first, out) = run(&f, |_| {});
    // Only the final stage's ARG, the same step as stage one's.
    assert_eq!(out.matches("---> Using cache").count(), 1, "{out}");
    let (again, out) = run(&f, |_| {});
    assert_eq!(out.matches("---> Using cache").count(), 7, "{out}");
    assert_eq!(again.config_digest, first.config_digest);
    // A changed file misses from its COPY on, in every stage reading it.
    fs::write(f.ctx.join("a.txt"), "changed\n").unwrap();
    let (changed, out) = run(&f, |_| {});
    // (the stage-one ARG, and the final stage's ARG)
    assert_eq!(out.matches("---> Using cache").count(), 2, "{out}");
    assert_ne!(changed.config_digest, first.config_digest);
    // --no-cache looks nothing up.
    let (_, out) = run(&f, |o| o.no_cache = true);
    assert!(!out.contains("Using cache"), "{out}");
}
