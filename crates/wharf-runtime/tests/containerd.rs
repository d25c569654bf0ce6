//! The real client: containerd (Debian's package) with a private config
//! drives `wharf-runtime` through its runc shim (`ctr run --runc-binary`):
//! a Linux image and a `wasi/wasm` image imported from OCI archives, output
//! and exit codes, `-d` + `ctr task kill`, `ctr task ps`, `ctr task exec`.
//! Needs root and scripts/setup.sh; fails (never skips) otherwise.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

const LINUX_IMAGE: &str = "docker.io/library/wharf-busybox:test";
const WASM_IMAGE: &str = "docker.io/library/wharf-hello:wasm";

/// A private containerd; killed (and its state removed) on drop.
struct Containerd {
    child: Child,
    dir: tempfile::TempDir,
    socket: PathBuf,
    namespace: String,
}

impl Containerd {
    fn start() -> Containerd {
        require_setup();
        assert!(
            Path::new("/usr/bin/containerd").exists() && Path::new("/usr/bin/ctr").exists(),
            "containerd is missing: run scripts/setup.sh"
        );
        let dir = tempfile::Builder::new()
            .prefix("wharf-ctrd")
            .tempdir_in("/tmp")
            .unwrap();
        let socket = dir.path().join("c.sock");
        let config = dir.path().join("config.toml");
        let d = dir.path().display();
        std::fs::write(
            &config,
            format!(
                r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{d}/c.sock"
[ttrpc]
  address = "{d}/c.sock.ttrpc"
[debug]
  address = "{d}/debug.sock"
"#
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("containerd.log")).unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting containerd");
        let c = Containerd {
            child,
            namespace: format!("wharf-test-{}", std::process::id()),
            socket,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if c.socket.exists() && c.ctr(&["version"]).status.success() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "containerd did not come up: {}",
                c.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        c
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    fn ctr_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("ctr");
        cmd.arg("--address")
            .arg(&self.socket)
            .args(["--namespace", &self.namespace])
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    fn ctr(&self, args: &[&str]) -> Output {
        self.ctr_cmd(args).output().unwrap()
    }

    /// `ctr` that must succeed.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.ctr(args);
        assert!(
            out.status.success(),
            "ctr {args:?} failed: {}{}",
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // Leave no task behind, then stop containerd.
        let tasks = self.ctr(&["task", "ls", "-q"]);
        for id in stdout(&tasks).lines() {
            let _ = self.ctr(&["task", "kill", "-s", "SIGKILL", id]);
            let _ = self.ctr(&["task", "delete", "-f", id]);
        }
        for id in stdout(&self.ctr(&["container", "ls", "-q"])).lines() {
            let _ = self.ctr(&["container", "delete", id]);
        }
        // SAFETY: signalling the child we spawned.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = std::fs::remove_dir_all(format!("/run/containerd/runc/{}", self.namespace));
        // containerd puts a task's cgroup at /<namespace>/<id> and leaves the
        // namespace's directory behind (cgroup v1: one per controller; v2: one).
        let cgroups = std::fs::read_dir("/sys/fs/cgroup").into_iter().flatten();
        for dir in cgroups.filter_map(|e| e.ok()).map(|e| e.path()) {
            let _ = std::fs::remove_dir(dir.join(&self.namespace));
        }
        let _ = std::fs::remove_dir(Path::new("/sys/fs/cgroup").join(&self.namespace));
        // Unmount anything containerd left mounted under its root.
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let root = self.dir.path().to_string_lossy().into_owned();
        for m in mounts.lines().rev() {
            if let Some(target) = m.split_whitespace().nth(1) {
                if target.starts_with(&root) {
                    let _ = nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH);
                }
            }
        }
    }
}

fn import_images(c: &Containerd) {
    let work = c.dir.path().join("images");
    std::fs::create_dir_all(&work).unwrap();

    let linux = work.join("linux");
    std::fs::create_dir_all(&linux).unwrap();
    let root = busybox_rootfs(&linux);
    let archive = work.join("linux.tar");
    oci_archive(
        &archive,
        LINUX_IMAGE,
        "amd64",
        "linux",
        &layer_of(&root),
        serde_json::json!({
            "Cmd": ["sh"],
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        }),
    );
    c.ok(&[
        "images",
        "import",
        "--all-platforms",
        archive.to_str().unwrap(),
    ]);

    let wasm = work.join("wasm");
    std::fs::create_dir_all(&wasm).unwrap();
    let root = wasm.join("rootfs");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::copy(hello_wasm_path(), root.join("hello.wasm")).unwrap();
    let archive = work.join("wasm.tar");
    oci_archive(
        &archive,
        WASM_IMAGE,
        "wasm",
        "wasi",
        &layer_of(&root),
        serde_json::json!({ "Entrypoint": ["/hello.wasm"] }),
    );
    c.ok(&[
        "images",
        "import",
        "--all-platforms",
        archive.to_str().unwrap(),
    ]);
    let images = c.ok(&["images", "ls", "-q"]);
    assert!(
        images.contains(LINUX_IMAGE) && images.contains(WASM_IMAGE),
        "{images}"
    );
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn containerd_runs_linux_and_wasm_images_through_wharf_runtime() {
    let c = Containerd::start();
    import_images(&c);
    let bin = runtime();
    let bin = bin.to_str().unwrap();

    // Linux: output and exit code.
    let out = c.ctr(&[
        "run",
        "--rm",
        "--runc-binary",
        bin,
        LINUX_IMAGE,
        "c1",
        "echo",
        "hi",
    ]);
    assert!(
        out.status.success(),
        "{}{}\n{}",
        stdout(&out),
        stderr(&out),
        c.log()
    );
    assert_eq!(stdout(&out), "hi\n");
    let out = c.ctr(&[
        "run",
        "--rm",
        "--runc-binary",
        bin,
        LINUX_IMAGE,
        "c1b",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(stdout(&out), "out\n");
    assert!(stderr(&out).contains("err"), "{}", stderr(&out));

    // Wasm: the wasi/wasm image, run inside the container by the runtime.
    let out = c.ctr(&[
        "run",
        "--rm",
        "--platform",
        "wasi/wasm",
        "--runc-binary",
        bin,
        WASM_IMAGE,
        "c2",
        "/hello.wasm",
    ]);
    assert!(
        out.status.success(),
        "{}{}\n{}",
        stdout(&out),
        stderr(&out),
        c.log()
    );
    assert!(
        stdout(&out).contains("Hello from WebAssembly!"),
        "{}",
        stdout(&out)
    );
    let out = c.ctr(&[
        "run",
        "--rm",
        "--platform",
        "wasi/wasm",
        "--runc-binary",
        bin,
        WASM_IMAGE,
        "c2b",
        "/hello.wasm",
        "exit",
        "5",
    ]);
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );

    // Detached Linux task: ps, exec, kill.
    c.ok(&[
        "run",
        "-d",
        "--runc-binary",
        bin,
        LINUX_IMAGE,
        "c3",
        "sleep",
        "300",
    ]);
    wait_for("c3 running", || {
        c.ok(&["task", "ls"])
            .lines()
            .any(|l| l.starts_with("c3 ") && l.contains("RUNNING"))
    });
    let ps = c.ok(&["task", "ps", "c3"]);
    assert_eq!(ps.lines().count(), 2, "one process expected: {ps}");
    let out = c.ctr(&["task", "exec", "--exec-id", "e1", "c3", "ps"]);
    assert!(
        out.status.success(),
        "{}{}\n{}",
        stdout(&out),
        stderr(&out),
        c.log()
    );
    assert!(stdout(&out).contains("sleep 300"), "{}", stdout(&out));
    let out = c.ctr(&[
        "task",
        "exec",
        "--exec-id",
        "e2",
        "c3",
        "sh",
        "-c",
        "exit 6",
    ]);
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    c.ok(&["task", "kill", "-s", "SIGKILL", "c3"]);
    wait_for("c3 stopped", || {
        c.ok(&["task", "ls"])
            .lines()
            .any(|l| l.starts_with("c3 ") && l.contains("STOPPED"))
    });
    c.ok(&["task", "delete", "c3"]);
    c.ok(&["container", "delete", "c3"]);

    // Detached Wasm task: a spinning guest stops on SIGTERM.
    c.ok(&[
        "run",
        "-d",
        "--platform",
        "wasi/wasm",
        "--runc-binary",
        bin,
        WASM_IMAGE,
        "c4",
        "/hello.wasm",
        "spin",
    ]);
    wait_for("c4 running", || {
        c.ok(&["task", "ls"])
            .lines()
            .any(|l| l.starts_with("c4 ") && l.contains("RUNNING"))
    });
    let ps = c.ok(&["task", "ps", "c4"]);
    assert_eq!(ps.lines().count(), 2, "{ps}");
    c.ok(&["task", "kill", "-s", "SIGTERM", "c4"]);
    wait_for("c4 stopped", || {
        c.ok(&["task", "ls"])
            .lines()
            .any(|l| l.starts_with("c4 ") && l.contains("STOPPED"))
    });
    c.ok(&["task", "delete", "c4"]);
    c.ok(&["container", "delete", "c4"]);

    // Nothing left in the runtime's state root for this namespace.
    let root = format!("/run/containerd/runc/{}", c.namespace);
    let left: Vec<_> = std::fs::read_dir(&root)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name())
                .filter(|n| !n.to_string_lossy().starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}
