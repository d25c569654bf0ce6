//! The image store: images, tag, rmi, save, load (OCI archives from Wharf,
//! skopeo and umoci; docker-archive; CNCF Wasm artifacts), and the store
//! being a plain OCI layout.

mod common;

use std::fs;
use std::process::Command;

use common::*;
use serde_json::{json, Value};

/// Runs an external tool (skopeo, umoci, tar) that must succeed.
fn tool(args: &[&str]) -> String {
    let (prog, rest) = args.split_first().unwrap();
    let mut c = Command::new(prog);
    c.args(rest);
    let out = run_with_timeout(c, None, CMD_TIMEOUT);
    assert!(
        out.status.success(),
        "`{}` failed (scripts/setup.sh installs skopeo and umoci)\n{}",
        args.join(" "),
        describe(&out)
    );
    stdout(&out)
}

fn image_named<'a>(imgs: &'a [Value], repo: &str, tag: &str) -> Option<&'a Value> {
    imgs.iter()
        .find(|i| i["Repository"] == repo && i["Tag"] == tag)
}

fn loaded_names(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.strip_prefix("Loaded image: "))
        .map(|s| s.trim().to_string())
        .collect()
}

#[test]
fn images_lists_built_image() {
    let w = Wharf::new();
    w.build_hello();
    let imgs = w.images();
    assert_eq!(imgs.len(), 1, "{imgs:?}");
    let i = &imgs[0];
    for key in [
        "Repository",
        "Tag",
        "ID",
        "Digest",
        "CreatedAt",
        "Size",
        "Platform",
    ] {
        assert!(i.get(key).is_some(), "images json lacks {key}: {i}");
    }
    assert_eq!(i["Repository"], "hello");
    assert_eq!(i["Tag"], "1");
    let digest = i["Digest"].as_str().unwrap();
    assert!(
        digest.starts_with("sha256:") && is_hex(&digest[7..], 64),
        "{digest}"
    );
    assert!(
        i["Platform"].as_str().unwrap().contains("wasm"),
        "platform of a wasm image: {i}"
    );
    // The manifest really is in the store.
    assert!(w.root().join("blobs/sha256").join(&digest[7..]).is_file());

    let q = lines(&w.ok(&["images", "-q"]));
    assert_eq!(q.len(), 1);
    assert!(is_hex(&q[0], 12), "images -q prints short ids: {q:?}");
    let id = i["ID"].as_str().unwrap();
    assert!(
        id.trim_start_matches("sha256:").starts_with(&q[0]),
        "{id} vs {q:?}"
    );

    let table = w.ok(&["images"]);
    let header = table.lines().next().unwrap();
    assert!(header.starts_with("REPOSITORY"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("hello") && l.contains(&q[0])),
        "{table}"
    );
}

#[test]
fn root_can_come_from_env() {
    let w = Wharf::new();
    w.build_hello();
    let mut c = Command::new(BIN);
    let listing = ["images", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}"];
    c.env("WHARF_ROOT", w.root()).args(listing);
    let out = run_with_timeout(c, None, CMD_TIMEOUT);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(stdout(&out), w.ok(&listing));
    let mut c = Command::new(BIN);
    c.env("WHARF_ROOT", w.root())
        .args(["run", "--rm", "hello:1"]);
    let out = run_with_timeout(c, None, CMD_TIMEOUT);
    assert_eq!(
        stdout(&out),
        format!("{WASM_GREETING}\n"),
        "{}",
        describe(&out)
    );
}

#[test]
fn tag_and_rmi() {
    let w = Wharf::new();
    w.build_hello();
    w.ok(&["tag", "hello:1", "other/name:v2"]);
    let imgs = w.images();
    let a = image_named(&imgs, "hello", "1").expect("hello:1");
    let b = image_named(&imgs, "other/name", "v2").expect("other/name:v2");
    assert_eq!(a["ID"], b["ID"]);
    assert_eq!(a["Digest"], b["Digest"]);
    assert_eq!(
        w.ok(&["run", "--rm", "other/name:v2"]),
        format!("{WASM_GREETING}\n")
    );

    // A tag without a tag part means :latest.
    w.ok(&["tag", "hello:1", "plain"]);
    assert!(image_named(&w.images(), "plain", "latest").is_some());

    let out = w.ok(&["rmi", "hello:1"]);
    assert!(
        out.contains("hello:1"),
        "rmi reports what it untagged: {out}"
    );
    let imgs = w.images();
    assert!(image_named(&imgs, "hello", "1").is_none());
    assert!(image_named(&imgs, "other/name", "v2").is_some());
    assert_eq!(
        w.ok(&["run", "--rm", "other/name:v2"]),
        format!("{WASM_GREETING}\n"),
        "the other tag still works"
    );
    let out = w.cmd(&["run", "--rm", "hello:1"]);
    assert_eq!(out.status.code(), Some(125), "{}", describe(&out));

    w.ok(&["rmi", "other/name:v2", "plain"]);
    assert!(w.images().is_empty());
    // Unknown image.
    let out = w.fails(&["rmi", "nosuch:1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("nosuch"), "{}", describe(&out));
    // Tagging an unknown image.
    let out = w.fails(&["tag", "nosuch:1", "x:1"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn inspect_image() {
    let w = Wharf::new();
    w.build_hello();
    let i = w.inspect("hello:1");
    let s = i.to_string();
    assert!(
        s.contains("wasm"),
        "image inspect shows the wasm platform: {i:#}"
    );
    assert!(
        s.contains("/hello.wasm"),
        "image inspect shows the entrypoint: {i:#}"
    );
    let id = w.images()[0]["ID"].as_str().unwrap().to_string();
    assert!(s.contains(id.trim_start_matches("sha256:")), "{i:#}");
}

#[test]
fn save_load_round_trip() {
    let w = Wharf::new();
    w.build_hello();
    w.ok(&["tag", "hello:1", "hello:2"]);
    let archive = w.scratch("out").join("hello.tar");
    w.ok(&[
        "save",
        "-o",
        archive.to_str().unwrap(),
        "hello:1",
        "hello:2",
    ]);
    assert!(archive.is_file());

    // skopeo reads it as an OCI archive.
    let info: Value = serde_json::from_str(&tool(&[
        "skopeo",
        "inspect",
        &format!("oci-archive:{}:hello:1", archive.display()),
    ]))
    .unwrap();
    assert_eq!(info["Architecture"], "wasm", "{info:#}");
    assert_eq!(info["Digest"], w.images()[0]["Digest"], "{info:#}");

    // A fresh store loads it and runs it.
    let w2 = Wharf::new();
    let out = w2.load(&archive);
    let mut names = loaded_names(&out);
    names.sort();
    assert_eq!(names, ["hello:1", "hello:2"], "{out}");
    assert_eq!(
        w2.ok(&["run", "--rm", "hello:2", "cat", "/etc/greeting.txt"]),
        GREETING_FILE
    );
    // Same content, same digests.
    let d1: Vec<Value> = w.images().iter().map(|i| i["Digest"].clone()).collect();
    let d2: Vec<Value> = w2.images().iter().map(|i| i["Digest"].clone()).collect();
    assert_eq!(d1, d2);

    // Loading twice is harmless.
    w2.load(&archive);
    assert_eq!(w2.images().len(), 2);
}

#[test]
fn save_unknown_image_fails() {
    let w = Wharf::new();
    let archive = w.scratch("out").join("x.tar");
    let out = w.fails(&["save", "-o", archive.to_str().unwrap(), "nosuch:1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!archive.exists(), "a failed save must not leave an archive");
}

#[test]
fn store_is_an_oci_layout_skopeo_reads() {
    let w = Wharf::new();
    w.build_hello();
    assert!(w.root().join("oci-layout").is_file());
    assert!(w.root().join("index.json").is_file());
    let info: Value = serde_json::from_str(&tool(&[
        "skopeo",
        "inspect",
        &format!("oci:{}:hello:1", w.root().display()),
    ]))
    .unwrap();
    assert_eq!(info["Architecture"], "wasm", "{info:#}");
    assert_eq!(info["Digest"], w.images()[0]["Digest"]);
    // Tags are ref.name annotations in index.json.
    let index: Value =
        serde_json::from_str(&fs::read_to_string(w.root().join("index.json")).unwrap()).unwrap();
    let refs: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .collect();
    assert!(
        refs.iter()
            .any(|r| r.contains("hello") && r.ends_with(":1")),
        "{index:#}"
    );
}

#[test]
fn load_skopeo_oci_archive() {
    let w = Wharf::new();
    w.build_hello();
    let dir = w.scratch("out");
    let src = format!("oci:{}:hello:1", w.root().display());

    let a = dir.join("bb.tar");
    tool(&[
        "skopeo",
        "copy",
        "-q",
        &src,
        &format!("oci-archive:{}:bb", a.display()),
    ]);
    let w2 = Wharf::new();
    assert_eq!(loaded_names(&w2.load(&a)), ["bb:latest"]);
    assert_eq!(w2.ok(&["run", "--rm", "bb"]), format!("{WASM_GREETING}\n"));

    let a = dir.join("bbl1.tar");
    tool(&[
        "skopeo",
        "copy",
        "-q",
        &src,
        &format!("oci-archive:{}:bb:l1", a.display()),
    ]);
    assert_eq!(loaded_names(&w2.load(&a)), ["bb:l1"]);
    assert_eq!(w2.ok(&["run", "--rm", "bb:l1", "echo", "ok"]), "ok\n");
}

#[test]
fn load_skopeo_docker_archive() {
    let w = Wharf::new();
    w.build_hello();
    let a = w.scratch("out").join("d.tar");
    tool(&[
        "skopeo",
        "copy",
        "-q",
        &format!("oci:{}:hello:1", w.root().display()),
        &format!("docker-archive:{}:dd:1", a.display()),
    ]);
    let w2 = Wharf::new();
    assert_eq!(loaded_names(&w2.load(&a)), ["dd:1"]);
    assert_eq!(
        w2.ok(&["run", "--rm", "dd:1", "cat", "/etc/greeting.txt"]),
        GREETING_FILE
    );
    assert_eq!(
        w2.ok(&["run", "--rm", "dd:1", "a"]),
        format!("{WASM_GREETING}\nargs: a\n")
    );
}

#[test]
fn load_umoci_layout() {
    let w = Wharf::new();
    let dir = w.scratch("umoci");
    let l = dir.join("L");
    let ls = l.to_str().unwrap();
    let wasm = artifact("hello/hello.wasm");
    tool(&["umoci", "init", "--layout", ls]);
    tool(&["umoci", "new", "--image", &format!("{ls}:u1")]);
    // (Not `umoci insert`: umoci 0.4.7 writes that layer without tar padding.)
    let bundle = dir.join("B");
    let image = format!("{ls}:u1");
    tool(&[
        "umoci",
        "unpack",
        "--image",
        &image,
        bundle.to_str().unwrap(),
    ]);
    fs::copy(&wasm, bundle.join("rootfs/hello.wasm")).unwrap();
    tool(&[
        "umoci",
        "repack",
        "--image",
        &image,
        bundle.to_str().unwrap(),
    ]);
    tool(&[
        "umoci",
        "config",
        "--image",
        &format!("{ls}:u1"),
        "--architecture",
        "wasm",
        "--os",
        "wasip1",
        "--config.entrypoint",
        "/hello.wasm",
    ]);
    // An OCI archive is the layout directory, tarred (with ./ prefixes here).
    let a = dir.join("u.tar");
    tool(&["tar", "-C", ls, "-cf", a.to_str().unwrap(), "."]);
    assert_eq!(loaded_names(&w.load(&a)), ["u1:latest"]);
    assert_eq!(
        w.ok(&["run", "--rm", "u1", "x"]),
        format!("{WASM_GREETING}\nargs: x\n")
    );
}

fn load_and_run_generated(img: &OciImage, expect_name: &str) {
    let w = Wharf::new();
    let a = w.scratch_file("img.tar", &layout(img).archive());
    assert_eq!(loaded_names(&w.load(&a)), [expect_name]);
    assert_eq!(
        w.ok(&["run", "--rm", expect_name, "cat", "/etc/greeting.txt"]),
        GREETING_FILE
    );
    assert_eq!(
        w.ok(&["run", "--rm", expect_name]),
        format!("{WASM_GREETING}\n")
    );
}

#[test]
fn load_handmade_archive_plain_tar_layer() {
    load_and_run_generated(
        &wasm_image(hello_layer_tar(), MT_LAYER_TAR, "good:1"),
        "good:1",
    );
}

#[test]
fn load_handmade_archive_gzip_layer() {
    load_and_run_generated(
        &wasm_image(hello_layer_tar(), MT_LAYER_GZIP, "good:gz"),
        "good:gz",
    );
}

#[test]
fn load_handmade_archive_zstd_layer() {
    load_and_run_generated(
        &wasm_image(hello_layer_tar(), MT_LAYER_ZSTD, "good:zst"),
        "good:zst",
    );
}

#[test]
fn load_cncf_wasm_artifact() {
    let module = hello_wasm_bytes();
    let layer_digest = format!("sha256:{}", sha256_hex(&module));
    let config = serde_json::to_vec(&json!({
        "architecture": "wasm",
        "os": "wasip1",
        "layerDigests": [layer_digest],
    }))
    .unwrap();
    let img = OciImage {
        config_media_type: MT_WASM_CONFIG.to_string(),
        config,
        layers: vec![(MT_WASM_LAYER.to_string(), module)],
        ref_name: "cncf:1".to_string(),
    };
    let w = Wharf::new();
    let a = w.scratch_file("cncf.tar", &layout(&img).archive());
    assert_eq!(loaded_names(&w.load(&a)), ["cncf:1"]);
    assert_eq!(
        w.ok(&["run", "--rm", "cncf:1"]),
        format!("{WASM_GREETING}\n")
    );
    assert_eq!(w.ok(&["run", "--rm", "cncf:1", "echo", "hi"]), "hi\n");
    let ps = w.ok(&["images"]);
    assert!(ps.contains("cncf"), "{ps}");
}

#[test]
fn save_of_loaded_image_round_trips_through_skopeo() {
    // A store written by load is itself readable by skopeo.
    let w = Wharf::new();
    let a = w.scratch_file("img.tar", &layout(&good_image("good:1")).archive());
    w.load(&a);
    let info: Value = serde_json::from_str(&tool(&[
        "skopeo",
        "inspect",
        &format!("oci:{}:good:1", w.root().display()),
    ]))
    .unwrap();
    assert_eq!(info["Os"], "wasip1", "{info:#}");
}

/// Names from an archive never reach the terminal raw (issue 19): a ref
/// name carrying an escape sequence is shown escaped, whether load takes or
/// refuses it.
#[test]
fn control_characters_from_archives_are_escaped() {
    let w = Wharf::new();
    let evil = "evil\u{1b}[31mred:1";
    let a = w.scratch_file("evil.tar", &layout(&good_image(evil)).archive());
    let load = w.cmd(&["load", "-i", a.to_str().unwrap()]);
    let images = w.cmd(&["images"]);
    for out in [&load, &images] {
        let all = [out.stdout.as_slice(), out.stderr.as_slice()].concat();
        assert!(!all.contains(&0x1b), "{}", describe(out));
    }
    let shown = format!("{}{}", stdout(&load), stderr(&load));
    assert!(shown.contains("\\x1b"), "{}", describe(&load));
}

/// An archive naming one image thousands of times loads every name, in one
/// write of index.json (issue 19: one rewrite and fsync per name was
/// quadratic, and a kill left some of the names).
#[test]
fn thousands_of_names_load_in_one_transaction() {
    let w = Wharf::new();
    let mut l = layout(&good_image("many:0"));
    let mut index: Value = serde_json::from_slice(&l.files["index.json"]).unwrap();
    let entry = index["manifests"][0].clone();
    index["manifests"] = (0..3000)
        .map(|i| {
            let mut e = entry.clone();
            e["annotations"]["org.opencontainers.image.ref.name"] = json!(format!("many:{i}"));
            e
        })
        .collect();
    l.files
        .insert("index.json".into(), serde_json::to_vec(&index).unwrap());
    let a = w.scratch_file("many.tar", &l.archive());
    let out = w.load(&a);
    assert_eq!(out.lines().count(), 3000, "{out}");
    let stored: Value =
        serde_json::from_slice(&fs::read(w.root().join("index.json")).unwrap()).unwrap();
    let names = stored["manifests"].as_array().unwrap().len();
    assert_eq!(names, 3000);
}
