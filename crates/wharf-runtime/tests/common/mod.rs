//! Shared helpers: bundles from busybox-static and the example Wasm guest,
//! OCI image archives for containerd, and running the runtime binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

pub const APPLETS: &[&str] = &[
    "sh", "echo", "cat", "sleep", "ps", "id", "ls", "hostname", "true", "false", "env",
];

pub fn runtime() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_wharf-runtime"))
}

/// Fails loudly (never skips) when the machine lacks what the tests need.
pub fn require_setup() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests need root (namespaces, cgroups, containerd)"
    );
    for (path, what) in [
        ("/bin/busybox", "busybox-static (scripts/setup.sh)"),
        (
            hello_wasm_path(),
            "examples/hello/hello.wasm (scripts/setup.sh)",
        ),
    ] {
        assert!(
            Path::new(path).exists(),
            "{path} is missing: install {what}"
        );
    }
}

pub fn hello_wasm_path() -> &'static str {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/hello/hello.wasm"
    )
}

/// A busybox rootfs under `dir/rootfs`.
pub fn busybox_rootfs(dir: &Path) -> PathBuf {
    let root = dir.join("rootfs");
    for d in ["bin", "etc", "proc", "sys", "dev", "tmp", "root"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    for a in APPLETS {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(a)).unwrap();
    }
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
    root
}

/// A rootfs holding only the example guest at `/hello.wasm` (and `/app`).
pub fn wasm_rootfs(dir: &Path) -> PathBuf {
    let root = dir.join("rootfs");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::copy(hello_wasm_path(), root.join("hello.wasm")).unwrap();
    std::fs::copy(hello_wasm_path(), root.join("app")).unwrap();
    root
}

/// Writes `dir/config.json` with `wharf-runtime spec`, then sets args
/// (no terminal) and annotations.
pub fn write_config(dir: &Path, args: &[&str], annotations: &[(&str, &str)]) {
    let _ = std::fs::remove_file(dir.join("config.json"));
    let out = Command::new(runtime())
        .args(["spec", "--bundle"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "spec: {out:?}");
    let path = dir.join("config.json");
    let mut c: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    c["process"]["terminal"] = false.into();
    c["process"]["args"] = serde_json::json!(args);
    if !annotations.is_empty() {
        let map: serde_json::Map<String, serde_json::Value> = annotations
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
            .collect();
        c["annotations"] = map.into();
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&c).unwrap()).unwrap();
}

/// Runs the runtime with `--root root` and the given args.
pub fn rt(root: &Path, args: &[&str]) -> Output {
    Command::new(runtime())
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn sha(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A tar layer of everything under `root` (paths relative to it).
pub fn layer_of(root: &Path) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    b.append_dir_all(".", root).unwrap();
    b.into_inner().unwrap()
}

/// An OCI image-layout archive (what `ctr images import` reads) with one
/// uncompressed layer, named `name` (e.g. docker.io/library/x:latest).
pub fn oci_archive(
    path: &Path,
    name: &str,
    arch: &str,
    os: &str,
    layer: &[u8],
    config: serde_json::Value,
) {
    let layer_digest = sha(layer);
    let image_config = serde_json::json!({
        "architecture": arch,
        "os": os,
        "config": config,
        "rootfs": { "type": "layers", "diff_ids": [layer_digest] },
    });
    let config_bytes = serde_json::to_vec(&image_config).unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": sha(&config_bytes),
            "size": config_bytes.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": layer_digest,
            "size": layer.len(),
        }],
    });
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    let tag = name.rsplit_once(':').map(|(_, t)| t).unwrap_or("latest");
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": sha(&manifest_bytes),
            "size": manifest_bytes.len(),
            "platform": { "architecture": arch, "os": os },
            "annotations": {
                "io.containerd.image.name": name,
                "org.opencontainers.image.ref.name": tag,
            },
        }],
    });
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    };
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    for blob in [layer, &config_bytes[..], &manifest_bytes[..]] {
        let d = sha(blob);
        add(&format!("blobs/sha256/{}", &d["sha256:".len()..]), blob);
    }
    add("index.json", &serde_json::to_vec(&index).unwrap());
    b.finish().unwrap();
}
