//! Named volumes end to end: `wharf volume create/ls/inspect/rm/prune`, and
//! `run -v NAME:/path` for both kinds of container: data a Wasm guest
//! writes is read back by a Linux container from the same volume, `:ro`
//! holds for both, a volume in use (running or stopped) is not removed, and
//! a new volume starts with the image's files at its mount point.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::{json, Value};

/// examples/hello as a Linux container, tagged `hello:linux`.
fn build_hello_linux(w: &Wharf) {
    let ctx = hello_context();
    let dockerfile = ctx.join("Dockerfile.linux");
    w.ok(&[
        "build",
        "-q",
        "-f",
        dockerfile.to_str().unwrap(),
        "--platform",
        "linux/amd64",
        "-t",
        "hello:linux",
        ctx.to_str().unwrap(),
    ]);
}

/// The one object `wharf volume inspect NAME` prints.
fn inspect_volume(w: &Wharf, name: &str) -> Value {
    let out = w.ok(&["volume", "inspect", name]);
    let v: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("volume inspect output is not JSON ({e}):\n{out}"));
    let all = v.as_array().expect("volume inspect prints a JSON array");
    assert_eq!(all.len(), 1, "{out}");
    all[0].clone()
}

fn mountpoint(w: &Wharf, name: &str) -> PathBuf {
    PathBuf::from(inspect_volume(w, name)["Mountpoint"].as_str().unwrap())
}

fn volume_names(w: &Wharf) -> Vec<String> {
    lines(&w.ok(&["volume", "ls", "-q"]))
}

/// Asserts a failure with `Error: ` whose message holds every one of `parts`.
fn fails_saying(w: &Wharf, args: &[&str], parts: &[&str]) -> std::process::Output {
    let out = w.fails(args);
    let err = stderr(&out);
    for part in parts {
        assert!(
            err.contains(part),
            "`wharf {}`: expected {part:?} in the error\n{}",
            args.join(" "),
            describe(&out)
        );
    }
    out
}

#[test]
fn create_list_inspect_and_remove() {
    let w = Wharf::new();
    assert_eq!(
        w.ok(&["volume", "create", "--label", "env=test", "--label", "flag", "data"]),
        "data\n"
    );
    // Creating one that exists returns it, as in Docker.
    assert_eq!(w.ok(&["volume", "create", "data"]), "data\n");
    let random = w.ok(&["volume", "create"]);
    let random = random.trim();
    assert!(is_hex(random, 64), "{random:?}");

    let table = lines(&w.ok(&["volume", "ls"]));
    let mut expected = [("local", random), ("local", "data")];
    expected.sort_by_key(|(_, name)| *name);
    assert!(table[0].starts_with("DRIVER") && table[0].ends_with("VOLUME NAME"));
    let rows: Vec<(String, String)> = table[1..]
        .iter()
        .map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(cells.len(), 2, "{l}");
            (cells[0].to_string(), cells[1].to_string())
        })
        .collect();
    let expected_rows: Vec<(String, String)> = expected
        .iter()
        .map(|(d, n)| (d.to_string(), n.to_string()))
        .collect();
    assert_eq!(rows, expected_rows);
    assert_eq!(
        volume_names(&w),
        expected.iter().map(|(_, n)| *n).collect::<Vec<_>>()
    );

    let v = inspect_volume(&w, "data");
    assert_eq!(v["Name"], "data");
    assert_eq!(v["Driver"], "local");
    assert_eq!(v["Scope"], "local");
    assert_eq!(v["Labels"], json!({"env": "test", "flag": ""}));
    assert_eq!(v["Options"], json!({}));
    let created = v["CreatedAt"].as_str().unwrap();
    assert!(
        created.len() == 20 && created.as_bytes()[10] == b'T' && created.ends_with('Z'),
        "CreatedAt is RFC 3339: {created}"
    );
    let data = PathBuf::from(v["Mountpoint"].as_str().unwrap());
    assert_eq!(data, w.root().join("volumes/data/_data"));
    assert!(data.is_dir());
    assert_eq!(inspect_volume(&w, random)["Labels"], json!({}));

    // One missing name: the others are still shown, and the exit says so.
    let out = w.cmd(&["volume", "inspect", "data", "missing"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        stderr(&out).contains("no such volume: missing"),
        "{}",
        describe(&out)
    );
    let shown: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(shown.as_array().unwrap().len(), 1);

    assert_eq!(w.ok(&["volume", "rm", "data"]), "data\n");
    assert!(!data.exists() && !w.root().join("volumes/data").exists());
    assert_eq!(volume_names(&w), [random]);
    fails_saying(&w, &["volume", "rm", "data"], &["no such volume: data"]);
    // -f: a volume that is not there is not an error.
    assert_eq!(
        w.ok(&["volume", "rm", "-f", "data", random]),
        format!("data\n{random}\n")
    );
    assert!(volume_names(&w).is_empty());

    for bad in ["bad/name", "_x", "a b", "..", "x:y"] {
        fails_saying(
            &w,
            &["volume", "create", bad],
            &["not a valid volume name", "[a-zA-Z0-9][a-zA-Z0-9_.-]"],
        );
    }
    fails_saying(
        &w,
        &["volume", "create", "--label", "=v", "x"],
        &["key is empty"],
    );
    fails_saying(
        &w,
        &["volume", "create", "-d", "nfs", "x"],
        &["not supported"],
    );
    assert!(volume_names(&w).is_empty(), "a refused create made nothing");
    // Nothing is left in the store but the lock.
    let left: Vec<_> = fs::read_dir(w.root().join("volumes"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(left, [".lock"]);
}

#[test]
fn wasm_and_linux_containers_share_a_volume() {
    let w = Wharf::new();
    w.build_hello();
    build_hello_linux(&w);

    // `run -v NAME:/path` makes the volume, as in Docker.
    w.ok(&[
        "run",
        "--rm",
        "-v",
        "shared:/data",
        "hello:1",
        "write",
        "/data/from-wasm.txt",
        "written by Wasm",
    ]);
    assert_eq!(volume_names(&w), ["shared"]);
    let data = mountpoint(&w, "shared");
    assert_eq!(
        fs::read_to_string(data.join("from-wasm.txt")).unwrap(),
        "written by Wasm"
    );
    // The containers are gone; the data stays, and the other kind reads it.
    assert!(w.ps_all().is_empty());
    assert_eq!(
        w.ok(&[
            "run",
            "--rm",
            "-v",
            "shared:/data",
            "hello:linux",
            "cat",
            "/data/from-wasm.txt"
        ]),
        "written by Wasm"
    );
    w.ok(&[
        "run",
        "--rm",
        "-v",
        "shared:/data",
        "hello:linux",
        "write",
        "/data/from-linux.txt",
        "written by Linux",
    ]);
    assert_eq!(
        w.ok(&[
            "run",
            "--rm",
            "-v",
            "shared:/mnt/v",
            "hello:1",
            "cat",
            "/mnt/v/from-linux.txt"
        ]),
        "written by Linux"
    );
    assert_eq!(
        lines(&w.ok(&[
            "run",
            "--rm",
            "-v",
            "shared:/data",
            "hello:1",
            "ls",
            "/data"
        ])),
        ["from-linux.txt", "from-wasm.txt"]
    );

    // `:ro` holds for both kinds: reads work, writes fail, nothing changes.
    for image in ["hello:1", "hello:linux"] {
        assert_eq!(
            w.ok(&[
                "run",
                "--rm",
                "-v",
                "shared:/data:ro",
                image,
                "cat",
                "/data/from-wasm.txt"
            ]),
            "written by Wasm"
        );
        for path in ["/data/from-wasm.txt", "/data/new.txt"] {
            let out = w.cmd(&[
                "run",
                "--rm",
                "-v",
                "shared:/data:ro",
                image,
                "write",
                path,
                "overwritten",
            ]);
            assert!(
                !out.status.success(),
                "{image} wrote {path} through a :ro volume\n{}",
                describe(&out)
            );
        }
    }
    assert_eq!(
        fs::read_to_string(data.join("from-wasm.txt")).unwrap(),
        "written by Wasm"
    );
    assert!(!data.join("new.txt").exists());
    // Both kinds see the same directory: one volume, made once.
    assert_eq!(volume_names(&w), ["shared"]);
}

#[test]
fn a_volume_in_use_is_kept_until_its_containers_are_removed() {
    let w = Wharf::new();
    w.build_hello();
    // A stopped container keeps its volume in use, as in Docker.
    w.ok(&[
        "run",
        "--name",
        "keeper",
        "-v",
        "kept:/data",
        "hello:1",
        "write",
        "/data/f",
        "kept",
    ]);
    assert_eq!(w.inspect("keeper")["State"]["Running"], json!(false));
    // So does a running one.
    w.ok(&[
        "run",
        "-d",
        "--name",
        "runner",
        "-v",
        "live:/data",
        "-v",
        "kept:/also",
        "hello:1",
        "sleep",
        "60",
    ]);
    // An unused volume with 5 bytes in it, and an empty one.
    w.ok(&[
        "run",
        "--rm",
        "-v",
        "idle:/data",
        "hello:1",
        "write",
        "/data/f",
        "12345",
    ]);
    w.ok(&["volume", "create", "empty"]);

    let out = fails_saying(
        &w,
        &["volume", "rm", "kept"],
        &[
            "cannot remove volume kept",
            "in use",
            "keeper",
            "runner",
            "wharf rm -f",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    fails_saying(
        &w,
        &["volume", "rm", "live"],
        &["in use", "runner", "running"],
    );
    // One refusal does not stop the others.
    let out = w.cmd(&["volume", "rm", "live", "empty"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(stdout(&out), "empty\n");

    let pruned = w.ok(&["volume", "prune", "-f"]);
    assert_eq!(
        pruned, "Deleted Volumes:\nidle\n\nTotal reclaimed space: 5B\n",
        "prune removes only what no container uses"
    );
    assert_eq!(volume_names(&w), ["kept", "live"]);
    assert_eq!(
        fs::read_to_string(mountpoint(&w, "kept").join("f")).unwrap(),
        "kept"
    );

    w.ok(&["rm", "keeper"]);
    fails_saying(&w, &["volume", "rm", "kept"], &["runner"]);
    w.ok(&["rm", "-f", "runner"]);
    assert_eq!(w.ok(&["volume", "rm", "kept", "live"]), "kept\nlive\n");
    assert!(volume_names(&w).is_empty());
    assert_eq!(
        w.ok(&["volume", "prune", "-f"]),
        "Total reclaimed space: 0B\n"
    );
}

#[test]
fn invalid_volume_names_are_refused_before_anything_is_made() {
    let w = Wharf::new();
    w.build_hello();
    for flag in ["bad/name:/data", "_x:/data", "a b:/data", ":/data"] {
        let out = w.fails(&["run", "--rm", "-v", flag, "hello:1"]);
        assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("invalid volume \"{flag}\""))
                && err.contains("starting with / or ./"),
            "{}",
            describe(&out)
        );
    }
    let out = w.fails(&["run", "--rm", "-v", "bad/name:/data", "hello:1"]);
    assert!(
        stderr(&out).contains("[a-zA-Z0-9][a-zA-Z0-9_.-]"),
        "{}",
        describe(&out)
    );
    // A named volume needs an absolute container path too.
    let out = w.fails(&["run", "--rm", "-v", "good:data", "hello:1"]);
    assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
    assert!(w.ps_all().is_empty());
    assert!(volume_names(&w).is_empty());
    assert!(!w.root().join("volumes").exists(), "nothing was made");
}

/// An image with files at /seed: one owned by 1234:5678 with mode 0640, and
/// one in a subdirectory with mode 0750.
fn build_seed_image(w: &Wharf) {
    let ctx = w.scratch("seed-ctx");
    fs::copy(artifact("hello/hello"), ctx.join("hello")).unwrap();
    fs::write(ctx.join("greeting.txt"), GREETING_FILE).unwrap();
    fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch\n\
         COPY hello /hello\n\
         COPY --chown=1234:5678 --chmod=0640 greeting.txt /seed/greeting.txt\n\
         COPY --chmod=0750 greeting.txt /seed/sub/copy.txt\n\
         ENTRYPOINT [\"/hello\"]\n",
    )
    .unwrap();
    w.ok(&[
        "build",
        "-q",
        "--platform",
        "linux/amd64",
        "-t",
        "seed",
        ctx.to_str().unwrap(),
    ]);
}

/// (mode, uid, gid) of a path, not following a last symlink.
fn owner_and_mode(p: &Path) -> (u32, u32, u32) {
    let m = fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (m.mode() & 0o7777, m.uid(), m.gid())
}

#[test]
fn a_new_volume_starts_with_the_image_files_at_its_mount_point() {
    let w = Wharf::new();
    build_seed_image(&w);

    // The container is kept, to compare the volume with its image's tree.
    assert_eq!(
        w.ok(&[
            "run",
            "--name",
            "seeder",
            "-v",
            "seeded:/seed",
            "seed",
            "cat",
            "/seed/greeting.txt"
        ]),
        GREETING_FILE
    );
    let rootfs = PathBuf::from(w.inspect("seeder")["Rootfs"].as_str().unwrap());
    let data = mountpoint(&w, "seeded");
    for rel in ["", "greeting.txt", "sub", "sub/copy.txt"] {
        assert_eq!(
            owner_and_mode(&data.join(rel)),
            owner_and_mode(&rootfs.join("seed").join(rel)),
            "/seed/{rel}: owner and mode are the image's"
        );
    }
    assert_eq!(
        owner_and_mode(&data.join("greeting.txt")),
        (0o640, 1234, 5678)
    );
    assert_eq!(owner_and_mode(&data.join("sub/copy.txt")).0, 0o750);
    assert_eq!(
        fs::read_to_string(data.join("sub/copy.txt")).unwrap(),
        GREETING_FILE
    );
    // Nothing but the image's files: the copy is made beside _data.
    let mut names: Vec<String> = fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["greeting.txt", "sub"]);
    let beside: Vec<String> = fs::read_dir(data.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        beside.iter().all(|n| n == "_data" || n == "volume.json"),
        "{beside:?}"
    );

    // Only an empty volume is filled: a change made in it stays.
    w.ok(&[
        "run",
        "--rm",
        "-v",
        "seeded:/seed",
        "seed",
        "write",
        "/seed/greeting.txt",
        "changed",
    ]);
    assert_eq!(
        w.ok(&[
            "run",
            "--rm",
            "-v",
            "seeded:/seed",
            "seed",
            "cat",
            "/seed/greeting.txt"
        ]),
        "changed"
    );
    w.ok(&[
        "run",
        "--rm",
        "-v",
        "seeded:/seed",
        "seed",
        "write",
        "/seed/sub/copy.txt",
        "mine",
    ]);
    assert_eq!(
        fs::read_to_string(data.join("sub/copy.txt")).unwrap(),
        "mine"
    );

    // A volume with files of its own gets none of the image's...
    w.ok(&[
        "run",
        "--rm",
        "-v",
        "own:/elsewhere",
        "seed",
        "write",
        "/elsewhere/mine.txt",
        "x",
    ]);
    assert_eq!(
        lines(&w.ok(&["run", "--rm", "-v", "own:/seed", "seed", "ls", "/seed"])),
        ["mine.txt"]
    );
    // ...while one made empty beforehand is filled on first use, even read-only.
    w.ok(&["volume", "create", "early"]);
    assert_eq!(
        lines(&w.ok(&["run", "--rm", "-v", "early:/seed:ro", "seed", "ls", "/seed"])),
        ["greeting.txt", "sub"]
    );
    // A mount point where the image has nothing leaves the volume empty.
    w.ok(&[
        "run",
        "--rm",
        "-v",
        "bare:/nothing/here",
        "seed",
        "ls",
        "/nothing/here",
    ]);
    assert_eq!(fs::read_dir(mountpoint(&w, "bare")).unwrap().count(), 0);

    // Wasm containers are filled the same way (the image's /etc here).
    w.build_hello();
    assert_eq!(
        w.ok(&[
            "run",
            "--rm",
            "-v",
            "wasm-etc:/etc",
            "hello:1",
            "cat",
            "/etc/greeting.txt"
        ]),
        GREETING_FILE
    );
}
