use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::str::FromStr;

use serde_json::Value;
use wharf_build::{
    build, BuildOptions, Built, Descriptor, ImageConfiguration, Platform, RunStep, Store,
};

const WASM: &[u8] = b"\0asm\x01\0\0\0";

struct Ctx {
    _tmp: tempfile::TempDir,
    ctx: std::path::PathBuf,
    store: Store,
}

fn setup(dockerfile: &str, files: &[(&str, &[u8])]) -> Ctx {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = tmp.path().join("ctx");
    fs::create_dir(&ctx).unwrap();
    fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
    for (name, data) in files {
        let p = ctx.join(name);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, data).unwrap();
    }
    let store = Store::open(&tmp.path().join("store")).unwrap();
    Ctx {
        _tmp: tmp,
        ctx,
        store,
    }
}

fn opts(c: &Ctx, platform: Option<&str>) -> BuildOptions {
    BuildOptions {
        context: c.ctx.clone(),
        dockerfile: None,
        build_args: vec![],
        platform: platform.map(|p| Platform::from_str(p).unwrap()),
        quiet: false,
        target: None,
        no_cache: false,
    }
}

fn run(c: &Ctx, o: &BuildOptions) -> Result<(Built, String), wharf_build::Error> {
    let mut out = Vec::new();
    let lock = c.store.lock()?;
    let b = build(&c.store, &lock, o, None, &mut out)?;
    Ok((b, String::from_utf8(out).unwrap()))
}

fn manifest(c: &Ctx, b: &Built) -> Value {
    serde_json::from_slice(&c.store.read_blob(b.manifest.digest().as_ref()).unwrap()).unwrap()
}

fn config(c: &Ctx, b: &Built) -> Value {
    serde_json::from_slice(&c.store.read_blob(&b.config_digest).unwrap()).unwrap()
}

/// (path, mode, uid, content) of each entry of a stored gzip layer.
fn layer_entries(c: &Ctx, digest: &str) -> Vec<(String, u32, u64, Vec<u8>)> {
    let blob = c.store.read_blob(digest).unwrap();
    let mut a = tar::Archive::new(flate2::read::GzDecoder::new(&blob[..]));
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let p = e.path().unwrap().to_string_lossy().into_owned();
            let mode = e.header().mode().unwrap();
            let uid = e.header().uid().unwrap();
            assert_eq!(e.header().mtime().unwrap(), 0);
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (p, mode, uid, data)
        })
        .collect()
}

const WASM_DF: &str = "\
ARG VERSION=1.0
FROM scratch
ARG VERSION
ENV APP_VERSION=$VERSION GREETING=\"hello world\"
ENV LEGACY some value
LABEL org.opencontainers.image.version=${VERSION} maintainer=\"me\"
WORKDIR /app
COPY --chmod=0755 app.wasm .
COPY data/ ./data/
EXPOSE 8080 53/udp
USER 1000
ENTRYPOINT [\"/app/app.wasm\"]
CMD [\"--serve\"]
";

fn wasm_ctx() -> Ctx {
    setup(
        WASM_DF,
        &[
            ("app.wasm", WASM),
            ("data/a.txt", b"a"),
            ("data/sub/b.txt", b"b"),
            ("data/skip.log", b"x"),
            ("secret.txt", b"s"),
            (".dockerignore", b"**/*.log\nsecret.txt\n"),
        ],
    )
}

#[test]
fn scratch_wasm_image() {
    let c = wasm_ctx();
    fs::set_permissions(c.ctx.join("app.wasm"), fs::Permissions::from_mode(0o600)).unwrap();
    let (b, out) = run(&c, &opts(&c, Some("wasi/wasm"))).unwrap();
    assert!(out.contains("Step 1/13 : ARG VERSION=1.0"), "{out}");
    assert!(out.contains(" ---> "), "{out}");
    assert_eq!(b.platform, Platform::from_str("wasi/wasm").unwrap());
    let m = manifest(&c, &b);
    assert_eq!(m["schemaVersion"], 2);
    assert_eq!(m["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(
        m["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    let layers = m["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3, "WORKDIR + 2 COPY: {m}");
    for l in layers {
        assert_eq!(
            l["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
    }
    let cfg = config(&c, &b);
    assert_eq!(cfg["architecture"], "wasm");
    assert_eq!(cfg["os"], "wasi");
    // The build's time, that of its last step.
    let created = cfg["created"].as_str().unwrap();
    assert!(created > "2024", "{created}");
    let history = cfg["history"].as_array().unwrap();
    assert_eq!(history.last().unwrap()["created"], cfg["created"]);
    let k = &cfg["config"];
    assert_eq!(k["Entrypoint"], serde_json::json!(["/app/app.wasm"]));
    assert_eq!(k["Cmd"], serde_json::json!(["--serve"]));
    assert_eq!(k["WorkingDir"], "/app");
    assert_eq!(k["User"], "1000");
    assert_eq!(
        k["Env"],
        serde_json::json!([
            "APP_VERSION=1.0",
            "GREETING=hello world",
            "LEGACY=some value"
        ])
    );
    assert_eq!(k["Labels"]["org.opencontainers.image.version"], "1.0");
    assert_eq!(k["Labels"]["maintainer"], "me");
    assert!(k["ExposedPorts"]["8080/tcp"].is_object());
    assert!(k["ExposedPorts"]["53/udp"].is_object());
    assert_eq!(cfg["rootfs"]["diff_ids"].as_array().unwrap().len(), 3);
    let hist = cfg["history"].as_array().unwrap();
    assert_eq!(hist.len(), 11, "one per instruction after FROM");
    assert_eq!(hist.iter().filter(|h| h["empty_layer"] != true).count(), 3);

    // Layer contents.
    let l0 = layer_entries(&c, layers[0]["digest"].as_str().unwrap());
    assert_eq!(
        l0.iter().map(|e| e.0.as_str()).collect::<Vec<_>>(),
        vec!["app/"]
    );
    let l1 = layer_entries(&c, layers[1]["digest"].as_str().unwrap());
    assert_eq!(l1.len(), 2);
    assert_eq!(l1[1].0, "app/app.wasm");
    assert_eq!(l1[1].1, 0o755, "--chmod applied");
    assert_eq!(l1[1].3, WASM);
    let l2 = layer_entries(&c, layers[2]["digest"].as_str().unwrap());
    let names: Vec<&str> = l2.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "app/",
            "app/data/",
            "app/data/a.txt",
            "app/data/sub/",
            "app/data/sub/b.txt"
        ],
        "sorted, .dockerignore applied"
    );
    assert!(l2.iter().all(|e| e.2 == 0));
}

#[test]
fn reproducible_digest() {
    let c = wasm_ctx();
    let (a, _) = run(&c, &opts(&c, Some("wasi/wasm"))).unwrap();
    // Touch the files: mtimes must not matter.
    let f = c.ctx.join("app.wasm");
    fs::write(&f, WASM).unwrap();
    let (b, _) = run(&c, &opts(&c, Some("wasi/wasm"))).unwrap();
    assert_eq!(a.manifest.digest(), b.manifest.digest());
    assert_eq!(a.config_digest, b.config_digest);
    let mut o = opts(&c, Some("wasi/wasm"));
    o.build_args = vec![("VERSION".into(), "2.0".into())];
    let (d, _) = run(&c, &o).unwrap();
    assert_ne!(a.manifest.digest(), d.manifest.digest());
    assert_eq!(config(&c, &d)["config"]["Env"][0], "APP_VERSION=2.0");
}

#[test]
fn shell_form_is_an_error_for_wasm() {
    let c = setup(
        "FROM scratch\nCOPY app.wasm /\nENTRYPOINT /app.wasm\n",
        &[("app.wasm", WASM)],
    );
    let e = run(&c, &opts(&c, Some("wasip1/wasm")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 3"), "{e}");
    assert!(e.contains("Wasm images have no shell"), "{e}");
    // Linux: shell form wraps in /bin/sh -c.
    let (b, _) = run(&c, &opts(&c, Some("linux/amd64"))).unwrap();
    assert_eq!(
        config(&c, &b)["config"]["Entrypoint"],
        serde_json::json!(["/bin/sh", "-c", "/app.wasm"])
    );
    assert_eq!(config(&c, &b)["os"], "linux");
}

#[test]
fn run_errors() {
    let c = setup("FROM scratch\nRUN echo hi\n", &[]);
    let e = run(&c, &opts(&c, Some("wasip2/wasm")))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("line 2") && e.contains("RUN cannot run in a Wasm image build"),
        "{e}"
    );
    let e = run(&c, &opts(&c, Some("linux/amd64")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("needs the Linux executor"), "{e}");
}

struct FakeRunner(Vec<Vec<String>>);
impl RunStep for FakeRunner {
    fn run(
        &mut self,
        base: &[Descriptor],
        config: &ImageConfiguration,
        args: &[String],
    ) -> anyhow::Result<Option<Vec<u8>>> {
        assert_eq!(base.len(), 1);
        assert!(config
            .config()
            .as_ref()
            .unwrap()
            .env()
            .as_ref()
            .unwrap()
            .contains(&"X=1".to_string()));
        self.0.push(args.to_vec());
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o644);
        b.append_data(&mut h, "ran.txt", &b"ok"[..]).unwrap();
        Ok(Some(b.into_inner().unwrap()))
    }

    fn rootfs(&mut self, _: &[Descriptor], _: &[String]) -> anyhow::Result<std::path::PathBuf> {
        anyhow::bail!("these tests have no COPY --from")
    }

    fn fetch(&mut self, url: &str, _: &mut std::fs::File) -> anyhow::Result<()> {
        anyhow::bail!("these tests download nothing ({url})")
    }
}

#[test]
fn run_uses_the_runner_for_linux() {
    let c = setup(
        "FROM scratch\nCOPY f /\nARG X=1\nRUN echo hi\n",
        &[("f", b"f")],
    );
    let mut r = FakeRunner(vec![]);
    let mut out = Vec::new();
    let lock = c.store.lock().unwrap();
    let b = build(
        &c.store,
        &lock,
        &opts(&c, Some("linux/amd64")),
        Some(&mut r),
        &mut out,
    )
    .unwrap();
    assert_eq!(
        r.0,
        vec![vec!["/bin/sh".to_string(), "-c".into(), "echo hi".into()]]
    );
    let m = manifest(&c, &b);
    assert_eq!(m["layers"].as_array().unwrap().len(), 2);
    // ARG is not persisted as ENV.
    assert!(config(&c, &b)["config"]["Env"].is_null());
}

fn tarball(entries: &[(&str, &[u8])], raw_name: Option<&str>) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o640);
        b.append_data(&mut h, name, *data).unwrap();
    }
    if let Some(n) = raw_name {
        let mut h = tar::Header::new_gnu();
        h.as_gnu_mut().unwrap().name[..n.len()].copy_from_slice(n.as_bytes());
        h.set_size(1);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append(&h, &b"x"[..]).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn add_extracts_tarballs_and_refuses_escapes() {
    let good = tarball(&[("dir/one.txt", b"1"), ("two.txt", b"2")], None);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &good).unwrap();
    let gz = gz.finish().unwrap();
    let zst = zstd::encode_all(&good[..], 3).unwrap();
    let c = setup(
        "FROM scratch\nADD site.tar.gz /srv/\nADD other.tar.zst /z\nADD plain.txt /p.txt\n",
        &[
            ("site.tar.gz", &gz),
            ("other.tar.zst", &zst),
            ("plain.txt", b"p"),
        ],
    );
    let (b, _) = run(&c, &opts(&c, Some("wasi/wasm"))).unwrap();
    let m = manifest(&c, &b);
    let l = layer_entries(&c, m["layers"][0]["digest"].as_str().unwrap());
    let names: Vec<&str> = l.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        names,
        vec!["srv/", "srv/dir/", "srv/dir/one.txt", "srv/two.txt"]
    );
    assert_eq!(l[3].1, 0o640);
    let l = layer_entries(&c, m["layers"][1]["digest"].as_str().unwrap());
    assert!(l.iter().any(|e| e.0 == "z/two.txt"));
    let l = layer_entries(&c, m["layers"][2]["digest"].as_str().unwrap());
    assert_eq!(l[0].0, "p.txt");

    let evil = tarball(&[("ok.txt", b"1")], Some("../../escape.txt"));
    let c = setup("FROM scratch\nADD evil.tar /\n", &[("evil.tar", &evil)]);
    let e = run(&c, &opts(&c, Some("wasi/wasm")))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("line 2") && e.contains("escape.txt") && e.contains("'..'"),
        "{e}"
    );

    let c = setup("FROM scratch\nADD https://example.com/x.wasm /\n", &[]);
    let e = run(&c, &opts(&c, Some("wasi/wasm")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 2") && e.contains("HTTP client"), "{e}");
    let c = setup("FROM scratch\nCOPY https://example.com/x.wasm /\n", &[]);
    let e = run(&c, &opts(&c, Some("wasi/wasm")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("use ADD for a URL"), "{e}");
}

#[test]
fn sources_outside_context_and_missing_are_refused() {
    let c = setup("FROM scratch\nCOPY ../outside /\n", &[]);
    let e = run(&c, &opts(&c, None)).unwrap_err().to_string();
    assert!(e.contains("outside the build context"), "{e}");
    let c = setup("FROM scratch\nCOPY nothere /\n", &[]);
    let e = run(&c, &opts(&c, None)).unwrap_err().to_string();
    assert!(e.contains("not found in the build context"), "{e}");
    let c = setup(
        "FROM scratch\nCOPY s.txt /\n",
        &[("s.txt", b"x"), (".dockerignore", b"s.txt\n")],
    );
    let e = run(&c, &opts(&c, None)).unwrap_err().to_string();
    assert!(e.contains("excluded by .dockerignore"), "{e}");
    let c = setup("FROM scratch\nCOPY link /\n", &[]);
    std::os::unix::fs::symlink("/etc/passwd", c.ctx.join("link")).unwrap();
    let e = run(&c, &opts(&c, None)).unwrap_err().to_string();
    assert!(e.contains("outside the build context"), "{e}");
}

#[test]
fn copy_globs_and_multiple_sources() {
    let c = setup(
        "FROM scratch\nCOPY *.wasm b.txt /mods/\nCOPY a.wasm /single\n",
        &[("a.wasm", WASM), ("c.wasm", WASM), ("b.txt", b"b")],
    );
    let (b, _) = run(&c, &opts(&c, Some("wasi/wasm"))).unwrap();
    let m = manifest(&c, &b);
    let l = layer_entries(&c, m["layers"][0]["digest"].as_str().unwrap());
    let names: Vec<&str> = l.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        names,
        vec!["mods/", "mods/a.wasm", "mods/b.txt", "mods/c.wasm"]
    );
    let l = layer_entries(&c, m["layers"][1]["digest"].as_str().unwrap());
    assert_eq!(l[0].0, "single");
    let c = setup("FROM scratch\nCOPY a b /dir\n", &[("a", b"a"), ("b", b"b")]);
    let e = run(&c, &opts(&c, None)).unwrap_err().to_string();
    assert!(e.contains("must be a directory"), "{e}");
}

#[test]
fn from_an_image_built_earlier_reuses_layers() {
    let c = setup(
        "FROM scratch\nCOPY app.wasm /app.wasm\nENV A=1\nENTRYPOINT [\"/app.wasm\"]\nCMD [\"x\"]\n",
        &[("app.wasm", WASM), ("extra.txt", b"e")],
    );
    let (base, _) = run(&c, &opts(&c, Some("wasi/wasm"))).unwrap();
    let lock = c.store.lock().unwrap();
    c.store
        .tag(
            &lock,
            &wharf_image::Reference::from_str("base:1").unwrap(),
            &base.manifest,
        )
        .unwrap();
    drop(lock);
    fs::write(
        c.ctx.join("Dockerfile"),
        "FROM base:1\nCOPY extra.txt /\nENV B=$A-2\n",
    )
    .unwrap();
    let (child, _) = run(&c, &opts(&c, None)).unwrap();
    assert_eq!(child.platform.architecture, "wasm");
    let bm = manifest(&c, &base);
    let cm = manifest(&c, &child);
    assert_eq!(cm["layers"].as_array().unwrap().len(), 2);
    assert_eq!(cm["layers"][0], bm["layers"][0]);
    let cfg = config(&c, &child);
    assert_eq!(cfg["config"]["Env"], serde_json::json!(["A=1", "B=1-2"]));
    assert_eq!(
        cfg["config"]["Entrypoint"],
        serde_json::json!(["/app.wasm"])
    );
    assert_eq!(cfg["config"]["Cmd"], serde_json::json!(["x"]));
    assert_eq!(cfg["os"], "wasi");
    assert_eq!(
        cfg["rootfs"]["diff_ids"][0],
        config(&c, &base)["rootfs"]["diff_ids"][0]
    );
    assert_eq!(cfg["history"].as_array().unwrap().len(), 4 + 2);
    // The base layer's directories were read once and kept for the next
    // build (which then need not decompress it).
    let base_layer = bm["layers"][0]["digest"].as_str().unwrap();
    assert!(c.store.build_cache().layer_dirs.contains_key(base_layer));
}

#[test]
fn unknown_instruction_and_unused_build_args() {
    let c = setup("FROM scratch\nBOGUS x\n", &[]);
    let e = run(&c, &opts(&c, None)).unwrap_err().to_string();
    assert!(e.contains("line 2") && e.contains("BOGUS"), "{e}");
    let c = setup("FROM scratch\nLABEL a=b\n", &[]);
    let mut o = opts(&c, None);
    o.build_args = vec![("NOPE".into(), "1".into())];
    let (b, out) = run(&c, &o).unwrap();
    assert!(
        out.contains("NOPE") && out.contains("not consumed"),
        "{out}"
    );
    assert_eq!(b.warnings.len(), 1);
    let _ = Path::new("");
}
