use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wharf_snapshot::{extract_layer, Error, LayerSource, Snapshots};

enum E<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8]),
    Mode(&'a str, &'a [u8], u32),
    Sym(&'a str, &'a str),
    Link(&'a str, &'a str),
    Fifo(&'a str),
    Char(&'a str),
}

fn header(
    name: &str,
    kind: tar::EntryType,
    size: u64,
    mode: u32,
    link: Option<&str>,
) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    {
        let g = h.as_gnu_mut().unwrap();
        g.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(l) = link {
            g.linkname[..l.len()].copy_from_slice(l.as_bytes());
        }
    }
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(1_000_000);
    h.set_uid(0);
    h.set_gid(0);
    h.set_cksum();
    h
}

fn tar_of(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        use tar::EntryType as T;
        let (h, data): (tar::Header, &[u8]) = match e {
            E::Dir(n) => (header(n, T::Directory, 0, 0o755, None), b""),
            E::File(n, d) => (header(n, T::Regular, d.len() as u64, 0o644, None), d),
            E::Mode(n, d, m) => (header(n, T::Regular, d.len() as u64, *m, None), d),
            E::Sym(n, t) => (header(n, T::Symlink, 0, 0o777, Some(t)), b""),
            E::Link(n, t) => (header(n, T::Link, 0, 0o644, Some(t)), b""),
            E::Fifo(n) => (header(n, T::Fifo, 0, 0o644, None), b""),
            E::Char(n) => (header(n, T::Char, 0, 0o644, None), b""),
        };
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

fn diff_id(tar: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(tar)))
}

struct Fixture {
    _tmp: tempfile::TempDir,
    blobs: PathBuf,
    snaps: Snapshots,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let blobs = tmp.path().join("blobs");
    fs::create_dir(&blobs).unwrap();
    let snaps = Snapshots::new(tmp.path().join("snapshots"));
    Fixture {
        _tmp: tmp,
        blobs,
        snaps,
    }
}

impl Fixture {
    fn layer(&self, tar: &[u8], compression: &str) -> LayerSource {
        let (data, mt) = match compression {
            "gzip" => {
                let mut e =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(tar).unwrap();
                (
                    e.finish().unwrap(),
                    "application/vnd.oci.image.layer.v1.tar+gzip",
                )
            }
            "zstd" => (
                zstd::encode_all(tar, 3).unwrap(),
                "application/vnd.oci.image.layer.v1.tar+zstd",
            ),
            _ => (tar.to_vec(), "application/vnd.oci.image.layer.v1.tar"),
        };
        let name = hex::encode(Sha256::digest(&data));
        let blob = self.blobs.join(name);
        fs::write(&blob, &data).unwrap();
        LayerSource {
            blob,
            media_type: mt.to_string(),
            diff_id: diff_id(tar),
        }
    }
}

fn listing(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let m = fs::symlink_metadata(&p).unwrap();
            if m.file_type().is_symlink() {
                out.push(format!("{rel} -> {}", fs::read_link(&p).unwrap().display()));
            } else if m.is_dir() {
                out.push(format!("{rel}/"));
                walk(root, &p, out);
            } else if !m.is_file() {
                out.push(format!("{rel} (special)"));
            } else {
                out.push(format!(
                    "{rel} = {}",
                    String::from_utf8_lossy(&fs::read(&p).unwrap_or_default())
                ));
            }
        }
    }
    walk(root, root, &mut out);
    out
}

#[test]
fn chain_ids_follow_the_oci_definition() {
    let a = format!("sha256:{}", "a".repeat(64));
    let b = format!("sha256:{}", "b".repeat(64));
    let ids = Snapshots::chain_ids(std::slice::from_ref(&a));
    assert_eq!(ids, vec![a.clone()]);
    let ids = Snapshots::chain_ids(&[a.clone(), b.clone()]);
    let expect = format!(
        "sha256:{}",
        hex::encode(Sha256::digest(format!("{a} {b}").as_bytes()))
    );
    assert_eq!(ids, vec![a.clone(), expect.clone()]);
    let c = format!("sha256:{}", "c".repeat(64));
    let ids3 = Snapshots::chain_ids(&[a, b, c.clone()]);
    let expect3 = format!(
        "sha256:{}",
        hex::encode(Sha256::digest(format!("{expect} {c}").as_bytes()))
    );
    assert_eq!(ids3[2], expect3);
    assert!(Snapshots::chain_ids(&[]).is_empty());
}

#[test]
fn empty_layer_list_gives_empty_dir() {
    let f = fixture();
    let p = f.snaps.prepare(&[]).unwrap();
    assert_eq!(p, f.snaps.dir().join("empty"));
    assert!(p.is_dir());
    assert_eq!(fs::read_dir(&p).unwrap().count(), 0);
    assert_eq!(f.snaps.prepare(&[]).unwrap(), p);
}

#[test]
fn multi_layer_whiteouts_and_opaque_dirs() {
    let f = fixture();
    let l1 = tar_of(&[
        E::Dir("etc/"),
        E::File("etc/keep", b"keep"),
        E::File("etc/gone", b"gone"),
        E::Dir("var/"),
        E::File("var/old1", b"1"),
        E::Dir("var/sub/"),
        E::File("var/sub/old2", b"2"),
        E::Dir("tmp/"),
        E::File("tmp/x", b"x"),
        E::Sym("bin", "/usr/bin"),
        E::Fifo("pipe"),
    ]);
    let l2 = tar_of(&[
        E::File("etc/.wh.gone", b""),
        E::Dir("var/"),
        E::File("var/new-before-opq", b"n0"),
        E::File("var/.wh..wh..opq", b""),
        E::File("var/new", b"n"),
        E::File(".wh.tmp", b""),
        E::File(".wh.bin", b""),
        E::File(".wh.does-not-exist", b""),
        E::Link("etc/keep2", "etc/keep"),
    ]);
    let s1 = f.layer(&l1, "tar");
    let s2 = f.layer(&l2, "gzip");
    let top = f.snaps.prepare(&[s1.clone(), s2.clone()]).unwrap();
    assert_eq!(
        listing(&top),
        vec![
            "etc/",
            "etc/keep = keep",
            "etc/keep2 = keep",
            "pipe (special)",
            "var/",
            "var/new = n",
            "var/new-before-opq = n0",
        ]
    );
    let ids = Snapshots::chain_ids(&[s1.diff_id.clone(), s2.diff_id.clone()]);
    assert_eq!(top, f.snaps.path(&ids[1]));
    // The lower snapshot is intact.
    let lower = f.snaps.path(&ids[0]);
    assert!(listing(&lower).contains(&"var/sub/old2 = 2".to_string()));
    assert!(listing(&lower).contains(&"bin -> /usr/bin".to_string()));
    assert!(fs::symlink_metadata(lower.join("pipe"))
        .unwrap()
        .file_type()
        .is_fifo_like());
    // No temp dirs left.
    let leftovers: Vec<_> = fs::read_dir(f.snaps.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // Second prepare reuses.
    assert_eq!(f.snaps.prepare(&[s1, s2]).unwrap(), top);
}

trait FifoLike {
    fn is_fifo_like(&self) -> bool;
}
impl FifoLike for fs::FileType {
    fn is_fifo_like(&self) -> bool {
        use std::os::unix::fs::FileTypeExt;
        self.is_fifo()
    }
}

#[test]
fn replaced_file_leaves_parent_snapshot_unchanged() {
    let f = fixture();
    let l1 = tar_of(&[
        E::Dir("etc/"),
        E::Mode("etc/conf", b"old", 0o600),
        E::File("etc/other", b"o"),
    ]);
    let l2 = tar_of(&[E::Mode("etc/conf", b"new", 0o644)]);
    let s1 = f.layer(&l1, "tar");
    let s2 = f.layer(&l2, "zstd");
    let top = f.snaps.prepare(&[s1.clone(), s2]).unwrap();
    let lower = f.snaps.path(&s1.diff_id);
    assert_eq!(fs::read(lower.join("etc/conf")).unwrap(), b"old");
    assert_eq!(
        fs::metadata(lower.join("etc/conf"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert_eq!(fs::read(top.join("etc/conf")).unwrap(), b"new");
    assert_eq!(
        fs::metadata(top.join("etc/conf"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o644
    );
    // Unchanged files are shared by hard link.
    assert_eq!(
        fs::metadata(lower.join("etc/other")).unwrap().ino(),
        fs::metadata(top.join("etc/other")).unwrap().ino()
    );
    assert_eq!(
        fs::metadata(top.join("etc/other")).unwrap().mtime(),
        1_000_000
    );
    assert_eq!(
        fs::symlink_metadata(top.join("etc")).unwrap().mtime(),
        1_000_000
    );
}

#[test]
fn gzip_and_zstd_layers() {
    for c in ["gzip", "zstd", "tar"] {
        let f = fixture();
        let l = tar_of(&[E::File("hello.txt", b"hi"), E::Mode("run.sh", b"#!", 0o755)]);
        let mut s = f.layer(&l, c);
        let top = f.snaps.prepare(&[s.clone()]).unwrap();
        assert_eq!(fs::read(top.join("hello.txt")).unwrap(), b"hi");
        assert_eq!(
            fs::metadata(top.join("run.sh"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o755
        );
        // Unclear media type: sniffed.
        let f2 = fixture();
        s.blob = {
            let p = f2.blobs.join("x");
            fs::copy(&s.blob, &p).unwrap();
            p
        };
        s.media_type = "application/octet-stream+tar".into();
        let top = f2.snaps.prepare(&[s]).unwrap();
        assert_eq!(fs::read(top.join("hello.txt")).unwrap(), b"hi");
    }
}

#[test]
fn diff_id_mismatch_is_refused() {
    let f = fixture();
    let l = tar_of(&[E::File("a", b"a")]);
    let mut s = f.layer(&l, "gzip");
    s.diff_id = format!("sha256:{}", "0".repeat(64));
    let err = f.snaps.prepare(std::slice::from_ref(&s)).unwrap_err();
    assert!(matches!(err, Error::DiffIdMismatch { .. }), "{err}");
    assert!(err.to_string().contains(&s.diff_id), "{err}");
    assert!(!f.snaps.exists(&s.diff_id));
    assert_eq!(
        fs::read_dir(f.snaps.dir()).unwrap().count(),
        0,
        "temp dir removed"
    );
}

fn refused(entries: &[E], needle: &str) {
    let f = fixture();
    let l = tar_of(entries);
    let s = f.layer(&l, "tar");
    let err = f.snaps.prepare(std::slice::from_ref(&s)).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(needle), "expected {needle:?} in: {msg}");
    assert!(!f.snaps.exists(&s.diff_id));
    assert_eq!(
        fs::read_dir(f.snaps.dir()).unwrap().count(),
        0,
        "temp dir removed"
    );
}

#[test]
fn malicious_layers_are_refused() {
    refused(&[E::File("/etc/passwd", b"x")], "\"/etc/passwd\"");
    refused(&[E::File("../escape", b"x")], "'..'");
    refused(&[E::File("a/../../escape", b"x")], "'..'");
    refused(
        &[E::Sym("lnk", "/tmp"), E::File("lnk/evil", b"x")],
        "symlink",
    );
    refused(
        &[E::Dir("d/"), E::Sym("d/lnk", "."), E::File("d/lnk/f", b"x")],
        "symlink",
    );
    refused(&[E::Link("h", "/etc/shadow")], "absolute");
    refused(&[E::Link("h", "../outside")], "'..'");
    refused(&[E::Link("h", "missing")], "does not exist");
    refused(&[E::Sym("up", "../../etc")], "outside the root");
    refused(
        &[E::Dir("a/"), E::Sym("a/up", "../../x")],
        "outside the root",
    );
    refused(&[E::Char("dev/null")], "device node");
    refused(&[E::Sym("x", "/etc"), E::Link("h", "x/passwd")], "symlink");
}

#[test]
fn harmless_symlinks_are_accepted() {
    let f = fixture();
    let l = tar_of(&[
        E::Dir("usr/"),
        E::Dir("usr/lib/"),
        E::Sym("usr/lib/up", "../../bin/busybox"),
        E::Sym("sh", "/bin/busybox"),
        E::Sym("dot", "./x/../y"),
    ]);
    let s = f.layer(&l, "tar");
    let top = f.snaps.prepare(&[s]).unwrap();
    assert_eq!(
        fs::read_link(top.join("sh")).unwrap(),
        Path::new("/bin/busybox")
    );
}

#[test]
fn long_names_and_setuid() {
    let dir = tempfile::tempdir().unwrap();
    let long = format!("{}/file.txt", "d".repeat(150));
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(2);
    h.set_mode(0o4755);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, &long, &b"ok"[..]).unwrap();
    let data = b.into_inner().unwrap();
    extract_layer(&data[..], dir.path()).unwrap();
    assert_eq!(fs::read(dir.path().join(&long)).unwrap(), b"ok");
    let root = unsafe { libc_geteuid() } == 0;
    let mode = fs::metadata(dir.path().join(&long))
        .unwrap()
        .permissions()
        .mode()
        & 0o7777;
    if root {
        assert_eq!(mode, 0o4755);
    }
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

#[test]
fn gc_removes_unused_and_stale_temp() {
    let f = fixture();
    let a = f.layer(&tar_of(&[E::File("a", b"a")]), "tar");
    let b = f.layer(&tar_of(&[E::File("b", b"b")]), "tar");
    f.snaps.prepare(std::slice::from_ref(&a)).unwrap();
    f.snaps.prepare(std::slice::from_ref(&b)).unwrap();
    f.snaps.prepare(&[]).unwrap();
    fs::create_dir(f.snaps.dir().join(".tmp-crashed")).unwrap();
    let keep: HashSet<String> = [a.diff_id.clone()].into();
    assert_eq!(f.snaps.remove_except(&keep).unwrap(), 2);
    assert!(f.snaps.exists(&a.diff_id));
    assert!(!f.snaps.exists(&b.diff_id));
    assert!(f.snaps.dir().join("empty").is_dir());
    assert!(!f.snaps.dir().join(".tmp-crashed").exists());
}

#[test]
fn extract_layer_handles_compressed_input() {
    let dir = tempfile::tempdir().unwrap();
    let l = tar_of(&[E::File("z", b"zz")]);
    let z = zstd::encode_all(&l[..], 3).unwrap();
    extract_layer(&z[..], dir.path()).unwrap();
    assert_eq!(fs::read(dir.path().join("z")).unwrap(), b"zz");
}
