//! `wharf import` end to end: a root filesystem tarball made here (busybox
//! and a shell script) becomes a one-layer image that runs as a Linux
//! container with the config its `--change`s gave; from a file or stdin,
//! plain, gzip or zstd; and input that is not a usable tarball is refused
//! with the reason, leaving the store exactly as it was.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::*;
use serde_json::{json, Value};

/// The script the image runs: what it sees of its config.
const SCRIPT: &str =
    "#!/bin/sh\necho \"greeting=$GREETING\"\necho \"cwd=$(pwd)\"\necho \"args=$*\"\n";

/// A root filesystem tar: /bin/busybox with the applets the script needs
/// as symlinks, /app/show.sh, /srv/data/ and, when `device`, a character
/// device (which no image layer may hold).
fn rootfs_tar(device: bool) -> Vec<u8> {
    assert!(
        Path::new("/bin/busybox").exists(),
        "/bin/busybox is missing: run scripts/setup.sh (installs busybox-static)"
    );
    let mut b = tar::Builder::new(Vec::new());
    let dir = |b: &mut tar::Builder<Vec<u8>>, path: &str| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        h.set_mtime(0);
        b.append_data(&mut h, path, std::io::empty()).unwrap();
    };
    let file = |b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8], mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_mtime(0);
        b.append_data(&mut h, path, data).unwrap();
    };
    for d in ["bin/", "app/", "srv/", "srv/data/", "tmp/"] {
        dir(&mut b, d);
    }
    file(
        &mut b,
        "bin/busybox",
        &std::fs::read("/bin/busybox").unwrap(),
        0o755,
    );
    for applet in ["sh", "pwd", "cat", "env"] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        h.set_mtime(0);
        b.append_link(&mut h, format!("bin/{applet}"), "busybox")
            .unwrap();
    }
    file(&mut b, "app/show.sh", SCRIPT.as_bytes(), 0o755);
    file(&mut b, "srv/data/note.txt", b"imported data\n", 0o644);
    if device {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Char);
        h.set_mode(0o666);
        h.set_size(0);
        h.set_device_major(1).unwrap();
        h.set_device_minor(3).unwrap();
        b.append_data(&mut h, "dev-null", std::io::empty()).unwrap();
    }
    b.into_inner().unwrap()
}

/// The files of the store's blobs and snapshots directories: what a failed
/// import must not leave behind.
fn store_files(w: &Wharf) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for sub in ["blobs/sha256", "snapshots"] {
        if let Ok(entries) = std::fs::read_dir(w.root().join(sub)) {
            for e in entries.flatten() {
                out.insert(format!("{sub}/{}", e.file_name().to_string_lossy()));
            }
        }
    }
    out
}

fn id_line(out: &str) -> String {
    let id = out.trim().to_string();
    assert!(
        id.starts_with("sha256:") && is_hex(&id["sha256:".len()..], 64),
        "import prints the image id: {out:?}"
    );
    id
}

#[test]
fn an_imported_rootfs_runs_with_the_config_its_changes_give() {
    let w = Wharf::new();
    let tarball = w.scratch_file("rootfs.tar.gz", &gzip(&rootfs_tar(false)));
    let out = w.ok(&[
        "import",
        "--change",
        "ENV GREETING=imported APP=/srv",
        "-c",
        "WORKDIR $APP/data",
        "-c",
        "CMD [\"/app/show.sh\", \"from-cmd\"]",
        "-c",
        "LABEL org.example.source=test",
        "-c",
        "EXPOSE 8080",
        "-m",
        "made by the import test",
        tarball.to_str().unwrap(),
        "imported:1",
    ]);
    let id = id_line(&out);

    let image = w.inspect("imported:1");
    assert_eq!(image["Id"], json!(id));
    assert_eq!(image["Os"], "linux");
    assert_eq!(image["Architecture"], "amd64");
    assert_eq!(image["Layers"].as_array().unwrap().len(), 1, "{image:#}");
    assert_eq!(
        image["Layers"][0]["MediaType"], "application/vnd.oci.image.layer.v1.tar+gzip",
        "the tarball is stored as it came"
    );
    assert_eq!(
        image["Config"]["Env"],
        json!(["GREETING=imported", "APP=/srv"])
    );
    assert_eq!(image["Config"]["WorkingDir"], "/srv/data");
    assert_eq!(image["Config"]["Labels"]["org.example.source"], "test");
    assert_eq!(image["Config"]["ExposedPorts"], json!({"8080/tcp": {}}));
    let config: Value = serde_json::from_slice(
        &std::fs::read(w.root().join("blobs/sha256").join(&id["sha256:".len()..])).unwrap(),
    )
    .unwrap();
    assert_eq!(config["history"][0]["comment"], "made by the import test");

    // Runs as a Linux container: its CMD, env and working directory.
    let ran = w.ok(&["run", "--rm", "imported:1"]);
    assert_eq!(
        lines(&ran),
        ["greeting=imported", "cwd=/srv/data", "args=from-cmd"],
        "{ran}"
    );
    // The files are the tarball's, and -e/args override as for any image.
    let ran = w.ok(&[
        "run",
        "--rm",
        "-e",
        "GREETING=overridden",
        "imported:1",
        "/app/show.sh",
        "given",
    ]);
    assert_eq!(
        lines(&ran),
        ["greeting=overridden", "cwd=/srv/data", "args=given"]
    );
    assert_eq!(
        w.ok(&["run", "--rm", "imported:1", "cat", "note.txt"]),
        "imported data\n"
    );

    // The shell form of CMD runs through /bin/sh -c, as in a Dockerfile.
    let out = w.ok(&[
        "import",
        "-c",
        "ENV GREETING=shell",
        "-c",
        "CMD /app/show.sh via-shell",
        tarball.to_str().unwrap(),
        "imported:shell",
    ]);
    id_line(&out);
    assert_eq!(
        w.inspect("imported:shell")["Config"]["Cmd"],
        json!(["/bin/sh", "-c", "/app/show.sh via-shell"])
    );
    assert_eq!(
        lines(&w.ok(&["run", "--rm", "imported:shell"])),
        ["greeting=shell", "cwd=/", "args=via-shell"]
    );
}

#[test]
fn imports_from_stdin_plain_and_zstd_untagged_or_named() {
    let w = Wharf::new();
    let tar = rootfs_tar(false);

    // Plain tar on stdin, no name: an untagged image, run by its id.
    let out = w.cmd_stdin(&["import", "-c", "CMD [\"/app/show.sh\"]", "-"], &tar);
    assert!(out.status.success(), "{}", describe(&out));
    let id = id_line(&stdout(&out));
    let images = w.images();
    assert_eq!(images.len(), 1, "{images:?}");
    assert_eq!(images[0]["Repository"], "<none>", "{images:?}");
    assert!(
        id["sha256:".len()..].starts_with(images[0]["ID"].as_str().unwrap()),
        "{images:?}"
    );
    let image = w.inspect(&id);
    assert_eq!(
        image["Layers"][0]["MediaType"],
        "application/vnd.oci.image.layer.v1.tar"
    );
    let config: Value = serde_json::from_slice(
        &std::fs::read(w.root().join("blobs/sha256").join(&id["sha256:".len()..])).unwrap(),
    )
    .unwrap();
    assert_eq!(config["history"][0]["comment"], "Imported from -");
    assert_eq!(
        lines(&w.ok(&["run", "--rm", &id])),
        ["greeting=", "cwd=/", "args="]
    );

    // zstd on stdin, named.
    let out = w.cmd_stdin(
        &["import", "-c", "ENV GREETING=zstd", "-", "from-stdin:zst"],
        &zstd_compress(&tar),
    );
    assert!(out.status.success(), "{}", describe(&out));
    let image = w.inspect("from-stdin:zst");
    assert_eq!(
        image["Layers"][0]["MediaType"],
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    assert_eq!(
        lines(&w.ok(&["run", "--rm", "from-stdin:zst", "/app/show.sh"])),
        ["greeting=zstd", "cwd=/", "args="]
    );
    // Both layers hold the same files: one diff_id, one snapshot.
    assert_eq!(
        w.inspect(&id)["RootFS"]["diff_ids"],
        image["RootFS"]["diff_ids"]
    );

    // A name given again moves to the new image, as with docker import.
    let out = w.cmd_stdin(
        &["import", "-c", "ENV GREETING=again", "-", "from-stdin:zst"],
        &gzip(&tar),
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        lines(&w.ok(&["run", "--rm", "from-stdin:zst", "/app/show.sh"])),
        ["greeting=again", "cwd=/", "args="]
    );
}

#[test]
fn bad_input_is_refused_with_the_reason_and_leaves_the_store_as_it_was() {
    let w = Wharf::new();
    // One good image first, so "unchanged" is not just "empty".
    let good = w.scratch_file("good.tar", &rootfs_tar(false));
    w.ok(&["import", good.to_str().unwrap(), "keep:1"]);
    let images_before = w.images_json();
    let files_before = store_files(&w);

    let gz = gzip(&rootfs_tar(false));
    // (what, arguments, stdin, what the error says)
    type Case<'a> = (&'a str, Vec<&'a str>, Option<Vec<u8>>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "text",
            vec!["import", "-", "bad:text"],
            Some(b"this is not a tarball\n".repeat(100)),
            "is not a tar archive",
        ),
        (
            "short text",
            vec!["import", "-", "bad:short"],
            Some(b"hello\n".to_vec()),
            "is not a tar archive",
        ),
        (
            "empty",
            vec!["import", "-", "bad:empty"],
            Some(Vec::new()),
            "is empty",
        ),
        (
            "an empty tar",
            vec!["import", "-", "bad:zeros"],
            Some(vec![0u8; 10240]),
            "holds no files",
        ),
        (
            "truncated gzip",
            vec!["import", "-", "bad:cut"],
            Some(gz[..gz.len() / 2].to_vec()),
            "truncated",
        ),
        (
            "truncated tar",
            vec!["import", "-", "bad:cut-tar"],
            Some(rootfs_tar(false)[..4096].to_vec()),
            "truncated",
        ),
        (
            "a device node",
            vec!["import", "-", "bad:device"],
            Some(rootfs_tar(true)),
            "device node",
        ),
        (
            "missing file",
            vec!["import", "/nonexistent/rootfs.tar", "bad:missing"],
            None,
            "cannot open /nonexistent/rootfs.tar",
        ),
        (
            "RUN as a change",
            vec![
                "import",
                "-c",
                "RUN echo no",
                good.to_str().unwrap(),
                "bad:run",
            ],
            None,
            "RUN cannot be used with import",
        ),
        (
            "unknown instruction",
            vec!["import", "-c", "FOO bar", good.to_str().unwrap()],
            None,
            "not an instruction wharf import applies",
        ),
        (
            "bad port",
            vec![
                "import",
                "-c",
                "EXPOSE eighty",
                good.to_str().unwrap(),
                "bad:port",
            ],
            None,
            "'eighty' is not a port",
        ),
        (
            "bad name",
            vec!["import", good.to_str().unwrap(), "Bad:Name"],
            None,
            "Bad",
        ),
        (
            "bad platform",
            vec![
                "import",
                "--platform",
                "linux",
                good.to_str().unwrap(),
                "bad:platform",
            ],
            None,
            "platform",
        ),
    ];
    for (what, args, input, says) in cases {
        let out = match &input {
            Some(bytes) => w.cmd_stdin(&args, bytes),
            None => w.cmd(&args),
        };
        assert_error(&out, &format!("import of {what}"));
        let err = stderr(&out);
        assert!(err.contains(says), "{what}: expected {says:?} in:\n{err}");
        assert_eq!(w.images_json(), images_before, "{what} changed the images");
        assert_eq!(
            store_files(&w),
            files_before,
            "{what} left files in the store"
        );
    }
    // A directory is not a tarball: said, with how to make one.
    let dir = w.scratch("rootfs-dir");
    let out = w.cmd(&["import", dir.to_str().unwrap()]);
    assert_error(&out, "import of a directory");
    assert!(
        stderr(&out).contains("is a directory"),
        "{}",
        describe(&out)
    );
    assert_eq!(w.images_json(), images_before);
}
