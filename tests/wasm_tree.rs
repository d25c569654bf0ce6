//! One filesystem tree per Wasm container, as a conforming WASI host and a
//! container engine both promise: `/` is the image under a writable layer
//! of the container's own, volumes are mounted inside that tree (visible in
//! listings, `:ro` enforced, renames across them fail), the environment is
//! exactly what the image and the user gave. Each behaviour is checked for
//! a WASI p1 module (`hello:1`) and a WASI p2 component (`hello:p2`), the
//! same program built for both.

mod common;

use std::fs;

use common::*;

/// Builds `hello:1` (p1) and `hello:p2` (p2) and returns their names.
fn both(w: &Wharf) -> [&'static str; 2] {
    w.build_hello();
    let ctx = hello_context();
    let df = ctx.join("Dockerfile.p2");
    w.ok(&[
        "build",
        "--platform",
        "wasip2/wasm",
        "-f",
        df.to_str().unwrap(),
        "-t",
        "hello:p2",
        ctx.to_str().unwrap(),
    ]);
    ["hello:1", "hello:p2"]
}

fn sorted_lines(s: &str) -> Vec<String> {
    let mut l = lines(s);
    l.sort();
    l
}

#[test]
fn the_environment_is_exactly_the_images_plus_the_users() {
    let w = Wharf::new();
    for image in both(&w) {
        assert_eq!(
            w.ok(&["run", "--rm", image, "env"]),
            "",
            "{image}: something was added to an empty environment"
        );
        assert_eq!(
            sorted_lines(&w.ok(&["run", "--rm", "-e", "A=1", "-e", "B=", image, "env"])),
            ["A=1", "B="],
            "{image}"
        );
        // A working directory other than `/` is the one addition (WASI p1
        // has no cwd and wasi-libc ignores p2's initial-cwd), so ordinary
        // programs can find it; documented in the README.
        assert_eq!(
            sorted_lines(&w.ok(&["run", "--rm", "-w", "/etc", image, "env"])),
            ["PWD=/etc"],
            "{image}"
        );
        assert_eq!(
            w.ok(&["run", "--rm", "-w", "/etc", image, "cat", "greeting.txt"]),
            GREETING_FILE,
            "{image}"
        );
    }
}

#[test]
fn the_root_is_writable_and_the_image_is_not_changed() {
    let w = Wharf::new();
    for image in both(&w) {
        w.ok(&["run", "--rm", image, "write", "/etc/greeting.txt", "mine"]);
        w.ok(&["run", "--rm", image, "write", "/made-here", "x"]);
        assert_eq!(
            w.ok(&["run", "--rm", image, "cat", "/etc/greeting.txt"]),
            GREETING_FILE,
            "{image}: a container's write reached the image"
        );
        // A missing working directory is made, as Docker makes it.
        assert_eq!(
            w.ok(&["run", "--rm", "-w", "/new/dir", image, "pwd"]),
            "/new/dir\n",
            "{image}"
        );
        let out = w.cmd(&["run", "--rm", "--read-only", image, "write", "/x", "x"]);
        assert!(!out.status.success(), "{image}: {}", describe(&out));
    }
}

#[test]
fn volumes_are_inside_the_tree() {
    let w = Wharf::new();
    let vol = w.scratch("vol");
    fs::write(vol.join("a.txt"), "in the volume\n").unwrap();
    let file = w.scratch("files").join("conf.txt");
    fs::write(&file, "a file volume\n").unwrap();
    let deep = format!("{}:/srv/data", vol.display());
    let ro = format!("{}:/srv/data:ro", vol.display());
    let conf = format!("{}:/etc/app.conf:ro", file.display());
    for image in both(&w) {
        // The mount point appears in its parent's listing, which the image
        // did not have.
        let root = lines(&w.ok(&["run", "--rm", "-v", &deep, image, "ls", "/"]));
        assert!(root.contains(&"srv".to_string()), "{image}: {root:?}");
        let srv = lines(&w.ok(&["run", "--rm", "-v", &deep, image, "ls", "/srv"]));
        assert_eq!(srv, ["data"], "{image}");
        // The image's own files are still there beside it.
        assert!(root.contains(&"etc".to_string()), "{image}: {root:?}");
        // A file can be a volume too.
        assert_eq!(
            w.ok(&["run", "--rm", "-v", &conf, image, "cat", "/etc/app.conf"]),
            "a file volume\n"
        );
        // Written through, read-only when asked.
        w.ok(&[
            "run",
            "--rm",
            "-v",
            &deep,
            image,
            "write",
            "/srv/data/w.txt",
            "hi",
        ]);
        assert_eq!(fs::read_to_string(vol.join("w.txt")).unwrap(), "hi");
        let out = w.cmd(&[
            "run",
            "--rm",
            "-v",
            &ro,
            image,
            "write",
            "/srv/data/no",
            "x",
        ]);
        assert!(!out.status.success(), "{image}: {}", describe(&out));
        assert!(!vol.join("no").exists());
        // A rename within the volume works; across mounts it fails (EXDEV
        // on Linux), and the file stays where it was.
        w.ok(&[
            "run",
            "--rm",
            "-v",
            &deep,
            image,
            "rename",
            "/srv/data/w.txt",
            "/srv/data/v.txt",
        ]);
        let out = w.cmd(&[
            "run",
            "--rm",
            "-v",
            &deep,
            image,
            "rename",
            "/srv/data/v.txt",
            "/moved.txt",
        ]);
        assert!(!out.status.success(), "{image}: {}", describe(&out));
        assert!(vol.join("v.txt").exists(), "{image}");
        fs::remove_file(vol.join("v.txt")).unwrap();
    }
    // Nothing was made on the host for the mount points.
    assert!(!w.root().join("srv").exists());
}

#[test]
fn a_kept_container_keeps_its_changes_across_starts() {
    let w = Wharf::new();
    w.build_hello();
    w.ok(&[
        "run", "--name", "keeper", "hello:1", "write", "/notes", "kept",
    ]);
    let id = w.inspect("keeper")["Id"].as_str().unwrap().to_string();
    let upper = w.root().join("containers").join(&id).join("upper");
    assert_eq!(fs::read_to_string(upper.join("notes")).unwrap(), "kept");
    // No mount of it is left on the host.
    let mounts = fs::read_to_string("/proc/self/mounts").unwrap();
    assert!(!mounts.contains(&id), "{mounts}");
    w.ok(&["rm", "keeper"]);
    assert!(!upper.exists());
}
