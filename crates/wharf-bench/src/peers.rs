//! The targets: Wharf in every packaging (also on a network, when netavark
//! is installed), native, and the peers installed on the machine (OCI
//! runtimes, wasmtime, wasmer, podman), each set up and checked once before
//! anything is timed.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};

use crate::guests::{KINDS, PROGRAMS};
use crate::network::NETAVARK;
use crate::proc::{self, Cmd};
use crate::results::Peer;
use crate::session::{Bench, CpuRunner, Target};

impl Bench<'_> {
    /// Sets up peer `name` found at `bin` (if found) and records how that
    /// went: not installed, measured (with `setup`'s note) or failed (why).
    fn try_peer(
        &mut self,
        name: &str,
        bin: Option<PathBuf>,
        setup: impl FnOnce(&mut Self, &Path) -> Result<String>,
    ) {
        match bin {
            None => self.peer(name, "not installed", None, None),
            Some(bin) => match setup(self, &bin) {
                Ok(note) => self.peer(name, "measured", Some(&bin), Some(note)),
                Err(e) => self.peer(name, "failed", Some(&bin), Some(format!("{e:#}"))),
            },
        }
    }

    /// Records peer `name` with `status`, and its version when found at `path`.
    pub(crate) fn peer(
        &mut self,
        name: &str,
        status: &str,
        path: Option<&Path>,
        note: Option<String>,
    ) {
        let version = path.and_then(|p| match name {
            "crun" | "runc" | "wharf-runtime" | "wasmtime" | "wasmtime serve" | "wasmer"
            | "podman" | "netavark" | "hyperfine" => proc::version_of(p, &["--version"]),
            "wrk" => proc::version_of(p, &["-v"]),
            _ => None,
        });
        self.peers.push(Peer {
            name: name.into(),
            status: status.into(),
            version,
            path: path.map(|p| p.display().to_string()),
            note,
        });
    }

    /// Wharf's own targets, native, and every peer installed: each found
    /// peer is set up and checked once, then added to the targets.
    pub(crate) fn setup_peers(&mut self) -> Result<()> {
        let hello_native = self.examples.join("hello/hello");
        let cpu_native = self.examples.join("cpu/cpu");
        // Wharf itself, every kind, and bare native.
        for (kind, tag, _, _) in KINDS {
            // `--network none`: a Linux container is otherwise on the
            // default network, and the peers it is compared with set none
            // up (the networked starts are targets of their own).
            self.targets.push(Target {
                key: format!("wharf-{kind}"),
                label: format!("wharf run --rm --network none hello:{tag}"),
                kind: kind.into(),
                runner: "wharf".into(),
                networked: false,
                cmd: self.wharf(&["run", "--rm", "--network", "none", &format!("hello:{tag}")]),
            });
            self.cpu_runners.push(CpuRunner {
                key: format!("wharf-{kind}"),
                label: format!("wharf run --rm cpu:{tag}"),
                kind: kind.into(),
                runner: "wharf".into(),
                prefix: self.wharf(&["run", "--rm", "--network", "none", &format!("cpu:{tag}")]),
            });
        }
        self.targets.push(Target {
            key: "native".into(),
            label: "examples/hello/hello (native, no container)".into(),
            kind: "native".into(),
            runner: "native".into(),
            networked: false,
            cmd: Cmd::new(&[self.path(&hello_native)]),
        });
        self.cpu_runners.push(CpuRunner {
            key: "native".into(),
            label: "examples/cpu/cpu (native)".into(),
            kind: "native".into(),
            runner: "native".into(),
            prefix: Cmd::new(&[self.path(&cpu_native)]),
        });

        // OCI runtimes run the same static binaries from a plain bundle.
        let rootfs = self.work.join("rootfs");
        std::fs::create_dir_all(&rootfs)?;
        std::fs::copy(&hello_native, rootfs.join("hello"))?;
        std::fs::copy(&cpu_native, rootfs.join("cpu"))?;
        // wharf-runtime is Wharf's own, so the one beside this wharf first.
        let beside = self.cfg.wharf.with_file_name("wharf-runtime");
        let ours = Some(beside).filter(|p| p.is_file());
        for rt in ["crun", "runc", "wharf-runtime"] {
            let found = match rt {
                "wharf-runtime" => ours.clone().or_else(|| proc::which(rt)),
                _ => proc::which(rt),
            };
            self.try_peer(rt, found, |b, bin| b.setup_oci_runtime(rt, bin, &rootfs));
        }
        self.try_peer("wasmtime", proc::which("wasmtime"), |b, bin| {
            b.setup_wasmtime(bin).map(|()| {
                "wasmtime run --allow-precompiled of modules precompiled with `wasmtime compile`"
                    .into()
            })
        });
        self.try_peer("wasmer", proc::which("wasmer"), |b, bin| {
            b.setup_wasmer(bin).map(|()| "wasmer run MODULE".into())
        });
        self.try_peer("podman", proc::which("podman"), |b, bin| {
            b.setup_podman(bin)
        });
        // Wharf's networked starts need netavark, where Wharf runs it from.
        let netavark = Some(PathBuf::from(NETAVARK)).filter(|p| p.is_file());
        self.try_peer("netavark", netavark, |b, _| b.setup_network());
        let hf = proc::which("hyperfine");
        let status = if hf.is_some() {
            "not used"
        } else {
            "not installed"
        };
        self.peer(
            "hyperfine",
            status,
            hf.as_deref(),
            Some("wharf bench times runs itself (spawn to wait4), like hyperfine -N".into()),
        );
        Ok(())
    }

    fn setup_wasmtime(&mut self, bin: &Path) -> Result<()> {
        let mut compiled = Vec::new();
        for p in PROGRAMS {
            let out = self.work.join(format!("{p}.cwasm"));
            proc::capture(&Cmd::new(&[
                self.path(bin),
                "compile".into(),
                self.path(&self.examples.join(format!("{p}/{p}.wasm"))),
                "-o".into(),
                self.path(&out),
            ]))?;
            compiled.push(out);
        }
        let run = |m: &Path| {
            Cmd::new(&[
                self.path(bin),
                "run".into(),
                "--allow-precompiled".into(),
                self.path(m),
            ])
        };
        let (hello, cpu) = (run(&compiled[0]), run(&compiled[1]));
        proc::capture(&hello)?;
        self.targets.push(Target {
            key: "wasmtime".into(),
            label: "wasmtime run --allow-precompiled hello.cwasm".into(),
            kind: "wasm-p1".into(),
            runner: "wasmtime".into(),
            networked: false,
            cmd: hello,
        });
        self.cpu_runners.push(CpuRunner {
            key: "wasmtime".into(),
            label: "wasmtime run --allow-precompiled cpu.cwasm".into(),
            kind: "wasm-p1".into(),
            runner: "wasmtime".into(),
            prefix: cpu,
        });
        Ok(())
    }

    fn setup_wasmer(&mut self, bin: &Path) -> Result<()> {
        let run = |p: &str| {
            Cmd::new(&[
                self.path(bin),
                "run".into(),
                self.path(&self.examples.join(format!("{p}/{p}.wasm"))),
                "--".into(),
            ])
        };
        let (hello, cpu) = (run("hello"), run("cpu"));
        proc::capture(&hello)?;
        self.targets.push(Target {
            key: "wasmer".into(),
            label: "wasmer run hello.wasm".into(),
            kind: "wasm-p1".into(),
            runner: "wasmer".into(),
            networked: false,
            cmd: hello,
        });
        self.cpu_runners.push(CpuRunner {
            key: "wasmer".into(),
            label: "wasmer run cpu.wasm".into(),
            kind: "wasm-p1".into(),
            runner: "wasmer".into(),
            prefix: cpu,
        });
        Ok(())
    }

    fn setup_podman(&mut self, bin: &Path) -> Result<String> {
        let archive = self.work.join("hello-linux.tar");
        proc::capture(&self.wharf(&["save", "-o", &self.path(&archive), "hello:linux"]))?;
        let store = PodmanStore::new(bin, &self.work.join("podman"))?;
        // Set before the first podman command: whatever it leaves is
        // removed at the end even when a later step fails.
        self.podman = Some(store.clone());
        let out = proc::capture(&store.cmd(&["load", "-q", "-i", &self.path(&archive)]))?;
        let image = out
            .lines()
            .filter_map(|l| {
                l.split_once("Loaded image:")
                    .map(|(_, r)| r.trim().to_string())
            })
            .next_back()
            .ok_or_else(|| anyhow!("podman load printed no image name: {out}"))?;
        let cmd = store.cmd(&["run", "--rm", "--network", "none", &image]);
        proc::capture(&cmd)?;
        self.targets.push(Target {
            key: "podman".into(),
            label: format!("podman run --rm {image}"),
            kind: "linux".into(),
            runner: "podman".into(),
            networked: false,
            cmd,
        });
        Ok(format!(
            "podman run --rm of hello:linux saved by wharf and loaded as {image}, in a private storage root the bench removes afterwards (the user's Podman store is not touched)"
        ))
    }
}

/// A Podman storage of the bench's own: images, containers, libpod's
/// database and its runtime state all under one scratch directory, so
/// loading hello:linux leaves nothing in the user's store.
#[derive(Debug, Clone)]
pub(crate) struct PodmanStore {
    bin: PathBuf,
    dir: PathBuf,
}

impl PodmanStore {
    fn new(bin: &Path, dir: &Path) -> Result<PodmanStore> {
        for sub in ["root", "runroot", "tmp"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        Ok(PodmanStore {
            bin: bin.to_path_buf(),
            dir: dir.to_path_buf(),
        })
    }

    /// `podman --root R --runroot RR --tmpdir T ARGS`.
    pub(crate) fn cmd(&self, args: &[&str]) -> Cmd {
        let p = |sub: &str| self.dir.join(sub).to_string_lossy().into_owned();
        let mut argv = vec![
            self.bin.to_string_lossy().into_owned(),
            "--root".into(),
            p("root"),
            "--runroot".into(),
            p("runroot"),
            "--tmpdir".into(),
            p("tmp"),
        ];
        argv.extend(args.iter().map(|a| a.to_string()));
        Cmd::new(&argv)
    }

    /// Removes its containers and images, then whatever the storage
    /// driver still has mounted under it (deepest first), then the
    /// directory. Best effort: the bench's result must not depend on it.
    pub(crate) fn remove(self) {
        let _ = proc::try_capture(&self.cmd(&["rm", "-a", "-f"]));
        let _ = proc::try_capture(&self.cmd(&["rmi", "-a", "-f"]));
        let mut mounts = mounts_under(&self.dir);
        mounts.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
        for m in mounts {
            if let Ok(c) = std::ffi::CString::new(m.as_os_str().as_encoded_bytes()) {
                // SAFETY: a valid NUL-terminated path; MNT_DETACH only
                // detaches the mount, it touches no memory of ours.
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The mount points at or under `dir`, from /proc/self/mountinfo.
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        // mountinfo escapes spaces and the like as octal: \040.
        .map(|p| PathBuf::from(p.replace("\\040", " ")))
        .filter(|p| p.starts_with(dir))
        .collect()
}
