//! Hostile and broken input: every case fails with a clear error, a non-zero
//! exit, and leaves the store exactly as it was.

mod common;

use std::path::Path;

use common::*;
use tar::EntryType;

/// A store holding one good image, and its `images --format json` listing.
fn store_with_baseline() -> (Wharf, String) {
    let w = Wharf::new();
    let a = w.scratch_file("baseline.tar", &layout(&good_image("base:1")).archive());
    w.load(&a);
    let before = w.images_json();
    assert!(
        before.contains("base"),
        "baseline image not listed: {before}"
    );
    (w, before)
}

/// A good image that shares no layer or config with the baseline (the store
/// deduplicates blobs, so a "missing" blob the store already has is not
/// missing).
fn distinct_image(ref_name: &str) -> OciImage {
    let marker = format!("distinct {ref_name} {}\n", std::process::id());
    let layer = hostile_layer(&[("distinct.txt", EntryType::Regular, None, marker.as_bytes())]);
    wasm_image(layer, MT_LAYER_TAR, ref_name)
}

/// Loads `archive` (bytes), which must fail with an `Error: ` message and
/// leave the store unchanged. Returns lowercased stderr.
fn load_must_fail(archive: &[u8], what: &str) -> String {
    let (w, before) = store_with_baseline();
    let a = w.scratch_file("bad.tar", archive);
    let out = w.cmd(&["load", "-i", a.to_str().unwrap()]);
    assert_error(&out, what);
    assert_eq!(out.status.code(), Some(1), "{what}\n{}", describe(&out));
    assert!(
        !stdout(&out).contains("Loaded image"),
        "{what}: claimed to load\n{}",
        describe(&out)
    );
    assert_eq!(w.images_json(), before, "{what}: the store changed");
    // The baseline still works.
    assert_eq!(
        w.ok(&["run", "--rm", "base:1"]),
        format!("{WASM_GREETING}\n")
    );
    stderr(&out).to_lowercase()
}

#[test]
fn baseline_archive_is_good() {
    // The control for every test below: the same builder, unmodified, loads.
    let (w, _) = store_with_baseline();
    let a = w.scratch_file("ok.tar", &layout(&good_image("ok:1")).archive());
    assert!(w.load(&a).contains("Loaded image: ok:1"));
    let layer = hostile_layer(&[("extra.txt", EntryType::Regular, None, b"fine\n")]);
    let a = w.scratch_file(
        "ok2.tar",
        &layout(&wasm_image(layer, MT_LAYER_TAR, "ok:2")).archive(),
    );
    w.load(&a);
    assert_eq!(
        w.ok(&["run", "--rm", "ok:2", "cat", "/extra.txt"]),
        "fine\n"
    );
}

#[test]
fn garbage_file() {
    let junk: Vec<u8> = (0..10_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    load_must_fail(&junk, "load of garbage");
}

#[test]
fn empty_file() {
    load_must_fail(b"", "load of an empty file");
}

#[test]
fn missing_file() {
    let (w, before) = store_with_baseline();
    let out = w.fails(&["load", "-i", "/nonexistent/archive.tar"]);
    assert!(
        stderr(&out).contains("/nonexistent/archive.tar"),
        "{}",
        describe(&out)
    );
    assert_eq!(w.images_json(), before);
}

#[test]
fn truncated_archive() {
    let full = layout(&distinct_image("trunc:1")).archive();
    // Cut inside the (large) layer blob.
    let cut = &full[..full.len() / 2];
    load_must_fail(cut, "load of a truncated archive");
}

#[test]
fn digest_mismatch_in_blob() {
    let mut l = layout(&distinct_image("tamper:1"));
    let key = Layout::blob_path(&l.layer_digests[0]);
    let blob = l.files.get_mut(&key).unwrap();
    let mid = blob.len() / 2;
    blob[mid] ^= 0x55;
    let err = load_must_fail(&l.archive(), "load with a tampered layer blob");
    assert!(
        err.contains("digest"),
        "error should mention the digest: {err}"
    );
}

#[test]
fn digest_mismatch_in_config() {
    let mut l = layout(&distinct_image("tamper:2"));
    let key = Layout::blob_path(&l.config_digest);
    let cfg = l.files.get_mut(&key).unwrap();
    // Still valid JSON, different bytes.
    let s = String::from_utf8(cfg.clone())
        .unwrap()
        .replace("wasip1", "wasip2");
    *cfg = s.into_bytes();
    let err = load_must_fail(&l.archive(), "load with a tampered config blob");
    assert!(
        err.contains("digest"),
        "error should mention the digest: {err}"
    );
}

#[test]
fn manifest_points_at_missing_blob() {
    let mut l = layout(&distinct_image("missing:1"));
    let hex = l.layer_digests[0].clone();
    l.files.remove(&Layout::blob_path(&hex));
    let err = load_must_fail(&l.archive(), "load with a missing layer blob");
    assert!(
        err.contains(&hex[..12]) || err.contains("missing") || err.contains("not found"),
        "error should name the missing blob: {err}"
    );
}

#[test]
fn index_points_at_missing_manifest() {
    let mut l = layout(&distinct_image("missing:2"));
    let hex = l.manifest_digest.clone();
    l.files.remove(&Layout::blob_path(&hex));
    let err = load_must_fail(&l.archive(), "load with a missing manifest");
    assert!(
        err.contains(&hex[..12]) || err.contains("missing") || err.contains("not found"),
        "error should name the missing manifest: {err}"
    );
}

#[test]
fn archive_without_index() {
    let mut l = layout(&distinct_image("noindex:1"));
    l.files.remove("index.json");
    load_must_fail(&l.archive(), "load without index.json");
}

#[test]
fn unknown_layer_media_type() {
    let mut img = distinct_image("mt:1");
    img.layers[0].0 = "application/vnd.example.unknown".to_string();
    let err = load_must_fail(
        &layout(&img).archive(),
        "load with an unknown layer media type",
    );
    assert!(
        err.contains("application/vnd.example.unknown") || err.contains("media type"),
        "error should mention the media type: {err}"
    );
}

#[test]
fn diff_id_mismatch() {
    // Layer blob is intact, but the config's diff_id is for other content.
    let mut img = distinct_image("diffid:1");
    img.config = wasm_config(&[b"not the layer"]);
    let err = load_must_fail(&layout(&img).archive(), "load with a wrong diff_id");
    assert!(
        err.contains("diff") || err.contains("digest"),
        "error should mention the diff_id: {err}"
    );
}

/// A layer with the hello files plus `extra` hostile entries must be refused
/// (with the entry named in the message), and nothing may appear outside.
fn hostile(extra: &[(&str, EntryType, Option<&str>, &[u8])], marker: &str, what: &str) {
    let layer = hostile_layer(extra);
    let img = wasm_image(layer, MT_LAYER_TAR, "evil:1");
    let err = load_must_fail(&layout(&img).archive(), what);
    assert!(
        err.contains(marker),
        "{what}: the error should name the entry `{marker}`: {err}"
    );
}

#[test]
fn layer_with_absolute_path() {
    let target = format!("/tmp/wharf-e2e-abs-evil-{}", std::process::id());
    hostile(
        &[(&target, EntryType::Regular, None, b"pwned\n")],
        "abs-evil",
        "layer with an absolute path",
    );
    assert!(!Path::new(&target).exists(), "wrote {target} on the host");
}

#[test]
fn layer_with_dotdot_path() {
    let name = format!(
        "../../../../../../../../tmp/wharf-e2e-dotdot-evil-{}",
        std::process::id()
    );
    hostile(
        &[(&name, EntryType::Regular, None, b"pwned\n")],
        "dotdot-evil",
        "layer with a .. path",
    );
    let target = format!("/tmp/wharf-e2e-dotdot-evil-{}", std::process::id());
    assert!(!Path::new(&target).exists(), "wrote {target} on the host");
}

#[test]
fn layer_with_escaping_symlink() {
    let outside = tempfile::tempdir().unwrap();
    let out_str = outside.path().to_str().unwrap().to_string();
    hostile(
        &[
            ("sym-evil", EntryType::Symlink, Some(&out_str), b""),
            ("sym-evil/pwned", EntryType::Regular, None, b"pwned\n"),
        ],
        "sym-evil",
        "layer writing through an escaping symlink",
    );
    assert!(
        !outside.path().join("pwned").exists(),
        "a layer wrote through a symlink to the host"
    );
}

#[test]
fn layer_with_relative_escaping_symlink() {
    let outside = tempfile::tempdir().unwrap();
    let rel = format!("../../../../../../../../../..{}", outside.path().display());
    hostile(
        &[
            ("rsym-evil", EntryType::Symlink, Some(&rel), b""),
            ("rsym-evil/pwned", EntryType::Regular, None, b"pwned\n"),
        ],
        "rsym-evil",
        "layer writing through a relative escaping symlink",
    );
    assert!(!outside.path().join("pwned").exists());
}

#[test]
fn layer_with_hardlink_to_outside() {
    hostile(
        &[(
            "hard-evil",
            EntryType::Link,
            Some("../../../../../../../../etc/passwd"),
            b"",
        )],
        "hard-evil",
        "layer with a hardlink to outside",
    );
}

#[test]
fn layer_with_absolute_hardlink() {
    hostile(
        &[("ahard-evil", EntryType::Link, Some("/etc/passwd"), b"")],
        "ahard-evil",
        "layer with a hardlink to /etc/passwd",
    );
}

#[test]
fn layer_with_device_node() {
    hostile(
        &[("dev-evil", EntryType::Char, None, b"")],
        "dev-evil",
        "layer with a device node",
    );
}

#[test]
fn invalid_wasm_module_in_image() {
    let w = Wharf::new();
    let ctx = w.context_with_hello(
        "FROM scratch\nCOPY garbage.wasm /app.wasm\nENTRYPOINT [\"/app.wasm\"]\n",
    );
    std::fs::write(
        ctx.join("garbage.wasm"),
        b"\0asm\x01\0\0\0this is not a module",
    )
    .unwrap();
    let before = w.images_json();
    let out = w.cmd(&[
        "build",
        "--platform",
        "wasi/wasm",
        "-t",
        "bad:1",
        ctx.to_str().unwrap(),
    ]);
    let mentions_invalid = |s: &str| {
        let s = s.to_lowercase();
        s.contains("invalid") || s.contains("not a valid") || s.contains("failed to parse")
    };
    if out.status.success() {
        // Accepted at build time: running it must fail before the start.
        let run = w.cmd(&["run", "--rm", "bad:1"]);
        assert_error(&run, "run of an image with an invalid module");
        assert_eq!(run.status.code(), Some(125), "{}", describe(&run));
        assert!(mentions_invalid(&stderr(&run)), "{}", describe(&run));
    } else {
        assert_error(&out, "build of an image with an invalid module");
        assert!(mentions_invalid(&stderr(&out)), "{}", describe(&out));
        assert_eq!(w.images_json(), before);
    }
}

#[test]
fn entrypoint_not_in_image() {
    let w = Wharf::new();
    let df = "FROM scratch\nCOPY hello.wasm /hello.wasm\nENTRYPOINT [\"/nope.wasm\"]\n";
    let out = w.build_text(df, &["--platform", "wasi/wasm", "-t", "noent:1"]);
    if out.status.success() {
        let run = w.cmd(&["run", "--rm", "noent:1"]);
        assert_error(&run, "run with a missing entrypoint");
        assert_eq!(run.status.code(), Some(125), "{}", describe(&run));
        assert!(stderr(&run).contains("/nope.wasm"), "{}", describe(&run));
    } else {
        assert!(stderr(&out).contains("/nope.wasm"), "{}", describe(&out));
    }
}

#[test]
fn unknown_image_name() {
    let w = Wharf::new();
    let out = w.cmd(&["run", "nosuch"]);
    assert_error(&out, "run nosuch");
    assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
    let err = stderr(&out).to_lowercase();
    assert!(
        err.contains("not found") || err.contains("no such"),
        "{}",
        describe(&out)
    );
    assert!(w.ps_all().is_empty(), "no container is left behind");
}

#[test]
fn bad_flags_exit_125_for_run() {
    let w = Wharf::new();
    w.build_hello();
    for args in [
        &["run", "--memory", "lots", "hello:1"][..],
        &["run", "-e", "=novar", "hello:1"],
    ] {
        let out = w.cmd(args);
        assert_error(&out, &args.join(" "));
        assert_eq!(out.status.code(), Some(125), "{args:?}\n{}", describe(&out));
        assert!(
            !stdout(&out).contains("Hello"),
            "the guest must not start: {args:?}"
        );
    }
}

/// A flag Wharf does not know, before the image (run) or the container
/// (exec), is named as an unknown flag, not taken for a name; exit 125.
#[test]
fn unknown_flags_are_named() {
    let w = Wharf::new();
    for args in [
        &["run", "--rm", "--gpus", "all", "img"][..],
        &["run", "--device", "/dev/fuse", "img", "sh"],
        &["exec", "-d", "web", "ls"],
    ] {
        let out = w.fails(args);
        assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
        let flag = args
            .iter()
            .find(|a| a.starts_with('-') && **a != "--rm")
            .unwrap();
        assert_error(&out, &format!("unknown flag: {flag}"));
        assert!(!stderr(&out).contains("reference"), "{}", describe(&out));
        assert!(
            !stderr(&out).to_lowercase().contains("no such container"),
            "{}",
            describe(&out)
        );
    }
}

/// What a killed writer left in the store (a blob temp file of a process
/// that is gone, a complete blob nothing references) is collected by the
/// next command that takes the store's lock, not only by a later failure
/// (issue 19).
#[test]
fn crash_leftovers_go_with_the_next_locked_command() {
    let (w, _) = store_with_baseline();
    let blobs = w.root().join("blobs").join("sha256");
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap();
    let temp = blobs.join(format!(".tmp-{dead}-0-x"));
    std::fs::write(&temp, vec![0u8; 4096]).unwrap();
    let orphan_bytes = b"an orphan blob nothing references".to_vec();
    let orphan = blobs.join(sha256_hex(&orphan_bytes));
    std::fs::write(&orphan, &orphan_bytes).unwrap();
    let a = w.scratch_file("img2.tar", &layout(&good_image("other:1")).archive());
    w.load(&a);
    assert!(!temp.exists(), "the dead writer's temp file is still there");
    assert!(!orphan.exists(), "the orphan blob is still there");
    // An archive member no manifest references is not kept either.
    let mut l = layout(&good_image("third:1"));
    let stray = vec![7u8; 100_000];
    let stray_hex = sha256_hex(&stray);
    l.files
        .insert(format!("blobs/sha256/{stray_hex}"), stray.clone());
    let a = w.scratch_file("stray.tar", &l.archive());
    w.load(&a);
    assert!(
        !blobs.join(&stray_hex).exists(),
        "an unreferenced member was kept"
    );
}

/// A layer whose GNU sparse entry `disk.img` is `logical` bytes long, with
/// `tail` (one 512-byte block) as its only data, at its end.
fn sparse_layer(logical: u64, tail: &[u8; 512]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut a = tar::Archive::new(std::io::Cursor::new(hello_layer_tar()));
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        b.append(&h, &data[..]).unwrap();
    }
    let mut h = tar::Header::new_gnu();
    h.set_path("disk.img").unwrap();
    h.set_entry_type(EntryType::GNUSparse);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_size(512);
    {
        let gnu = h.as_gnu_mut().unwrap();
        gnu.sparse[0].set_offset(logical - 512);
        gnu.sparse[0].set_length(512);
        gnu.set_real_size(logical);
    }
    h.set_cksum();
    b.append(&h, &tail[..]).unwrap();
    b.into_inner().unwrap()
}

/// A GNU sparse entry is unpacked as a sparse file: its holes take no
/// disk space (issue 19, item 3: a 2 KiB layer wrote a fully allocated
/// 1 GiB file).
#[test]
fn sparse_entries_unpack_as_sparse_files() {
    use std::os::unix::fs::MetadataExt;
    let w = Wharf::new();
    let logical = 1u64 << 30;
    let mut tail = [b'.'; 512];
    tail[..4].copy_from_slice(b"END\n");
    let layer = sparse_layer(logical, &tail);
    assert!(
        layer.len() < hello_layer_tar().len() + (4 << 10),
        "the sparse entry should take a few blocks of the layer"
    );
    let img = wasm_image(layer, MT_LAYER_TAR, "sparse:1");
    let a = w.scratch_file("sparse.tar", &layout(&img).archive());
    w.load(&a);
    let snaps = std::fs::read_dir(w.root().join("snapshots")).unwrap();
    let disk = snaps
        .map(|e| e.unwrap().path().join("disk.img"))
        .find(|p| p.exists())
        .expect("disk.img unpacked into a snapshot");
    let m = std::fs::metadata(&disk).unwrap();
    assert_eq!(m.len(), logical, "the file keeps its logical size");
    assert!(
        m.blocks() * 512 < 1 << 20,
        "the holes were allocated: {} bytes on disk",
        m.blocks() * 512
    );
    let bytes = std::fs::read(&disk).unwrap();
    assert_eq!(&bytes[bytes.len() - 512..], &tail[..]);
    assert!(bytes[..bytes.len() - 512].iter().all(|&b| b == 0));
    assert_eq!(
        w.ok(&["run", "--rm", "sparse:1"]),
        format!("{WASM_GREETING}\n")
    );
    // `wharf images` shows the logical size unpacked beside the stored one.
    let row = json_lines(&w.ok(&["images", "--format", "json"]))
        .into_iter()
        .find(|r| r["Repository"] == "sparse")
        .unwrap();
    assert!(
        row["Size"].as_str().unwrap().ends_with("kB")
            && row["UnpackedSize"].as_str().unwrap().ends_with("GB"),
        "{row}"
    );
}

/// The hello layer plus a gzip layer of `size` zeros, as one image.
fn image_with_zeros(w: &Wharf, ref_name: &str, size: u64) -> (Vec<u8>, String) {
    let (gz, diff_id) = zeros_layer(w.work.path(), "zeros.bin", size);
    let hello = hello_layer_tar();
    let mut config: serde_json::Value = serde_json::from_slice(&wasm_config(&[&hello])).unwrap();
    config["rootfs"]["diff_ids"]
        .as_array_mut()
        .unwrap()
        .push(diff_id.into());
    let digest = sha256_hex(&gz);
    let img = OciImage {
        config_media_type: MT_CONFIG.to_string(),
        config: serde_json::to_vec(&config).unwrap(),
        layers: vec![
            (MT_LAYER_TAR.to_string(), hello),
            (MT_LAYER_GZIP.to_string(), gz),
        ],
        ref_name: ref_name.to_string(),
    };
    (layout(&img).archive(), digest)
}

/// A small gzip layer that expands by far more than any filesystem layer
/// (200 MiB of zeros from ~200 KiB) is refused at load, naming the layer,
/// before it is unpacked (issue 19, item 3).
#[test]
fn a_decompression_bomb_layer_is_refused() {
    let w = Wharf::new();
    let (archive, digest) = image_with_zeros(&w, "bomb:1", 200 << 20);
    assert!(archive.len() < 2 << 20, "the bomb should be small");
    let err = load_must_fail(&archive, "load of a decompression bomb");
    assert!(
        err.contains(&digest) && err.contains("decompression bomb"),
        "the error should name the layer and say why: {err}"
    );
}

/// A tmpfs mounted over a store directory for the test, unmounted after.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        let st = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .status()
            .unwrap();
        assert!(
            st.success(),
            "mounting a tmpfs on {} (needs root)",
            at.display()
        );
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// A layer that cannot fit in the free space of the store's filesystem is
/// refused with an error naming it and the space, and nothing of it is
/// kept (issue 19, item 3: statvfs before the disk fills).
#[test]
fn a_layer_larger_than_the_free_space_is_refused() {
    let w = Wharf::new();
    let _fs = Tmpfs::mount(w.root(), "24m");
    let base = w.scratch_file("baseline.tar", &layout(&good_image("base:1")).archive());
    w.load(&base);
    let before = w.images_json();
    // 40 MiB of zeros: within the expansion ratio's floor, past the tmpfs.
    let (archive, digest) = image_with_zeros(&w, "big:1", 40 << 20);
    let a = w.scratch_file("big.tar", &archive);
    let out = w.cmd(&["load", "-i", a.to_str().unwrap()]);
    assert_error(&out, "load of a layer larger than the free space");
    let err = stderr(&out);
    assert!(
        err.contains(&digest) && err.contains("does not fit") && err.contains("free"),
        "the error should name the layer and the free space: {err}"
    );
    assert_eq!(w.images_json(), before, "the store changed");
    let snaps: Vec<String> = std::fs::read_dir(w.root().join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp-"))
        .collect();
    assert!(snaps.is_empty(), "partial snapshots left: {snaps:?}");
    assert_eq!(
        w.ok(&["run", "--rm", "base:1"]),
        format!("{WASM_GREETING}\n")
    );
}

/// An image whose config says `application/octet-stream` (the content is a
/// good config) is refused at load, as pull refuses it, instead of being
/// loaded for run to refuse (issue 19, item 13).
#[test]
fn a_config_of_unknown_media_type_is_refused_at_load() {
    let mut img = distinct_image("octet:1");
    img.config_media_type = "application/octet-stream".to_string();
    let err = load_must_fail(&layout(&img).archive(), "load of an octet-stream config");
    assert!(
        err.contains("application/octet-stream") && err.contains("config"),
        "the error should name the config's media type: {err}"
    );
}

/// `run` racing `rmi -f` of its image either runs it or says the image is
/// gone ("not found" / "was removed"), never that the store is missing
/// content (issue 19, item 15). Parallel runs and removals, many rounds.
#[test]
fn run_racing_rmi_says_the_image_was_removed() {
    let w = Wharf::new();
    let archive = w.scratch_file("race.tar", &layout(&good_image("race:1")).archive());
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for _ in 0..20 {
        w.load(&archive);
        let rmi = w
            .command(&["rmi", "-f", "race:1"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let runs: Vec<_> = (0..4)
            .map(|_| {
                w.command(&["run", "--rm", "race:1"])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for r in runs {
            let out = r.wait_with_output().unwrap();
            let err = stderr(&out);
            let kind = if out.status.success() {
                "ran"
            } else if err.contains("was removed") {
                "removed"
            } else if err.contains("not found") {
                "not found"
            } else {
                panic!("a run racing rmi -f failed otherwise:\n{}", describe(&out));
            };
            *outcomes.entry(kind.to_string()).or_default() += 1;
        }
        assert!(rmi.wait_with_output().unwrap().status.success());
    }
    eprintln!("outcomes: {outcomes:?}");
}
