use super::*;
use crate::error::{Error, Result};
use crate::media::{self, Compression};
use crate::reference::Reference;
use crate::testutil::*;
use crate::{Platform, Store};
use oci_spec::image::{Descriptor, ImageConfiguration, ImageManifest};
use serde_json::json;
use std::io::Read;

fn new_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    (dir, store)
}

fn r(s: &str) -> Reference {
    s.parse().unwrap()
}

fn tar_of(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, data.as_slice()).unwrap();
    }
    b.into_inner().unwrap()
}

fn members_of(tar_bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut a = tar::Archive::new(tar_bytes);
    let mut out = Vec::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        if !e.header().entry_type().is_file() {
            continue;
        }
        let p = e.path().unwrap().to_string_lossy().into_owned();
        let mut buf = Vec::new();
        e.read_to_end(&mut buf).unwrap();
        out.push((p, buf));
    }
    out
}

fn load_bytes(bytes: &[u8]) -> (tempfile::TempDir, Store, Result<Vec<Staged>>) {
    let (d, store) = new_store();
    let res = {
        let lock = store.lock().unwrap();
        load(&store, &lock, bytes)
    };
    (d, store, res)
}

/// A store with a single linux image `hello:1`, saved to an archive.
fn saved_hello(c: Compression) -> (tempfile::TempDir, Store, Descriptor, Vec<u8>) {
    let (d, store) = new_store();
    let m = put_image(
        &store,
        "linux",
        "amd64",
        &[
            layer_tar(&[("hello", b"hi")]),
            layer_tar(&[("etc/x", b"x")]),
        ],
        c,
    );
    let mut out = Vec::new();
    save(&store, &[(r("hello:1"), m.clone())], &mut out).unwrap();
    (d, store, m, out)
}

fn blob_member(digest: &str) -> String {
    format!("blobs/sha256/{}", &digest["sha256:".len()..])
}

#[test]
fn save_load_round_trip() {
    let (_d, src) = new_store();
    let single = put_image(
        &src,
        "linux",
        "amd64",
        &[layer_tar(&[("a", b"a")])],
        Compression::Gzip,
    );
    let linux = put_image(
        &src,
        "linux",
        &host_arch(),
        &[layer_tar(&[("b", b"b")])],
        Compression::Zstd,
    );
    let wasm = put_wasm_artifact(&src, "wasip1", WASM);
    let multi = put_index(&src, &[linux.clone(), wasm.clone()]);
    let images = vec![
        (r("hello:1"), single.clone()),
        (r("registry:5000/ns/multi:v2"), multi.clone()),
        (r("alias"), single.clone()),
    ];
    let mut out = Vec::new();
    save(&src, &images, &mut out).unwrap();

    let names: Vec<String> = members_of(&out).into_iter().map(|(p, _)| p).collect();
    assert!(names.contains(&"oci-layout".to_string()));
    assert!(names.contains(&"index.json".to_string()));
    assert!(names.contains(&"manifest.json".to_string()));
    let index: serde_json::Value = serde_json::from_slice(
        &members_of(&out)
            .into_iter()
            .find(|(p, _)| p == "index.json")
            .unwrap()
            .1,
    )
    .unwrap();
    assert_eq!(
        index["manifests"][0]["annotations"][crate::ANNOTATION_REF_NAME],
        "hello:1"
    );
    assert_eq!(
        index["manifests"][0]["annotations"][crate::ANNOTATION_CONTAINERD_NAME],
        "docker.io/library/hello:1"
    );

    for input in [
        out.clone(),
        compress(&out, Compression::Gzip),
        compress(&out, Compression::Zstd),
    ] {
        let (_d2, dst, res) = load_bytes(&input);
        let staged = res.unwrap();
        assert_eq!(
            staged,
            vec![
                Staged {
                    reference: Some(r("hello:1")),
                    target: single.clone()
                },
                Staged {
                    reference: Some(r("registry:5000/ns/multi:v2")),
                    target: multi.clone()
                },
                Staged {
                    reference: Some(r("alias")),
                    target: single.clone()
                },
            ]
        );
        // Nothing is tagged until the caller says so.
        assert!(dst.index().unwrap().manifests().is_empty());
        let lock = dst.lock().unwrap();
        for s in &staged {
            dst.tag(&lock, s.reference.as_ref().unwrap(), &s.target)
                .unwrap();
        }
        let img = dst.resolve("registry:5000/ns/multi:v2", None).unwrap();
        assert_eq!(img.manifest_descriptor.digest(), linux.digest());
        let w = dst
            .resolve(
                "registry:5000/ns/multi:v2",
                Some(&"wasi/wasm".parse::<Platform>().unwrap()),
            )
            .unwrap();
        assert_eq!(
            w.manifest.layers()[0].media_type().as_ref(),
            media::WASM_LAYER
        );
        assert_eq!(
            dst.read_blob(w.manifest.layers()[0].digest().as_ref())
                .unwrap(),
            WASM
        );
        assert_eq!(
            dst.resolve("hello:1", None)
                .unwrap()
                .manifest_descriptor
                .digest(),
            single.digest()
        );
        assert_eq!(dst.gc(&lock).unwrap(), 0);
    }
}

#[test]
fn save_refuses_incomplete_images() {
    let (_d, store) = new_store();
    let m = put_image(
        &store,
        "linux",
        "amd64",
        &[layer_tar(&[])],
        Compression::None,
    );
    let img = {
        let lock = store.lock().unwrap();
        store.tag(&lock, &r("x"), &m).unwrap();
        store.resolve("x", None).unwrap()
    };
    std::fs::remove_file(
        store
            .blob_path(img.manifest.layers()[0].digest().as_ref())
            .unwrap(),
    )
    .unwrap();
    let mut out = Vec::new();
    assert!(matches!(
        save(&store, &[(r("x"), m)], &mut out),
        Err(Error::MissingBlob { .. })
    ));
    assert!(out.is_empty());
}

#[test]
fn skopeo_reads_saved_archive() {
    if std::process::Command::new("skopeo")
        .arg("--version")
        .output()
        .is_err()
    {
        println!("note: skopeo not installed; skipping the skopeo check");
        return;
    }
    let (dir, _store, m, out) = saved_hello(Compression::Gzip);
    let path = dir.path().join("hello.tar");
    std::fs::write(&path, &out).unwrap();
    for spec in [
        format!("oci-archive:{}", path.display()),
        format!("oci-archive:{}:hello:1", path.display()),
    ] {
        let res = std::process::Command::new("skopeo")
            .args(["inspect", &spec])
            .output()
            .unwrap();
        assert!(
            res.status.success(),
            "skopeo inspect {spec}: {}",
            String::from_utf8_lossy(&res.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&res.stdout).unwrap();
        assert_eq!(v["Digest"], m.digest().to_string());
    }
}

/// A classic `docker save` tar: layer dirs, config json, manifest.json last.
fn docker_archive(layers: &[(Vec<u8>, Compression)], repo_tags: serde_json::Value) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|(l, _)| sha(l)).collect();
    let cfg = serde_json::to_vec(&image_config("linux", "amd64", &diff_ids)).unwrap();
    let cfg_name = format!("{}.json", &sha(&cfg)["sha256:".len()..]);
    let mut members = Vec::new();
    let mut paths = Vec::new();
    for (i, (l, c)) in layers.iter().enumerate() {
        let p = format!("layer{i}/layer.tar");
        members.push((p.clone(), compress(l, *c)));
        paths.push(p);
    }
    members.push((cfg_name.clone(), cfg));
    let manifest = json!([{"Config": cfg_name, "RepoTags": repo_tags, "Layers": paths}]);
    members.push((
        "manifest.json".into(),
        serde_json::to_vec(&manifest).unwrap(),
    ));
    members.push(("repositories".into(), b"{}".to_vec()));
    tar_of(&members)
}

#[test]
fn docker_archive_load() {
    let l0 = layer_tar(&[("bin/hello", b"hello")]);
    let l1 = layer_tar(&[("etc/conf", b"conf")]);
    let l2 = layer_tar(&[("etc/more", b"more")]);
    let archive = docker_archive(
        &[
            (l0.clone(), Compression::None),
            (l1, Compression::Gzip),
            (l2, Compression::Zstd),
        ],
        json!(["hello:1", "ns/x:2"]),
    );
    let (_d, store, res) = load_bytes(&compress(&archive, Compression::Gzip));
    let staged = res.unwrap();
    assert_eq!(staged.len(), 2);
    assert_eq!(staged[0].reference, Some(r("hello:1")));
    assert_eq!(staged[1].reference, Some(r("ns/x:2")));
    assert_eq!(staged[0].target, staged[1].target);
    assert_eq!(staged[0].target.media_type().as_ref(), media::OCI_MANIFEST);
    let lock = store.lock().unwrap();
    store.tag(&lock, &r("hello:1"), &staged[0].target).unwrap();
    let img = store.resolve("hello:1", None).unwrap();
    assert_eq!(img.config_media_type, media::OCI_CONFIG);
    let types: Vec<String> = img
        .manifest
        .layers()
        .iter()
        .map(|l| l.media_type().to_string())
        .collect();
    assert_eq!(
        types,
        [
            media::OCI_LAYER,
            media::OCI_LAYER_GZIP,
            media::OCI_LAYER_ZSTD
        ]
    );
    assert_eq!(img.manifest.layers()[0].digest().to_string(), sha(&l0));
    assert_eq!(img.config.unwrap().rootfs().diff_ids()[0], sha(&l0));

    // No RepoTags: one unnamed image.
    let archive = docker_archive(&[(layer_tar(&[]), Compression::None)], json!(null));
    let (_d, _store, res) = load_bytes(&archive);
    let staged = res.unwrap();
    assert_eq!(staged.len(), 1);
    assert_eq!(staged[0].reference, None);
}

#[test]
fn docker_archive_with_symlinked_layer() {
    let l = layer_tar(&[("a", b"a")]);
    let diff = sha(&l);
    let cfg = serde_json::to_vec(&image_config("linux", "amd64", &[diff.clone(), diff])).unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(l.len() as u64);
    h.set_mode(0o644);
    b.append_data(&mut h, "one/layer.tar", l.as_slice())
        .unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "two/layer.tar", "../one/layer.tar")
        .unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(cfg.len() as u64);
    b.append_data(&mut h, "config.json", cfg.as_slice())
        .unwrap();
    let manifest = serde_json::to_vec(&json!([{"Config": "config.json", "RepoTags": ["dup:1"], "Layers": ["one/layer.tar", "two/layer.tar"]}])).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(manifest.len() as u64);
    b.append_data(&mut h, "manifest.json", manifest.as_slice())
        .unwrap();
    let (_d, _store, res) = load_bytes(&b.into_inner().unwrap());
    assert_eq!(res.unwrap()[0].reference, Some(r("dup:1")));
}

/// An OCI layout tar whose index.json has the given annotations.
fn oci_with_names(annotations: serde_json::Value) -> (Vec<u8>, Descriptor) {
    let (_d, store, m, out) = saved_hello(Compression::Gzip);
    drop(store);
    let mut members = members_of(&out);
    let mut entry = serde_json::to_value(&m).unwrap();
    entry["annotations"] = annotations;
    let index = json!({"schemaVersion": 2, "manifests": [entry]});
    for (p, data) in members.iter_mut() {
        if p == "index.json" {
            *data = serde_json::to_vec(&index).unwrap();
        }
    }
    members.retain(|(p, _)| p != "manifest.json");
    (tar_of(&members), m)
}

#[test]
fn oci_archive_naming() {
    let cases = [
        (
            json!({"org.opencontainers.image.ref.name": "1", "io.containerd.image.name": "docker.io/library/hello:1"}),
            Some("hello:1"),
        ),
        (json!({"org.opencontainers.image.ref.name": "1"}), None),
        (json!({"org.opencontainers.image.ref.name": "latest"}), None),
        (json!({"org.opencontainers.image.ref.name": "v1.2"}), None),
        (
            json!({"org.opencontainers.image.ref.name": "bb"}),
            Some("bb:latest"),
        ),
        (
            json!({"org.opencontainers.image.ref.name": "bb:l1"}),
            Some("bb:l1"),
        ),
        (
            json!({"org.opencontainers.image.ref.name": "ghcr.io/a/b:c"}),
            Some("ghcr.io/a/b:c"),
        ),
        (json!({"other": "x"}), None),
    ];
    for (ann, want) in cases {
        let (tar, m) = oci_with_names(ann.clone());
        let (_d, _store, res) = load_bytes(&tar);
        let staged = res.unwrap_or_else(|e| panic!("{ann}: {e}"));
        assert_eq!(staged.len(), 1, "{ann}");
        assert_eq!(staged[0].reference, want.map(r), "{ann}");
        // Naming annotations are not part of the staged target.
        assert_eq!(staged[0].target.digest(), m.digest());
        assert!(staged[0]
            .target
            .annotations()
            .as_ref()
            .is_none_or(|a| !a.contains_key(crate::ANNOTATION_REF_NAME)));
    }
    let (tar, _) = oci_with_names(json!({"io.containerd.image.name": "Not Valid"}));
    let (_d, _store, res) = load_bytes(&tar);
    assert!(matches!(res, Err(Error::InvalidReference { .. })));
}

#[test]
fn oci_archive_nested_index_names() {
    let (_d, src) = new_store();
    let m = put_image(
        &src,
        "linux",
        &host_arch(),
        &[layer_tar(&[("a", b"a")])],
        Compression::Gzip,
    );
    let mut named = m.clone();
    named.set_annotations(Some(
        [(
            crate::ANNOTATION_REF_NAME.to_string(),
            "inner:7".to_string(),
        )]
        .into(),
    ));
    let inner = put_index(&src, &[named]);
    let mut out = Vec::new();
    save(&src, &[(r("tmp"), inner.clone())], &mut out).unwrap();
    let mut members = members_of(&out);
    for (p, data) in members.iter_mut() {
        if p == "index.json" {
            *data = serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [inner]})).unwrap();
        }
    }
    let (_d2, _store, res) = load_bytes(&tar_of(&members));
    let staged = res.unwrap();
    assert_eq!(staged.len(), 1);
    assert_eq!(staged[0].reference, Some(r("inner:7")));
    assert_eq!(staged[0].target.digest(), m.digest());
}

fn expect_archive_err(bytes: &[u8], needle: &str) -> Error {
    let (_d, _store, res) = load_bytes(bytes);
    let err = res.expect_err("load should fail");
    let msg = err.to_string();
    assert!(
        msg.contains(needle),
        "error {msg:?} should mention {needle:?}"
    );
    err
}

#[test]
fn bad_input_empty_and_garbage() {
    expect_archive_err(b"", "empty");
    let garbage: Vec<u8> = (0..4000u32).map(|i| (i * 7919 % 251) as u8 + 1).collect();
    let err = expect_archive_err(&garbage, "not a tar");
    assert!(matches!(err, Error::Archive { .. }));
    expect_archive_err(b"hello, this is not a tar", "not a tar");
    // Garbage that is gzip-compressed.
    expect_archive_err(&compress(&garbage, Compression::Gzip), "not a tar");
}

#[test]
fn bad_input_truncated() {
    let (_d, _store, _m, out) = saved_hello(Compression::Gzip);
    // Cut in the middle of the last blob.
    let err = expect_archive_err(&out[..out.len() - 1024 - 300], "truncated");
    assert!(matches!(err, Error::Archive { .. }));
    let gz = compress(&out, Compression::Gzip);
    expect_archive_err(&gz[..gz.len() / 2], "truncated");
}

#[test]
fn bad_input_neither_layout_nor_docker() {
    let tar = tar_of(&[("hello.txt".into(), b"hi".to_vec())]);
    let err = expect_archive_err(&tar, "neither index.json");
    assert!(matches!(err, Error::Archive { .. }));
}

#[test]
fn bad_input_digest_mismatch() {
    let (_d, _store, m, out) = saved_hello(Compression::Gzip);
    let mut members = members_of(&out);
    let target = blob_member(m.digest().as_ref());
    for (p, data) in members.iter_mut() {
        if *p == target {
            data[0] ^= 0xff;
        }
    }
    let err = expect_archive_err(&tar_of(&members), m.digest().as_ref());
    assert!(
        matches!(err, Error::DigestMismatch { ref expected, .. } if *expected == m.digest().to_string())
    );
}

#[test]
fn bad_input_missing_blobs() {
    let (_d, store, m, out) = saved_hello(Compression::Gzip);
    let manifest: ImageManifest = store.read_json(m.digest().as_ref(), "m").unwrap();
    // Missing manifest, config and layer, each named.
    for missing in [
        m.digest().to_string(),
        manifest.config().digest().to_string(),
        manifest.layers()[1].digest().to_string(),
    ] {
        let members: Vec<_> = members_of(&out)
            .into_iter()
            .filter(|(p, _)| *p != blob_member(&missing) && p != "manifest.json")
            .collect();
        let err = expect_archive_err(&tar_of(&members), &missing);
        assert!(
            matches!(err, Error::MissingBlob { ref digest, .. } if *digest == missing),
            "{err}"
        );
    }
    // docker-archive naming a file that is not there.
    let members = vec![(
        "manifest.json".to_string(),
        serde_json::to_vec(&json!([{"Config": "c.json", "RepoTags": ["a:1"], "Layers": []}]))
            .unwrap(),
    )];
    expect_archive_err(&tar_of(&members), "c.json");
}

/// Rewrites the manifest blob of a saved image with `f` (and index.json to
/// point at it).
fn with_manifest(f: impl Fn(&mut serde_json::Value)) -> Vec<u8> {
    let (_d, store, m, out) = saved_hello(Compression::Gzip);
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&store.read_blob(m.digest().as_ref()).unwrap()).unwrap();
    f(&mut manifest);
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let mt = manifest["mediaType"]
        .as_str()
        .unwrap_or(media::OCI_MANIFEST)
        .to_string();
    let entry = json!({"mediaType": mt, "digest": sha(&bytes), "size": bytes.len(),
        "annotations": {"io.containerd.image.name": "docker.io/library/hello:1"}});
    let mut members: Vec<_> = members_of(&out)
        .into_iter()
        .filter(|(p, _)| p != "manifest.json" && p != "index.json")
        .collect();
    members.push((blob_member(&sha(&bytes)), bytes));
    members.push((
        "index.json".into(),
        serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [entry]})).unwrap(),
    ));
    tar_of(&members)
}

#[test]
fn bad_input_media_types() {
    // A manifest type Wharf does not handle.
    let tar = with_manifest(|m| {
        m["mediaType"] = json!("application/vnd.docker.distribution.manifest.v1+prettyjws")
    });
    let err = expect_archive_err(&tar, "manifest.v1+prettyjws");
    assert!(matches!(err, Error::UnsupportedMediaType { .. }));
    // An unknown layer type.
    let tar = with_manifest(|m| m["layers"][0]["mediaType"] = json!("application/x-unknown"));
    let err = expect_archive_err(&tar, "application/x-unknown");
    assert!(matches!(err, Error::UnsupportedMediaType { .. }));
}

#[test]
fn wasm_layers_are_accepted() {
    let (_d, src) = new_store();
    let wasm = put_wasm_artifact(&src, "wasip2", WASM);
    // An image config with a tar layer and a raw module layer (runwasi style).
    let l = layer_tar(&[("etc/x", b"x")]);
    let (ld, ls) = src.put_blob(&l).unwrap();
    let (wd, ws) = src.put_blob(WASM).unwrap();
    let (cd, cs) = src
        .put_json(&image_config("wasip1", "wasm", &[sha(&l)]))
        .unwrap();
    let manifest = json!({"schemaVersion": 2, "mediaType": media::OCI_MANIFEST,
    "config": {"mediaType": media::OCI_CONFIG, "digest": cd, "size": cs},
    "layers": [
        {"mediaType": media::OCI_LAYER, "digest": ld, "size": ls},
        {"mediaType": media::RUNWASI_MODULE_LAYER, "digest": wd, "size": ws},
    ]});
    let (md, ms) = src.put_json(&manifest).unwrap();
    let runwasi = desc(media::OCI_MANIFEST, &md, ms);
    let mut out = Vec::new();
    save(&src, &[(r("w:1"), wasm), (r("w:2"), runwasi)], &mut out).unwrap();
    let (_d2, _store, res) = load_bytes(&out);
    assert_eq!(res.unwrap().len(), 2);
}

#[test]
fn bad_input_invalid_json() {
    let (_d, _store, _m, out) = saved_hello(Compression::Gzip);
    let mut members: Vec<_> = members_of(&out);
    for (p, data) in members.iter_mut() {
        if p == "index.json" {
            *data = b"{not json".to_vec();
        }
    }
    let err = expect_archive_err(&tar_of(&members), "index.json");
    assert!(matches!(err, Error::InvalidJson { .. }));

    // A manifest blob that is not JSON.
    let junk = b"this is no manifest".to_vec();
    let entry = json!({"mediaType": media::OCI_MANIFEST, "digest": sha(&junk), "size": junk.len()});
    let members = vec![
        (blob_member(&sha(&junk)), junk.clone()),
        (
            "index.json".into(),
            serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [entry]})).unwrap(),
        ),
    ];
    let err = expect_archive_err(&tar_of(&members), &sha(&junk));
    assert!(matches!(err, Error::InvalidJson { .. }));

    // A config that is not JSON.
    let (_d, _store, res) = load_bytes(&tar_of(&[
        ("c.json".into(), b"{".to_vec()),
        (
            "manifest.json".into(),
            serde_json::to_vec(&json!([{"Config": "c.json", "Layers": []}])).unwrap(),
        ),
    ]));
    assert!(matches!(res, Err(Error::InvalidJson { .. })));
    // manifest.json itself.
    let (_d, _store, res) = load_bytes(&tar_of(&[("manifest.json".into(), b"[{]".to_vec())]));
    let err = res.unwrap_err();
    assert!(matches!(err, Error::InvalidJson { .. }) && err.to_string().contains("manifest.json"));
}

#[test]
fn bad_layers_fail_diff_id_checks() {
    // Content that does not match the config's diff_id.
    let l = layer_tar(&[("a", b"a")]);
    let other = layer_tar(&[("b", b"b")]);
    let cfg = serde_json::to_vec(&image_config("linux", "amd64", &[sha(&other)])).unwrap();
    let manifest = serde_json::to_vec(
        &json!([{"Config": "c.json", "RepoTags": ["x:1"], "Layers": ["l.tar"]}]),
    )
    .unwrap();
    let tar = tar_of(&[
        ("l.tar".into(), compress(&l, Compression::Gzip)),
        ("c.json".into(), cfg),
        ("manifest.json".into(), manifest.clone()),
    ]);
    let err = expect_archive_err(&tar, &sha(&other));
    assert!(matches!(err, Error::DiffIdMismatch { .. }));

    // Gzip that does not hold a tar.
    let not_tar = compress(&[7u8; 3000], Compression::Gzip);
    let cfg = serde_json::to_vec(&image_config("linux", "amd64", &[sha(&[7u8; 3000])])).unwrap();
    let tar = tar_of(&[
        ("l.tar".into(), not_tar),
        ("c.json".into(), cfg),
        ("manifest.json".into(), manifest),
    ]);
    let err = expect_archive_err(&tar, "tar");
    assert!(matches!(err, Error::InvalidImage { .. }), "{err}");

    // A layer labelled gzip that is not compressed.
    let tar = with_manifest(|m| {
        m["layers"][0]["mediaType"] = json!(media::OCI_LAYER_ZSTD);
    });
    let err = expect_archive_err(&tar, "zstd");
    assert!(matches!(err, Error::InvalidImage { .. }), "{err}");

    // Layer count and diff_id count disagree.
    let tar = with_manifest(|m| {
        let layers = m["layers"].as_array_mut().unwrap();
        layers.pop();
    });
    expect_archive_err(&tar, "diff_ids");
}

#[test]
fn verify_diff_ids_directly() {
    let (_d, store) = new_store();
    let m = put_image(
        &store,
        "linux",
        "amd64",
        &[layer_tar(&[("a", b"a")])],
        Compression::Zstd,
    );
    let manifest: ImageManifest = store.read_json(m.digest().as_ref(), "m").unwrap();
    let mut config: ImageConfiguration = store
        .read_json(manifest.config().digest().as_ref(), "c")
        .unwrap();
    verify_diff_ids(&store, &manifest, &config).unwrap();
    config.rootfs_mut().diff_ids_mut()[0] = sha(b"else");
    assert!(matches!(
        verify_diff_ids(&store, &manifest, &config),
        Err(Error::DiffIdMismatch { .. })
    ));
}
