use super::*;
use crate::error::Error;
use crate::fsutil::TMP_PREFIX;
use crate::media::Compression;
use crate::platform::Platform;
use crate::reference::Reference;
use crate::testutil::*;
use crate::{ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME};
use std::collections::HashMap;
use std::io::Write;

fn new_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    (dir, store)
}

fn r(s: &str) -> Reference {
    s.parse().unwrap()
}

fn tmp_files(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(TMP_PREFIX))
        .collect()
}

#[test]
fn open_creates_layout() {
    let (_d, store) = new_store();
    let root = store.root().to_path_buf();
    let layout: serde_json::Value =
        serde_json::from_slice(&fs::read(root.join("oci-layout")).unwrap()).unwrap();
    assert_eq!(layout["imageLayoutVersion"], "1.0.0");
    assert!(store.index().unwrap().manifests().is_empty());
    assert!(root.join("blobs/sha256").is_dir());
    // Reopening leaves content alone.
    store.put_blob(b"x").unwrap();
    let lock = store.lock().unwrap();
    let m = put_image(
        &store,
        "linux",
        "amd64",
        &[layer_tar(&[])],
        Compression::None,
    );
    store.tag(&lock, &r("a"), &m).unwrap();
    drop(lock);
    let again = Store::open(&root).unwrap();
    assert_eq!(again.index().unwrap().manifests().len(), 1);
    assert!(tmp_files(&root).is_empty());
}

#[test]
fn blobs_put_read_and_digest_checks() {
    let (_d, store) = new_store();
    let (digest, size) = store.put_blob(b"hello").unwrap();
    assert_eq!(digest, sha(b"hello"));
    assert_eq!(size, 5);
    assert!(store.has_blob(&digest));
    assert_eq!(store.read_blob(&digest).unwrap(), b"hello");
    // Idempotent.
    assert_eq!(store.put_blob(b"hello").unwrap(), (digest.clone(), 5));

    let (jd, _) = store.put_json(&serde_json::json!({"a": 1})).unwrap();
    assert_eq!(store.read_blob(&jd).unwrap(), br#"{"a":1}"#);

    for bad in [
        "sha256:abc",
        "md5:00",
        "../../etc/passwd",
        &digest.to_uppercase(),
    ] {
        assert!(
            matches!(store.blob_path(bad), Err(Error::InvalidDigest(_))),
            "{bad}"
        );
        assert!(!store.has_blob(bad));
    }
    let missing = sha(b"missing");
    assert!(matches!(store.read_blob(&missing), Err(Error::BlobNotFound(d)) if d == missing));
    assert!(tmp_files(&store.root().join("blobs/sha256")).is_empty());
}

#[test]
fn blob_writer_commit_mismatch_and_drop() {
    let (_d, store) = new_store();
    let blobs = store.root().join("blobs/sha256");

    let mut w = store.blob_writer().unwrap();
    w.write_all(b"some ").unwrap();
    w.write_all(b"content").unwrap();
    let expected = sha(b"some content");
    assert_eq!(w.commit(Some(&expected)).unwrap(), (expected.clone(), 12));
    assert_eq!(store.read_blob(&expected).unwrap(), b"some content");

    let mut w = store.blob_writer().unwrap();
    w.write_all(b"tampered").unwrap();
    let wanted = sha(b"original");
    match w.commit(Some(&wanted)) {
        Err(Error::DigestMismatch { expected, actual }) => {
            assert_eq!(expected, wanted);
            assert_eq!(actual, sha(b"tampered"));
        }
        other => panic!("expected a digest mismatch, got {other:?}"),
    }
    assert!(!store.has_blob(&sha(b"tampered")));
    assert!(!store.has_blob(&wanted));
    assert!(tmp_files(&blobs).is_empty());

    let mut w = store.blob_writer().unwrap();
    w.write_all(b"abandoned").unwrap();
    assert_eq!(tmp_files(&blobs).len(), 1);
    drop(w);
    assert!(tmp_files(&blobs).is_empty());
    assert!(!store.has_blob(&sha(b"abandoned")));

    let mut w = store.blob_writer().unwrap();
    w.write_all(b"x").unwrap();
    assert!(matches!(
        w.commit(Some("sha256:nope")),
        Err(Error::InvalidDigest(_))
    ));
    assert!(tmp_files(&blobs).is_empty());

    let mut w = store.blob_writer().unwrap();
    w.write_all(b"unverified").unwrap();
    let (d, _) = w.commit(None).unwrap();
    assert_eq!(d, sha(b"unverified"));
}

#[test]
fn tag_resolve_untag() {
    let (_d, store) = new_store();
    let layer = layer_tar(&[("hello", b"#!/bin/sh\n")]);
    let m = put_image(&store, "linux", "amd64", &[layer], Compression::Gzip);
    let lock = store.lock().unwrap();
    store.tag(&lock, &r("hello:1"), &m).unwrap();
    store.tag(&lock, &r("registry:5000/ns/app:v2"), &m).unwrap();

    // The index carries both annotations, in the forms skopeo and containerd use.
    let index = store.index().unwrap();
    assert_eq!(index.manifests().len(), 2);
    let ann = index.manifests()[0].annotations().clone().unwrap();
    assert_eq!(ann[ANNOTATION_REF_NAME], "hello:1");
    assert_eq!(ann[ANNOTATION_CONTAINERD_NAME], "docker.io/library/hello:1");
    let ann = index.manifests()[1].annotations().clone().unwrap();
    assert_eq!(ann[ANNOTATION_REF_NAME], "registry:5000/ns/app:v2");

    let img = store.resolve("hello:1", None).unwrap();
    assert_eq!(img.manifest_descriptor.digest(), m.digest());
    assert_eq!(img.names, vec!["hello:1", "registry:5000/ns/app:v2"]);
    assert_eq!(img.config_media_type, crate::media::OCI_CONFIG);
    let cfg = img.config.as_ref().unwrap();
    assert_eq!(cfg.architecture().to_string(), "amd64");
    assert_eq!(img.platform(), Some(Platform::new("linux", "amd64", None)));
    assert!(!img.platform_fallback);
    let id = img.id();
    assert_eq!(id, img.manifest.config().digest().to_string());

    // Other spellings of the same image.
    for name in [
        "docker.io/library/hello:1",
        "registry:5000/ns/app:v2",
        &id,
        &id["sha256:".len()..],
        &id["sha256:".len().."sha256:".len() + 12],
        m.digest().as_ref(),
        &format!("hello@{}", m.digest()),
    ] {
        let got = store
            .resolve(name, None)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got.id(), id, "{name}");
    }

    // `hello` means hello:latest, which does not exist.
    let err = store.resolve("hello", None).unwrap_err();
    assert!(
        matches!(&err, Error::ImageNotFound(n) if n == "hello:latest"),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("'hello:latest'") && msg.contains("wharf build"),
        "{msg}"
    );
    assert!(matches!(
        store.resolve("Bad Name", None),
        Err(Error::InvalidReference { .. })
    ));

    let removed = store.untag(&lock, &r("hello:1")).unwrap();
    assert_eq!(removed.digest(), m.digest());
    assert!(matches!(
        store.resolve("hello:1", None),
        Err(Error::ImageNotFound(_))
    ));
    assert!(store.resolve("registry:5000/ns/app:v2", None).is_ok());
    assert!(matches!(
        store.untag(&lock, &r("hello:1")),
        Err(Error::ImageNotFound(_))
    ));
}

#[test]
fn tag_checks_the_graph() {
    let (_d, store) = new_store();
    let lock = store.lock().unwrap();
    let layer = compress(&layer_tar(&[("a", b"a")]), Compression::Gzip);
    let layer_digest = sha(&layer);
    let diff = sha(&decompress(&layer));
    let (cd, cs) = store
        .put_json(&image_config("linux", "amd64", &[diff]))
        .unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": crate::media::OCI_MANIFEST,
        "config": {"mediaType": crate::media::OCI_CONFIG, "digest": cd, "size": cs},
        "layers": [{"mediaType": crate::media::OCI_LAYER_GZIP, "digest": layer_digest, "size": layer.len()}],
    });
    let (md, ms) = store.put_json(&manifest).unwrap();
    let m = desc(crate::media::OCI_MANIFEST, &md, ms);
    match store.tag(&lock, &r("x"), &m) {
        Err(Error::MissingBlob {
            digest,
            referenced_by,
        }) => {
            assert_eq!(digest, layer_digest);
            assert!(referenced_by.contains(&md), "{referenced_by}");
        }
        other => panic!("expected MissingBlob, got {other:?}"),
    }
    // An index pointing at a missing manifest.
    let idx = put_index(
        &store,
        &[desc(crate::media::OCI_MANIFEST, &sha(b"nope"), 4)],
    );
    assert!(matches!(
        store.tag(&lock, &r("y"), &idx),
        Err(Error::MissingBlob { digest, .. }) if digest == sha(b"nope")
    ));
    // A target that is not a manifest.
    let (bd, bs) = store.put_blob(b"{}").unwrap();
    assert!(matches!(
        store.tag(&lock, &r("z"), &desc(crate::media::OCI_CONFIG, &bd, bs)),
        Err(Error::UnsupportedMediaType { .. })
    ));
    // A wrong size in the descriptor.
    let wrong = desc(crate::media::OCI_MANIFEST, &md, ms + 1);
    store.put_blob(&layer).unwrap();
    assert!(matches!(
        store.tag(&lock, &r("x"), &wrong),
        Err(Error::SizeMismatch { .. })
    ));
    store.tag(&lock, &r("x"), &m).unwrap();
    assert!(store.index().unwrap().manifests().len() == 1);
}

#[test]
fn retag_leaves_old_image_untagged_and_remove_by_id() {
    let (_d, store) = new_store();
    let lock = store.lock().unwrap();
    let a = put_image(
        &store,
        "linux",
        "amd64",
        &[layer_tar(&[("a", b"1")])],
        Compression::None,
    );
    let b = put_image(
        &store,
        "linux",
        "amd64",
        &[layer_tar(&[("b", b"2")])],
        Compression::None,
    );
    store.tag(&lock, &r("app"), &a).unwrap();
    store.tag(&lock, &r("app"), &b).unwrap();
    let list = store.list().unwrap();
    assert_eq!(list.len(), 2);
    let dangling = list.iter().find(|s| s.names.is_empty()).unwrap();
    assert_eq!(dangling.manifest_digest, a.digest().to_string());
    let named = list.iter().find(|s| !s.names.is_empty()).unwrap();
    assert_eq!(named.names, vec!["app:latest"]);
    assert_eq!(named.manifest_digest, b.digest().to_string());
    assert_eq!(named.platforms, vec!["linux/amd64"]);
    assert_eq!(named.created.as_deref(), Some("2024-01-02T03:04:05Z"));
    let img = store.resolve("app", None).unwrap();
    assert_eq!(named.id, img.id());
    let m = &img.manifest;
    assert_eq!(
        named.size,
        m.config().size() + m.layers().iter().map(|l| l.size()).sum::<u64>()
    );

    // Tagging the dangling image again replaces its untagged entry.
    store.tag(&lock, &r("old:1"), &a).unwrap();
    assert_eq!(store.list().unwrap().len(), 2);
    store.tag(&lock, &r("old:2"), &a).unwrap();

    // By name: only that name goes.
    assert_eq!(store.remove(&lock, "old:1").unwrap(), vec!["old:1"]);
    assert!(store.resolve("old:2", None).is_ok());
    // By ID: every name of the image goes.
    let id = store.resolve("old:2", None).unwrap().id();
    store.tag(&lock, &r("old:3"), &a).unwrap();
    let mut removed = store.remove(&lock, &id["sha256:".len()..][..12]).unwrap();
    removed.sort();
    assert_eq!(removed, vec!["old:2", "old:3"]);
    assert!(matches!(
        store.resolve(&id, None),
        Err(Error::ImageNotFound(_))
    ));
    assert!(matches!(
        store.remove(&lock, "nothing"),
        Err(Error::ImageNotFound(_))
    ));
    assert_eq!(store.list().unwrap().len(), 1);
}

#[test]
fn ambiguous_id_prefix() {
    let (_d, store) = new_store();
    let lock = store.lock().unwrap();
    let base = put_image(
        &store,
        "linux",
        "amd64",
        &[layer_tar(&[])],
        Compression::None,
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&store.read_blob(base.digest().as_ref()).unwrap()).unwrap();
    // Find two variants (differing in an annotation) whose digests share
    // their first 4 hex digits; about 300 tries by the birthday bound.
    let mut seen: HashMap<String, Vec<u8>> = HashMap::new();
    let (a, b) = (0..100_000)
        .find_map(|i| {
            let mut m = manifest.clone();
            m["annotations"] = serde_json::json!({"n": i.to_string()});
            let bytes = serde_json::to_vec(&m).unwrap();
            let prefix = sha(&bytes)[7..11].to_string();
            seen.insert(prefix, bytes.clone())
                .map(|other| (other, bytes))
        })
        .unwrap();
    for (i, bytes) in [a, b].iter().enumerate() {
        let (d, s) = store.put_blob(bytes).unwrap();
        store
            .tag(
                &lock,
                &r(&format!("amb:{i}")),
                &desc(crate::media::OCI_MANIFEST, &d, s),
            )
            .unwrap();
    }
    let prefix = store
        .resolve("amb:0", None)
        .unwrap()
        .manifest_descriptor
        .digest()
        .as_ref()[7..11]
        .to_string();
    match store.resolve(&prefix, None) {
        Err(Error::AmbiguousImage { name, matches }) => {
            assert_eq!(name, prefix);
            assert_eq!(matches.len(), 2);
        }
        other => panic!("expected AmbiguousImage, got {other:?}"),
    }
    // Both share one config, so the config ID is one image, not ambiguous.
    let id = store.resolve("amb:0", None).unwrap().id();
    assert!(store.resolve(&id[7..19], None).is_ok());
    // Fewer than 4 characters is never an ID.
    assert!(matches!(
        store.resolve(&format!("sha256:{}", &prefix[..3]), None),
        Err(Error::ImageNotFound(_))
    ));
}

#[test]
fn gc_frees_unreachable_blobs_and_stale_temps() {
    let (_d, store) = new_store();
    let lock = store.lock().unwrap();
    let keep = put_image(
        &store,
        "linux",
        "amd64",
        &[layer_tar(&[("k", b"keep")])],
        Compression::Gzip,
    );
    let drop_me = put_image(
        &store,
        "linux",
        "amd64",
        &[layer_tar(&[("d", b"drop")])],
        Compression::Gzip,
    );
    store.tag(&lock, &r("keep"), &keep).unwrap();
    store.tag(&lock, &r("drop"), &drop_me).unwrap();
    let dropped = store.resolve("drop", None).unwrap();
    let kept = store.resolve("keep", None).unwrap();

    let blobs = store.root().join("blobs/sha256");
    fs::write(blobs.join(".tmp-garbage"), b"12345").unwrap();
    fs::write(blobs.join(".tmp-2147483646-0-0"), b"123").unwrap();
    fs::write(store.root().join(".tmp-2147483646-1-0"), b"1").unwrap();
    // A live writer in this process keeps its temp file.
    let mut live = store.blob_writer().unwrap();
    live.write_all(b"in flight").unwrap();
    live.flush().unwrap();

    assert_eq!(store.gc(&lock).unwrap(), 9);
    store.remove(&lock, "drop").unwrap();
    let freed = store.gc(&lock).unwrap();
    let dm = &dropped.manifest;
    let expected = dropped.manifest_descriptor.size()
        + dm.config().size()
        + dm.layers().iter().map(|l| l.size()).sum::<u64>();
    assert_eq!(freed, expected);
    assert!(!store.has_blob(dropped.manifest_descriptor.digest().as_ref()));
    assert!(!store.has_blob(dm.layers()[0].digest().as_ref()));
    for d in std::iter::once(kept.manifest_descriptor.digest())
        .chain(std::iter::once(kept.manifest.config().digest()))
        .chain(kept.manifest.layers().iter().map(|l| l.digest()))
    {
        assert!(store.has_blob(d.as_ref()), "{d}");
    }
    assert_eq!(tmp_files(&blobs).len(), 1);
    let (d, _) = live.commit(None).unwrap();
    assert!(store.has_blob(&d));
    assert_eq!(store.gc(&lock).unwrap(), 9);
    assert!(store.resolve("keep", None).is_ok());
}

#[test]
fn index_with_two_platforms_and_fallback() {
    let (_d, store) = new_store();
    let lock = store.lock().unwrap();
    let host = host_arch();
    let linux = put_image(
        &store,
        "linux",
        &host,
        &[layer_tar(&[("l", b"l")])],
        Compression::Gzip,
    );
    let wasm = put_wasm_artifact(&store, "wasip1", WASM);
    let idx = put_index(&store, &[linux.clone(), wasm.clone()]);
    store.tag(&lock, &r("multi"), &idx).unwrap();

    let img = store.resolve("multi", None).unwrap();
    assert_eq!(img.manifest_descriptor.digest(), linux.digest());
    assert!(!img.platform_fallback);
    assert!(img.config.is_some());

    let want: Platform = "wasi/wasm".parse().unwrap();
    let img = store.resolve("multi", Some(&want)).unwrap();
    assert_eq!(img.manifest_descriptor.digest(), wasm.digest());
    assert!(!img.platform_fallback);
    assert!(img.config.is_none());
    assert_eq!(img.config_media_type, crate::media::WASM_CONFIG);
    assert_eq!(img.platform(), Some(Platform::new("wasip1", "wasm", None)));
    assert_eq!(img.names, vec!["multi:latest"]);

    let p2: Platform = "wasip2/wasm".parse().unwrap();
    match store.resolve("multi", Some(&p2)) {
        Err(Error::NoMatchingPlatform {
            wanted, available, ..
        }) => {
            assert_eq!(wanted, "wasip2/wasm");
            assert_eq!(available.len(), 2);
        }
        other => panic!("expected NoMatchingPlatform, got {other:?}"),
    }

    // No variant for the host: the Wasm one is used, and flagged.
    let other = put_image(
        &store,
        "linux",
        other_arch(),
        &[layer_tar(&[("o", b"o")])],
        Compression::Gzip,
    );
    let idx2 = put_index(&store, &[other.clone(), wasm.clone()]);
    store.tag(&lock, &r("fallback"), &idx2).unwrap();
    let img = store.resolve("fallback", None).unwrap();
    assert_eq!(img.manifest_descriptor.digest(), wasm.digest());
    assert!(img.platform_fallback);

    // Neither the host nor Wasm.
    let idx3 = put_index(&store, &[other]);
    store.tag(&lock, &r("foreign"), &idx3).unwrap();
    let err = store.resolve("foreign", None).unwrap_err();
    assert!(matches!(err, Error::NoMatchingPlatform { .. }), "{err}");
    assert!(err.to_string().contains(other_arch()), "{err}");

    // Listing shows every platform of an index; its ID is what resolve picks.
    let list = store.list().unwrap();
    let multi = list.iter().find(|s| s.names == ["multi:latest"]).unwrap();
    assert_eq!(
        multi.platforms,
        vec![format!("linux/{host}"), "wasip1/wasm".into()]
    );
    assert_eq!(multi.manifest_digest, idx.digest().to_string());
    assert_eq!(multi.id, store.resolve("multi", None).unwrap().id());
    // Both platforms' config IDs find the index entry.
    let wasm_id = store.resolve("multi", Some(&want)).unwrap().id();
    assert_eq!(
        store
            .resolve(&wasm_id, Some(&want))
            .unwrap()
            .manifest_descriptor
            .digest(),
        wasm.digest()
    );

    // gc keeps everything under an index.
    assert_eq!(store.gc(&lock).unwrap(), 0);
}

#[test]
fn nested_index_resolves() {
    let (_d, store) = new_store();
    let lock = store.lock().unwrap();
    let linux = put_image(
        &store,
        "linux",
        &host_arch(),
        &[layer_tar(&[])],
        Compression::None,
    );
    let inner = put_index(&store, std::slice::from_ref(&linux));
    let outer = put_index(&store, &[inner]);
    store.tag(&lock, &r("nested"), &outer).unwrap();
    let img = store.resolve("nested", None).unwrap();
    assert_eq!(img.manifest_descriptor.digest(), linux.digest());
    assert_eq!(store.gc(&lock).unwrap(), 0);
}

#[test]
fn concurrent_tagging_threads() {
    let (_d, store) = new_store();
    let m = put_image(
        &store,
        "linux",
        "amd64",
        &[layer_tar(&[])],
        Compression::None,
    );
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            let m = m.clone();
            std::thread::spawn(move || {
                for i in 0..10 {
                    let lock = store.lock().unwrap();
                    store.tag(&lock, &r(&format!("t{t}:{i}")), &m).unwrap();
                    drop(lock);
                    // Lock-free readers never see a torn index.
                    store.index().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let index = store.index().unwrap();
    assert_eq!(index.manifests().len(), 80);
    for t in 0..8 {
        for i in 0..10 {
            store.resolve(&format!("t{t}:{i}"), None).unwrap();
        }
    }
    assert!(tmp_files(store.root()).is_empty());
}

const CHILD_ENV: &str = "WHARF_IMAGE_TEST_STORE";

/// Run by `concurrent_tagging_processes` in child processes.
#[test]
#[ignore = "helper for concurrent_tagging_processes"]
fn child_tag_worker() {
    let Ok(root) = std::env::var(CHILD_ENV) else {
        return;
    };
    let who = std::env::var("WHARF_IMAGE_TEST_WORKER").unwrap();
    let store = Store::open(Path::new(&root)).unwrap();
    let target = store.resolve("base", None).unwrap().manifest_descriptor;
    for i in 0..15 {
        let lock = store.lock().unwrap();
        store
            .tag(&lock, &r(&format!("p{who}:{i}")), &target)
            .unwrap();
    }
}

#[test]
fn concurrent_tagging_processes() {
    let (_d, store) = new_store();
    let m = put_image(
        &store,
        "linux",
        "amd64",
        &[layer_tar(&[])],
        Compression::None,
    );
    {
        let lock = store.lock().unwrap();
        store.tag(&lock, &r("base"), &m).unwrap();
    }
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..4)
        .map(|w| {
            std::process::Command::new(&exe)
                .args([
                    "--exact",
                    "store::tests::child_tag_worker",
                    "--ignored",
                    "--test-threads=1",
                ])
                .env(CHILD_ENV, store.root())
                .env("WHARF_IMAGE_TEST_WORKER", w.to_string())
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    assert_eq!(store.index().unwrap().manifests().len(), 1 + 4 * 15);
    for w in 0..4 {
        for i in 0..15 {
            store.resolve(&format!("p{w}:{i}"), None).unwrap();
        }
    }
}

#[test]
fn skopeo_reads_the_store() {
    let Ok(out) = std::process::Command::new("skopeo")
        .arg("--version")
        .output()
    else {
        println!("note: skopeo not installed; skipping the skopeo check");
        return;
    };
    assert!(out.status.success());
    let (_d, store) = new_store();
    let lock = store.lock().unwrap();
    let m = put_image(
        &store,
        "linux",
        "amd64",
        &[layer_tar(&[("hello", b"hi")])],
        Compression::Gzip,
    );
    store.tag(&lock, &r("hello:1"), &m).unwrap();
    store.tag(&lock, &r("registry:5000/ns/app:v2"), &m).unwrap();
    for name in ["hello:1", "registry:5000/ns/app:v2"] {
        let out = std::process::Command::new("skopeo")
            .args(["inspect", &format!("oci:{}:{name}", store.root().display())])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skopeo inspect {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["Digest"], m.digest().to_string());
        assert_eq!(v["Architecture"], "amd64");
    }
}

/// An index graph that lists the same children over and over is walked
/// once per node (issue 19: 10^6 paths used to take hours under the lock).
#[test]
fn repeated_children_are_verified_once_per_node() {
    let (_d, store) = new_store();
    let leaf = put_wasm_artifact(&store, "wasip1", WASM);
    let level1 = put_index(&store, &vec![leaf; 100]);
    let level2 = put_index(&store, &vec![level1; 100]);
    let top = put_index(&store, &vec![level2; 100]);
    // A million paths to the leaf, four nodes: walked per path, this would
    // not finish.
    store.verify_graph(&top, "the test", true).unwrap();
}

/// A graph of more distinct manifests than anyone ships is refused.
#[test]
fn graphs_of_too_many_nodes_are_refused() {
    let (_d, store) = new_store();
    let leaf = put_wasm_artifact(&store, "wasip1", WASM);
    // Distinct single-entry indexes (their annotations differ).
    let children: Vec<oci_spec::image::Descriptor> = (0..10_001)
        .map(|i| {
            let index = serde_json::json!({
                "schemaVersion": 2,
                "mediaType": crate::media::OCI_INDEX,
                "manifests": [leaf],
                "annotations": {"n": i.to_string()},
            });
            let (d, s) = store.put_json(&index).unwrap();
            desc(crate::media::OCI_INDEX, &d, s)
        })
        .collect();
    let top = put_index(&store, &children);
    let err = store.verify_graph(&top, "the test", false).unwrap_err();
    assert!(err.to_string().contains("more than 10000"), "{err}");
}

#[test]
fn build_cache_keeps_its_layers_until_pruned() {
    use oci_spec::image::{Descriptor, Digest, MediaType};
    use std::str::FromStr;
    let (_d, store) = new_store();
    let lock = store.lock().unwrap();
    let (digest, size) = store.put_blob(b"a cached layer").unwrap();
    let layer = Descriptor::new(
        MediaType::ImageLayerGzip,
        size,
        Digest::from_str(&digest).unwrap(),
    );
    let mut cache = BuildCache::default();
    cache.entries.insert(
        "k".into(),
        CacheEntry {
            layer: Some(layer),
            diff_id: Some(digest.clone()),
            history: vec![serde_json::json!({"created_by": "RUN x"})],
        },
    );
    store.save_build_cache(&lock, &cache).unwrap();
    // Unreferenced by any image, kept by the cache.
    store.gc(&lock).unwrap();
    assert!(store.has_blob(&digest));
    let loaded = store.build_cache();
    assert!(store.cache_entry(&loaded, "k").is_some());
    // Pruned: the entry and then the blob go.
    assert_eq!(store.prune_build_cache(&lock).unwrap(), 1);
    store.gc(&lock).unwrap();
    assert!(!store.has_blob(&digest));
    // An entry whose blob is gone is a miss.
    store.save_build_cache(&lock, &cache).unwrap();
    assert!(store.cache_entry(&store.build_cache(), "k").is_none());
}

#[test]
fn one_image_in_two_compressions_is_one_entry() {
    // What loading the same image from an OCI archive (gzip) and then from a
    // docker-archive (plain tars) makes: two manifests, one config.
    let (_d, store) = new_store();
    let lock = store.lock().unwrap();
    let layers = vec![layer_tar(&[("hello", b"hi")])];
    let arch = host_arch();
    let gz = put_image(&store, "linux", &arch, &layers, Compression::Gzip);
    let plain = put_image(&store, "linux", &arch, &layers, Compression::None);
    assert_ne!(gz.digest(), plain.digest());
    store.tag(&lock, &r("app:1"), &gz).unwrap();
    store.tag(&lock, &r("app:1"), &plain).unwrap();
    let listed = store.list().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    // An untagged copy is replaced by a tagged one of the same image too.
    store.tag_all(&lock, &[(None, gz.clone())]).unwrap();
    assert_eq!(store.list().unwrap().len(), 2);
    store.tag(&lock, &r("app:2"), &plain).unwrap();
    let names: Vec<_> = store.list().unwrap();
    assert_eq!(names.len(), 2, "app:1 and app:2, no <none>: {names:?}");
    // A different image displaced by a name still stays, untagged.
    let other = put_image(
        &store,
        "linux",
        &arch,
        &[layer_tar(&[("x", b"y")])],
        Compression::Gzip,
    );
    store.tag(&lock, &r("app:2"), &other).unwrap();
    assert_eq!(store.list().unwrap().len(), 2);
    store.tag(&lock, &r("app:1"), &other).unwrap();
    // app:1, app:2 and the first image, which stays as <none>.
    assert_eq!(store.list().unwrap().len(), 3);
}
