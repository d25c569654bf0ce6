//! `wharf bench`: Wasm and Linux containers measured side by side.
//!
//! The bench drives the `wharf` binary itself, as a user would, against a
//! private temporary store: it builds the `examples/` guests into Wasm (WASI
//! preview 1 module and preview 2 component) and Linux images with
//! `wharf build`, then measures image sizes, start-to-exit latency (cold and
//! warm), peak memory, CPU throughput relative to native, and density, next
//! to the peers installed on the machine (crun, runc, wasmtime, wasmer,
//! podman). It writes `report.md`, `results.json` (schema in docs/bench.md)
//! and SVG charts, and returns a markdown comparison table.

mod charts;
mod machine;
mod proc;
mod report;
pub mod results;
mod stats;
mod store;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use crate::proc::{Cmd, Sample};
use crate::results::*;

/// What to run and where to write.
#[derive(Debug, Clone)]
pub struct Config {
    /// The `wharf` binary to drive (normally the running one).
    pub wharf: PathBuf,
    /// The examples/ directory holding the built guests; found when None.
    pub examples: Option<PathBuf>,
    /// Where report.md, results.json and the charts go.
    pub output: PathBuf,
    /// Fewer iterations and smaller kernels (under 2 minutes).
    pub quick: bool,
    /// Override the number of measured runs per start-latency target.
    pub runs: Option<usize>,
    /// Override the number of warm-up runs.
    pub warmup: Option<usize>,
    /// Override the number of containers in the density test.
    pub density: Option<usize>,
    /// Version of the wharf binary (for the report).
    pub wharf_version: String,
    /// Version of the embedded wasmtime (for the report).
    pub wasmtime_version: String,
}

/// What a bench run produced.
pub struct Outcome {
    pub results: Results,
    /// The comparison table (markdown), for stdout.
    pub summary: String,
    pub output: PathBuf,
}

/// The default output directory: `./wharf-bench-YYYYMMDD-HHMMSS`.
pub fn default_output() -> PathBuf {
    PathBuf::from(format!("wharf-bench-{}", machine::now_stamp()))
}

/// The build profile of this code ("release" or "debug").
pub fn build_profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}

const PROGRAMS: [&str; 2] = ["hello", "cpu"];

/// One packaging of a program: (kind, tag, Dockerfile, platform).
const KINDS: [(&str, &str, &str, &str); 3] = [
    ("wasm-p1", "wasm", "Dockerfile", "wasi/wasm"),
    ("wasm-p2", "p2", "Dockerfile.p2", "wasip2/wasm"),
    ("linux", "linux", "Dockerfile.linux", "linux/amd64"),
];

fn artifact_name(program: &str, kind: &str) -> String {
    match kind {
        "wasm-p1" => format!("{program}.wasm"),
        "wasm-p2" => format!("{program}-p2.wasm"),
        _ => program.to_string(),
    }
}

fn image_of(program: &str, kind: &str) -> String {
    let tag = KINDS.iter().find(|k| k.0 == kind).map(|k| k.1).unwrap();
    format!("{program}:{tag}")
}

/// Finds examples/ with built guests: `explicit`, else `./examples`, else
/// the checkout the wharf binary was built in (…/target/<profile>/wharf).
pub fn find_examples(explicit: Option<&Path>, exe: &Path) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    let mut candidates = vec![PathBuf::from("examples")];
    for dir in exe.ancestors().skip(1).take(5) {
        candidates.push(dir.join("examples"));
    }
    candidates
        .into_iter()
        .find(|c| c.join("hello/Dockerfile").is_file())
        .map(|c| c.canonicalize().unwrap_or(c))
        .ok_or_else(|| {
            anyhow!(
                "cannot find the examples/ directory (run from the Wharf checkout or pass \
                 --examples DIR); build the guests with `bash scripts/setup.sh`"
            )
        })
}

fn settings(cfg: &Config) -> Settings {
    let mut s = if cfg.quick {
        Settings {
            runs: 30,
            warmup: 5,
            cold_runs: 3,
            cpu_reps: 5,
            sha256_mib: 16,
            nbody_steps: 1_000_000,
            density_n: 10,
            memory_sleep_s: 2.0,
        }
    } else {
        Settings {
            runs: 200,
            warmup: 20,
            cold_runs: 10,
            cpu_reps: 5,
            sha256_mib: 64,
            nbody_steps: 2_000_000,
            density_n: 50,
            memory_sleep_s: 2.0,
        }
    };
    if let Some(r) = cfg.runs {
        s.runs = r.max(1);
        s.cold_runs = s.cold_runs.min(s.runs);
        s.cpu_reps = s.cpu_reps.min(s.runs);
    }
    if let Some(w) = cfg.warmup {
        s.warmup = w;
    }
    if let Some(n) = cfg.density {
        s.density_n = n.max(1);
    }
    s
}

/// A start-latency target: a command run to completion, repeatedly.
struct Target {
    key: String,
    label: String,
    kind: String,
    runner: String,
    cmd: Cmd,
}

/// A CPU runner: a command prefix to which `KERNEL ARG` is appended.
struct CpuRunner {
    key: String,
    label: String,
    kind: String,
    runner: String,
    prefix: Cmd,
}

struct Bench<'a> {
    cfg: &'a Config,
    s: Settings,
    ex: PathBuf,
    root: PathBuf,
    work: PathBuf,
    pb: ProgressBar,
    load_max: f64,
    peers: Vec<Peer>,
    targets: Vec<Target>,
    cpu_runners: Vec<CpuRunner>,
}

/// Runs the whole bench and writes the output directory.
pub fn run(cfg: &Config) -> Result<Outcome> {
    let started = Instant::now();
    let started_at = machine::now_rfc3339();
    let load_before = machine::loadavg();
    let ex = find_examples(cfg.examples.as_deref(), &cfg.wharf)?;
    check_artifacts(&ex)?;
    let tmp = tempfile::Builder::new().prefix("wharf-bench-").tempdir()?;
    let root = tmp.path().join("root");
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&root)?;
    std::fs::create_dir_all(&work)?;
    let pb = ProgressBar::new(1);
    pb.set_style(
        ProgressStyle::with_template("wharf bench {elapsed:>4} [{bar:30}] {pos}/{len} {msg}")
            .unwrap()
            .progress_chars("=> "),
    );
    let mut b = Bench {
        cfg,
        s: settings(cfg),
        ex,
        root,
        work,
        pb,
        load_max: load_before[0],
        peers: Vec::new(),
        targets: Vec::new(),
        cpu_runners: Vec::new(),
    };
    let result = b.measure(started, started_at, load_before);
    b.cleanup();
    b.pb.finish_and_clear();
    drop(tmp);
    let results = result?;
    std::fs::create_dir_all(&cfg.output)
        .with_context(|| format!("creating {}", cfg.output.display()))?;
    let write = |name: &str, data: &[u8]| -> Result<()> {
        let p = cfg.output.join(name);
        std::fs::write(&p, data).with_context(|| format!("writing {}", p.display()))
    };
    write(
        "results.json",
        format!("{}\n", serde_json::to_string_pretty(&results)?).as_bytes(),
    )?;
    write("report.md", report::full(&results).as_bytes())?;
    charts::write_all(&results, &cfg.output)?;
    Ok(Outcome {
        summary: report::summary(&results),
        results,
        output: cfg.output.clone(),
    })
}

fn check_artifacts(ex: &Path) -> Result<()> {
    let mut missing = Vec::new();
    for p in PROGRAMS {
        for (kind, _, dockerfile, _) in KINDS {
            for f in [artifact_name(p, kind), dockerfile.to_string()] {
                let path = ex.join(p).join(&f);
                if !path.is_file() {
                    missing.push(path.display().to_string());
                }
            }
        }
    }
    if !missing.is_empty() {
        bail!(
            "missing example artifacts: {}; run `bash scripts/setup.sh` to build the guests \
             (wasm32-wasip1, wasm32-wasip2 and x86_64-unknown-linux-musl)",
            missing.join(", ")
        );
    }
    Ok(())
}

impl Bench<'_> {
    fn wharf(&self, args: &[&str]) -> Cmd {
        let mut argv = vec![
            self.cfg.wharf.to_string_lossy().into_owned(),
            "--root".into(),
            self.root.to_string_lossy().into_owned(),
        ];
        argv.extend(args.iter().map(|s| s.to_string()));
        let mut c = Cmd::new(&argv);
        c.env.push((
            "WHARF_ROOT".into(),
            self.root.to_string_lossy().into_owned(),
        ));
        c
    }

    fn path(&self, p: &Path) -> String {
        p.to_string_lossy().into_owned()
    }

    fn phase(&mut self, msg: &str) {
        self.pb.set_message(msg.to_string());
        self.load_max = self.load_max.max(machine::loadavg()[0]);
    }

    fn stderr_file(&self) -> PathBuf {
        self.work.join("stderr.txt")
    }

    /// Runs per target of the peak-RSS measurement.
    fn mem_runs(&self) -> usize {
        self.s.runs.min(10)
    }

    fn timed(&mut self, cmd: &Cmd) -> Result<Sample> {
        let s = proc::timed(cmd, &self.stderr_file());
        self.pb.inc(1);
        s
    }

    fn measure(
        &mut self,
        started: Instant,
        started_at: String,
        load_before: [f64; 3],
    ) -> Result<Results> {
        self.phase("building images");
        self.pb.set_length(6);
        let sizes = self.build_images()?;
        self.phase("finding peers");
        self.setup_peers()?;
        let s = self.s.clone();
        let n_targets = self.targets.len() as u64;
        let n_cpu = self.cpu_runners.len() as u64;
        let total = 6
            + 1
            + 2 * s.cold_runs as u64
            + n_targets * (s.warmup + s.runs + self.mem_runs()) as u64
            + 2 * n_cpu * (s.cpu_reps as u64 + 1)
            + 3;
        self.pb.set_length(total);

        let mut latency = self.cold_starts()?;
        let (warm, mut memory) = self.warm_starts()?;
        latency.extend(warm);
        self.phase("memory: Linux container cgroup peak");
        memory.insert(2, self.linux_cgroup_peak()?);
        let cpu = self.cpu()?;
        let density = self.density()?;
        self.phase("writing the report");
        let load_after = machine::loadavg();
        self.load_max = self.load_max.max(load_after[0]);
        let mut results = Results {
            schema: SCHEMA.into(),
            schema_version: SCHEMA_VERSION,
            mode: if self.cfg.quick { "quick" } else { "full" }.into(),
            started_at,
            duration_s: started.elapsed().as_secs_f64(),
            settings: s,
            machine: Machine {
                cpu_model: machine::cpu_model(),
                cores: machine::cores(),
                memory_bytes: machine::memory_bytes(),
                kernel: machine::kernel(),
                cgroup: machine::cgroup_layout(),
                load_before,
                load_after,
                load_max_1m: self.load_max,
            },
            versions: Versions {
                wharf: self.cfg.wharf_version.clone(),
                wharf_build: build_profile().into(),
                wasmtime_embedded: self.cfg.wasmtime_version.clone(),
            },
            peers: self.peers.clone(),
            sizes,
            latency,
            memory,
            cpu,
            density,
            goals: Vec::new(),
        };
        results.goals = report::goals(&results);
        Ok(results)
    }

    // --- images ---------------------------------------------------------------

    fn build_images(&mut self) -> Result<Vec<Size>> {
        let mut sizes = Vec::new();
        for program in PROGRAMS {
            for (kind, _, dockerfile, platform) in KINDS {
                let image = image_of(program, kind);
                self.pb.set_message(format!("wharf build {image}"));
                let ctx = self.ex.join(program);
                let cmd = self.wharf(&[
                    "build",
                    "-q",
                    "-f",
                    &self.path(&ctx.join(dockerfile)),
                    "--platform",
                    platform,
                    "-t",
                    &image,
                    &self.path(&ctx),
                ]);
                let sample = self
                    .timed(&cmd)
                    .with_context(|| format!("building {image}"))?;
                let (compressed, unpacked) = store::image_sizes(&self.root, &image)?;
                let artifact = artifact_name(program, kind);
                let artifact_bytes = std::fs::metadata(ctx.join(&artifact))?.len();
                sizes.push(Size {
                    kind: kind.into(),
                    program: program.into(),
                    image,
                    compressed_bytes: compressed,
                    unpacked_bytes: unpacked,
                    artifact_bytes,
                    artifact: format!("examples/{program}/{artifact}"),
                    build_ms: sample.ms,
                });
            }
        }
        Ok(sizes)
    }

    // --- peers ------------------------------------------------------------------

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

    fn peer(&mut self, name: &str, status: &str, path: Option<&Path>, note: Option<String>) {
        let version = path.and_then(|p| match name {
            "crun" | "runc" | "wharf-runtime" | "wasmtime" | "wasmer" | "podman" | "hyperfine" => {
                proc::version_of(p, &["--version"])
            }
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

    fn setup_peers(&mut self) -> Result<()> {
        let hello_native = self.ex.join("hello/hello");
        let cpu_native = self.ex.join("cpu/cpu");
        // Wharf itself, every kind, and bare native.
        for (kind, tag) in [("wasm-p1", "wasm"), ("wasm-p2", "p2"), ("linux", "linux")] {
            self.targets.push(Target {
                key: format!("wharf-{kind}"),
                label: format!("wharf run --rm hello:{tag}"),
                kind: kind.into(),
                runner: "wharf".into(),
                cmd: self.wharf(&["run", "--rm", &format!("hello:{tag}")]),
            });
            self.cpu_runners.push(CpuRunner {
                key: format!("wharf-{kind}"),
                label: format!("wharf run --rm cpu:{tag}"),
                kind: kind.into(),
                runner: "wharf".into(),
                prefix: self.wharf(&["run", "--rm", &format!("cpu:{tag}")]),
            });
        }
        self.targets.push(Target {
            key: "native".into(),
            label: "examples/hello/hello (native, no container)".into(),
            kind: "native".into(),
            runner: "native".into(),
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

    /// Writes a bundle for `rt` running `args` over `rootfs`; returns its dir.
    fn bundle(&self, rt: &Path, name: &str, rootfs: &Path, args: &[String]) -> Result<PathBuf> {
        let dir = self.work.join("bundles").join(name);
        std::fs::create_dir_all(&dir)?;
        let _ = std::fs::remove_file(dir.join("config.json"));
        proc::capture(&Cmd::new(&[
            self.path(rt),
            "spec".into(),
            "--bundle".into(),
            self.path(&dir),
        ]))?;
        let p = dir.join("config.json");
        let mut spec: Value = serde_json::from_slice(&std::fs::read(&p)?)?;
        spec["process"]["args"] = serde_json::json!(args);
        spec["process"]["terminal"] = Value::Bool(false);
        spec["root"]["path"] = Value::String(self.path(rootfs));
        spec["root"]["readonly"] = Value::Bool(true);
        std::fs::write(&p, serde_json::to_vec_pretty(&spec)?)?;
        Ok(dir)
    }

    /// `rt run` of a bundle, plain or (crun on a hybrid cgroup layout) inside
    /// a private mount namespace without the cgroup2 mount.
    fn oci_run_cmd(&self, rt: &Path, bundle: &Path, id: &str, wrapped: bool) -> Cmd {
        if wrapped {
            Cmd::new(&[
                "unshare".to_string(),
                "-m".into(),
                "--propagation".into(),
                "private".into(),
                "sh".into(),
                "-c".into(),
                format!(
                    "umount /sys/fs/cgroup/unified 2>/dev/null; exec {} run --bundle {} {}",
                    self.path(rt),
                    self.path(bundle),
                    id
                ),
            ])
        } else {
            Cmd::new(&[
                self.path(rt),
                "run".into(),
                "--bundle".into(),
                self.path(bundle),
                id.to_string(),
            ])
        }
    }

    /// `rt run` of the static hello with the spec `wharf run --rm
    /// hello:linux` gives it: Docker's defaults (seccomp profile, capability
    /// set, masked and read-only paths, cgroup namespace, /dev, the /etc
    /// files). A plain `rt spec` bundle has none of these, so this target
    /// tells Wharf's own cost apart from the cost of Docker's defaults. Only
    /// the overlay differs: the bundle runs over the plain rootfs.
    fn docker_defaults_target(
        &self,
        rt: &str,
        bin: &Path,
        rootfs: &Path,
        id: &str,
        wrapped: bool,
    ) -> Result<Target> {
        let name = format!("{rt}-docker");
        let dir = self.bundle(bin, &name, rootfs, &["/hello".into()])?;
        let plain: Value = serde_json::from_slice(&std::fs::read(dir.join("config.json"))?)?;
        let cname = format!("wharf-bench-spec-{}", std::process::id());
        proc::capture(&self.wharf(&["run", "--name", &cname, "hello:linux"]))?;
        let copied = (|| -> Result<Value> {
            let info: Value =
                serde_json::from_str(&proc::capture(&self.wharf(&["inspect", &cname]))?)?;
            let record = info[0]["LogPath"]
                .as_str()
                .and_then(|p| Path::new(p).parent())
                .context("`wharf inspect` shows no LogPath for the container")?
                .to_path_buf();
            let mut spec: Value =
                serde_json::from_slice(&std::fs::read(record.join("config.json"))?)?;
            // The /etc files Wharf wrote beside its record go with the bundle.
            for m in spec["mounts"].as_array_mut().into_iter().flatten() {
                let Some(src) = m["source"].as_str().map(PathBuf::from) else {
                    continue;
                };
                if let (true, Some(file)) = (src.starts_with(&record), src.file_name()) {
                    let to = dir.join(file);
                    std::fs::copy(&src, &to)?;
                    m["source"] = Value::String(self.path(&to));
                }
            }
            Ok(spec)
        })();
        let _ = proc::try_capture(&self.wharf(&["rm", "-f", &cname]));
        let mut spec = copied.context("reading the spec of `wharf run hello:linux`")?;
        // crun 1.8 refuses a spec version newer than the one it writes.
        spec["ociVersion"] = plain["ociVersion"].clone();
        spec["process"]["terminal"] = Value::Bool(false);
        spec["root"] = plain["root"].clone();
        spec["linux"]["cgroupsPath"] = Value::String(format!("/wharf-bench/{name}"));
        std::fs::write(dir.join("config.json"), serde_json::to_vec_pretty(&spec)?)?;
        let cmd = self.oci_run_cmd(bin, &dir, id, wrapped);
        let (ok, out) = proc::try_capture(&cmd);
        if !ok {
            self.oci_delete(bin, id);
            bail!("`{rt} run` of it failed: {}", out.trim());
        }
        Ok(Target {
            key: name,
            label: format!("{rt} run (hello with the spec of `wharf run`: Docker's defaults)"),
            kind: "linux".into(),
            runner: rt.into(),
            cmd,
        })
    }

    /// What a failed `rt run` may have left: `rt delete -f ID`.
    fn oci_delete(&self, rt: &Path, id: &str) {
        let _ = proc::try_capture(&Cmd::new(&[
            self.path(rt),
            "delete".into(),
            "-f".into(),
            id.into(),
        ]));
    }

    fn setup_oci_runtime(&mut self, rt: &str, bin: &Path, rootfs: &Path) -> Result<String> {
        let id = |what: &str| format!("wharf-bench-{}-{rt}-{what}", std::process::id());
        let hello = self.bundle(bin, &format!("{rt}-hello"), rootfs, &["/hello".into()])?;
        let mut wrapped = false;
        let (ok, out) = proc::try_capture(&self.oci_run_cmd(bin, &hello, &id("hello"), false));
        if !ok {
            self.oci_delete(bin, &id("hello"));
            let (ok2, out2) = if rt == "crun" && machine::cgroup_layout() == "hybrid" {
                proc::try_capture(&self.oci_run_cmd(bin, &hello, &id("hello"), true))
            } else {
                (false, String::new())
            };
            if !ok2 {
                bail!(
                    "`{rt} run` of a static hello bundle failed: {}{}",
                    out.trim(),
                    if out2.is_empty() {
                        String::new()
                    } else {
                        format!(" / in a private mount namespace: {}", out2.trim())
                    }
                );
            }
            wrapped = true;
        }
        let cmd = self.oci_run_cmd(bin, &hello, &id("hello"), wrapped);
        let note = if wrapped {
            format!(
                "{rt} run --bundle B ID inside `unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified; exec {rt} run ...'` ({rt} refuses this machine's hybrid cgroup layout); the wrapper's own cost is measured separately"
            )
        } else {
            format!("{rt} run --bundle B ID of a static hello bundle")
        };
        self.targets.push(Target {
            key: rt.into(),
            label: format!("{rt} run (static hello bundle)"),
            kind: "linux".into(),
            runner: rt.into(),
            cmd,
        });
        if wrapped {
            self.targets.push(Target {
                key: format!("{rt}-wrapper"),
                label: "unshare -m sh -c 'umount ...; exec true' (the wrapper alone)".into(),
                kind: "overhead".into(),
                runner: "unshare".into(),
                cmd: Cmd::new(&[
                    "unshare",
                    "-m",
                    "--propagation",
                    "private",
                    "sh",
                    "-c",
                    "umount /sys/fs/cgroup/unified 2>/dev/null; exec true",
                ]),
            });
        }
        // The same hello with the spec `wharf run` writes, so a runtime is
        // also timed doing Wharf's work. runc is left out: it is 3x slower
        // than crun already and would only lengthen the bench.
        let mut note = note;
        if rt != "runc" {
            match self.docker_defaults_target(rt, bin, rootfs, &id("docker"), wrapped) {
                Ok(target) => self.targets.push(target),
                Err(e) => {
                    note.push_str(&format!("; not timed with Wharf's spec: {e:#}"));
                }
            }
        }
        // CPU kernels: one bundle per (kernel, argument), written in cpu().
        // wharf-runtime is timed for its start only (issue 4): inside the
        // container it runs the same native code as crun.
        if rt == "wharf-runtime" {
            return Ok(note);
        }
        self.cpu_runners.push(CpuRunner {
            key: rt.into(),
            label: format!("{rt} run (static cpu bundle)"),
            kind: "linux".into(),
            runner: rt.into(),
            prefix: Cmd::new(&[
                self.path(bin),
                if wrapped {
                    "wrapped".into()
                } else {
                    "plain".into()
                },
            ]),
        });
        Ok(note)
    }

    fn setup_wasmtime(&mut self, bin: &Path) -> Result<()> {
        let mut compiled = Vec::new();
        for p in PROGRAMS {
            let out = self.work.join(format!("{p}.cwasm"));
            proc::capture(&Cmd::new(&[
                self.path(bin),
                "compile".into(),
                self.path(&self.ex.join(format!("{p}/{p}.wasm"))),
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
                self.path(&self.ex.join(format!("{p}/{p}.wasm"))),
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
        let out = proc::capture(&Cmd::new(&[
            self.path(bin),
            "load".into(),
            "-q".into(),
            "-i".into(),
            self.path(&archive),
        ]))?;
        let image = out
            .lines()
            .filter_map(|l| {
                l.split_once("Loaded image:")
                    .map(|(_, r)| r.trim().to_string())
            })
            .next_back()
            .ok_or_else(|| anyhow!("podman load printed no image name: {out}"))?;
        let cmd = Cmd::new(&[
            self.path(bin),
            "run".into(),
            "--rm".into(),
            "--network".into(),
            "none".into(),
            image.clone(),
        ]);
        proc::capture(&cmd)?;
        self.targets.push(Target {
            key: "podman".into(),
            label: format!("podman run --rm {image}"),
            kind: "linux".into(),
            runner: "podman".into(),
            cmd,
        });
        Ok(format!(
            "podman run --rm of hello:linux saved by wharf and loaded as {image}"
        ))
    }

    // --- start latency -------------------------------------------------------------

    fn cold_starts(&mut self) -> Result<Vec<Latency>> {
        let mut out = Vec::new();
        // Linux: the first run after the image's snapshot exists.
        self.phase("cold start: hello:linux (first run)");
        let cmd = self.wharf(&["run", "--rm", "hello:linux"]);
        let s = self.timed(&cmd)?;
        out.push(latency_of(
            "wharf-linux",
            "wharf run --rm hello:linux (first run)",
            "linux",
            "wharf",
            "cold",
            None,
            &[s],
        ));
        // Wasm: every run after deleting the compiled-code cache.
        for (kind, tag) in [("wasm-p1", "wasm"), ("wasm-p2", "p2")] {
            self.phase(&format!("cold start: hello:{tag} (cache/wasm deleted)"));
            let cmd = self.wharf(&["run", "--rm", &format!("hello:{tag}")]);
            let mut samples = Vec::new();
            for _ in 0..self.s.cold_runs {
                let cache = self.root.join("cache/wasm");
                if cache.exists() {
                    std::fs::remove_dir_all(&cache)?;
                }
                samples.push(self.timed(&cmd)?);
            }
            out.push(latency_of(
                &format!("wharf-{kind}"),
                &format!("wharf run --rm hello:{tag} (cache/wasm deleted)"),
                kind,
                "wharf",
                "cold",
                None,
                &samples,
            ));
        }
        Ok(out)
    }

    /// Warm-up, then `runs` rounds in which every target runs once (round
    /// robin, so drifting machine load hits every target alike), in two
    /// groups one after the other: plain processes (Wasm, native, wasmtime,
    /// wasmer), then Linux containers (wharf, crun and its wrapper, runc,
    /// podman). A Linux container leaves work to the kernel after it exits
    /// (its network namespace and cgroups are torn down by kernel workers);
    /// on two cores that slowed whatever ran next by about a millisecond,
    /// which is most of a Wasm start.
    fn warm_starts(&mut self) -> Result<(Vec<Latency>, Vec<Memory>)> {
        let cmds: Vec<Cmd> = self.targets.iter().map(|t| t.cmd.clone()).collect();
        let container = |t: &Target| {
            t.kind == "linux"
                || t.kind == "overhead"
                || matches!(
                    t.runner.as_str(),
                    "crun" | "runc" | "wharf-runtime" | "podman"
                )
        };
        let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); cmds.len()];
        for (group, containers) in [("processes", false), ("containers", true)] {
            let members: Vec<usize> = (0..cmds.len())
                .filter(|&i| container(&self.targets[i]) == containers)
                .collect();
            if members.is_empty() {
                continue;
            }
            self.phase(&format!("warm start ({group}): warm-up"));
            for _ in 0..self.s.warmup {
                for &i in &members {
                    self.timed(&cmds[i])?;
                }
            }
            for r in 0..self.s.runs {
                self.phase(&format!(
                    "warm start ({group}): round {}/{}",
                    r + 1,
                    self.s.runs
                ));
                for &i in &members {
                    samples[i].push(self.timed(&cmds[i])?);
                }
            }
        }
        let mut lat = Vec::new();
        for (t, s) in self.targets.iter().zip(&samples) {
            lat.push(latency_of(
                &t.key,
                &t.label,
                &t.kind,
                &t.runner,
                "warm",
                Some(self.s.warmup),
                s,
            ));
        }
        // Peak RSS: separate runs, through GNU time when it is installed.
        let time = proc::which("time");
        let mut mem = Vec::new();
        let n = self.mem_runs();
        for (i, timed) in samples.iter().enumerate() {
            let t = &self.targets[i];
            if t.kind == "overhead" {
                continue;
            }
            let (key, label) = if t.key == "wharf-linux" {
                (
                    "wharf-linux-engine".to_string(),
                    "wharf run --rm hello:linux: the engine process outside the container (largest process of the run)".to_string(),
                )
            } else if t.runner == "wharf" {
                (t.key.clone(), format!("{} (the whole process)", t.label))
            } else {
                (
                    t.key.clone(),
                    format!("{} (largest process of the run)", t.label),
                )
            };
            let (kind, cmd) = (t.kind.clone(), t.cmd.clone());
            self.phase(&format!("peak memory: {}", t.key));
            let mut rss = Vec::new();
            for x in timed.iter().take(n) {
                match &time {
                    Some(time) => {
                        rss.push(proc::peak_rss_gnu_time(time, &cmd, &self.work)? as f64);
                        self.pb.inc(1);
                    }
                    None => rss.push(x.maxrss_bytes as f64),
                }
            }
            mem.push(Memory {
                target: key,
                label,
                kind,
                method: if time.is_some() {
                    "maxrss-gnu-time".into()
                } else {
                    "maxrss-wait4".into()
                },
                peak_bytes: stats::median(&rss) as u64,
                max_bytes: stats::max(&rss) as u64,
                samples: rss.len(),
            });
        }
        Ok((lat, mem))
    }

    // --- memory ----------------------------------------------------------------------

    /// The memory cgroup peak of a detached `hello sleep S` Linux container,
    /// read until just before it exits.
    fn linux_cgroup_peak(&mut self) -> Result<Memory> {
        let secs = format!("{}", self.s.memory_sleep_s);
        let samples = if self.cfg.quick { 1 } else { 3 };
        let mut peaks = Vec::new();
        let mut method = "";
        for _ in 0..samples {
            let out = proc::capture(&self.wharf(&["run", "-d", "hello:linux", "sleep", &secs]))?;
            let id = out.trim().to_string();
            let deadline = Instant::now() + Duration::from_secs_f64(self.s.memory_sleep_s + 10.0);
            let mut last = None;
            let mut seen = false;
            while Instant::now() < deadline {
                match machine::container_memory_cgroup(&id) {
                    Some((dir, v2)) => {
                        seen = true;
                        if let Some(v) = machine::cgroup_peak(&dir, v2) {
                            last = Some(v);
                        }
                    }
                    None if seen => break,
                    None => {}
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = proc::capture(&self.wharf(&["rm", "-f", &id]));
            let (v, m) = last.ok_or_else(|| {
                anyhow!(
                    "cannot read the memory cgroup of Linux container {id} \
                     (looked in /sys/fs/cgroup/memory/wharf/{id} and /sys/fs/cgroup/wharf/{id})"
                )
            })?;
            method = m;
            peaks.push(v as f64);
        }
        self.pb.inc(1);
        Ok(Memory {
            target: "wharf-linux".into(),
            label: format!(
                "wharf run -d hello:linux sleep {secs}: the container's memory cgroup peak"
            ),
            kind: "linux".into(),
            method: method.into(),
            peak_bytes: stats::median(&peaks) as u64,
            max_bytes: stats::max(&peaks) as u64,
            samples: peaks.len(),
        })
    }

    // --- CPU ------------------------------------------------------------------------

    fn cpu_cmd(&mut self, r: &CpuRunner, kernel: &str, arg: u64) -> Result<Cmd> {
        if r.runner == "crun" || r.runner == "runc" {
            let bin = PathBuf::from(&r.prefix.argv[0]);
            let wrapped = r.prefix.argv[1] == "wrapped";
            let rootfs = self.work.join("rootfs");
            let name = format!("{}-cpu-{kernel}-{arg}", r.runner);
            let bundle = self.bundle(
                &bin,
                &name,
                &rootfs,
                &["/cpu".into(), kernel.into(), arg.to_string()],
            )?;
            let id = format!("wharf-bench-{}-{name}", std::process::id());
            return Ok(self.oci_run_cmd(&bin, &bundle, &id, wrapped));
        }
        let mut c = r.prefix.clone();
        c.argv.push(kernel.into());
        c.argv.push(arg.to_string());
        Ok(c)
    }

    fn cpu(&mut self) -> Result<Vec<Cpu>> {
        let mut out = Vec::new();
        let runners = std::mem::take(&mut self.cpu_runners);
        for (kernel, arg) in [("sha256", self.s.sha256_mib), ("nbody", self.s.nbody_steps)] {
            let cmds: Vec<Cmd> = runners
                .iter()
                .map(|r| self.cpu_cmd(r, kernel, arg))
                .collect::<Result<_>>()?;
            let mut expected: Option<String> = None;
            let mut samples: Vec<Vec<f64>> = vec![Vec::new(); cmds.len()];
            for rep in 0..=self.s.cpu_reps {
                self.phase(&format!(
                    "cpu {kernel} {arg}: {}",
                    if rep == 0 {
                        "warm-up".to_string()
                    } else {
                        format!("round {rep}/{}", self.s.cpu_reps)
                    }
                ));
                for (i, c) in cmds.iter().enumerate() {
                    let text = proc::capture(c)?;
                    self.pb.inc(1);
                    let (result, ms) = parse_kernel(&text).with_context(|| {
                        format!("`{}` printed no elapsed_ms line: {text}", c.shown())
                    })?;
                    match &expected {
                        None => expected = Some(result),
                        Some(e) if *e != result => bail!(
                            "`{}` computed a different result than native:\n{result}\nvs\n{e}",
                            c.shown()
                        ),
                        _ => {}
                    }
                    if rep > 0 {
                        samples[i].push(ms);
                    }
                }
            }
            let native =
                stats::median(&samples[runners.iter().position(|r| r.key == "native").unwrap()]);
            for (r, s) in runners.iter().zip(samples) {
                let med = stats::median(&s);
                out.push(Cpu {
                    kernel: kernel.into(),
                    arg,
                    target: r.key.clone(),
                    label: r.label.clone(),
                    kind: r.kind.clone(),
                    runner: r.runner.clone(),
                    reps: s.len(),
                    median_ms: med,
                    samples_ms: s,
                    time_ratio_to_native: med / native,
                });
            }
        }
        self.cpu_runners = runners;
        Ok(out)
    }

    // --- density ----------------------------------------------------------------------

    fn density(&mut self) -> Result<Vec<Density>> {
        let mut out = Vec::new();
        let n = self.s.density_n;
        for (kind, tag) in [("wasm-p1", "wasm"), ("wasm-p2", "p2"), ("linux", "linux")] {
            let image = format!("hello:{tag}");
            self.phase(&format!("density: {n} x {image} sleep 30"));
            let cmd = self.wharf(&["run", "-d", &image, "sleep", "30"]);
            let start = Instant::now();
            let children: Vec<std::io::Result<Child>> = (0..n)
                .map(|_| {
                    let mut c = Command::new(&cmd.argv[0]);
                    c.args(&cmd.argv[1..])
                        .envs(cmd.env.iter().cloned())
                        .stdin(Stdio::null())
                        .stdout(Stdio::piped())
                        .stderr(Stdio::piped());
                    c.spawn()
                })
                .collect();
            let mut ids = Vec::new();
            let mut errors = Vec::new();
            for ch in children {
                match ch.and_then(|c| c.wait_with_output()) {
                    Ok(o) if o.status.success() => {
                        ids.push(String::from_utf8_lossy(&o.stdout).trim().to_string())
                    }
                    Ok(o) => errors.push(String::from_utf8_lossy(&o.stderr).trim().to_string()),
                    Err(e) => errors.push(e.to_string()),
                }
            }
            let elapsed = start.elapsed().as_secs_f64() * 1000.0;
            let measured = self.density_memory(kind, &ids);
            let mut rm = vec!["rm", "-f"];
            rm.extend(ids.iter().map(String::as_str));
            if !ids.is_empty() {
                let _ = proc::capture(&self.wharf(&rm));
            }
            self.pb.inc(1);
            if !errors.is_empty() {
                bail!(
                    "density: {} of {n} `wharf run -d {image}` failed: {}",
                    errors.len(),
                    errors[0]
                );
            }
            let (total, rss_total, method) = measured?;
            out.push(Density {
                kind: kind.into(),
                image,
                n,
                start_all_ms: elapsed,
                per_container_ms: elapsed / n as f64,
                total_bytes: total,
                per_container_bytes: total / n as u64,
                rss_total_bytes: rss_total,
                method,
            });
        }
        Ok(out)
    }

    /// Memory held by running containers `ids`: their monitors' RSS, plus
    /// their memory cgroups' usage for Linux containers.
    fn density_memory(&self, kind: &str, ids: &[String]) -> Result<(u64, u64, String)> {
        std::thread::sleep(Duration::from_millis(200));
        let mut args = vec!["inspect"];
        args.extend(ids.iter().map(String::as_str));
        let v: Value = serde_json::from_str(&proc::capture(&self.wharf(&args))?)?;
        let (mut total, mut rss_total) = (0u64, 0u64);
        for c in v.as_array().into_iter().flatten() {
            let id = c["Id"].as_str().unwrap_or_default();
            if c["State"]["Running"] != Value::Bool(true) {
                bail!("density: container {id} is not running: {}", c["State"]);
            }
            let pid = c["State"]["Pid"].as_u64().unwrap_or(0) as u32;
            let rss = machine::rss_bytes(pid)
                .ok_or_else(|| anyhow!("density: no RSS for the monitor (pid {pid}) of {id}"))?;
            rss_total += rss;
            total += machine::pss_bytes(pid).unwrap_or(rss);
            if kind == "linux" {
                let (dir, v2) = machine::container_memory_cgroup(id)
                    .ok_or_else(|| anyhow!("density: no memory cgroup for container {id}"))?;
                let usage = machine::cgroup_usage(&dir, v2).unwrap_or(0);
                total += usage;
                rss_total += usage;
            }
        }
        let method = if kind == "linux" {
            "sum of the monitors' PSS + the containers' memory cgroup usage"
        } else {
            "sum of the monitors' PSS (each monitor runs its guest in-process)"
        };
        Ok((total, rss_total, method.into()))
    }

    /// Removes every container left in the private store, and the store's
    /// runtime state, which lives on a tmpfs outside it.
    fn cleanup(&self) {
        if let Ok(ids) = proc::capture(&self.wharf(&["ps", "-a", "-q"])) {
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f"];
                args.extend(ids);
                let _ = proc::capture(&self.wharf(&args));
            }
        }
        let state = wharf_engine::Engine::runtime_dir(&self.root);
        if !state.starts_with(&self.root) {
            let _ = std::fs::remove_dir_all(state);
        }
    }
}

/// (result lines, elapsed ms) of a `cpu` kernel's output.
fn parse_kernel(text: &str) -> Option<(String, f64)> {
    let mut ms = None;
    let mut result = Vec::new();
    for l in text.lines() {
        match l.trim().strip_prefix("elapsed_ms=") {
            Some(v) => ms = v.trim().parse::<f64>().ok(),
            None => result.push(l.trim()),
        }
    }
    // A kernel faster than the clock's millisecond still took time.
    ms.map(|m| (result.join("\n"), m.max(0.5)))
}

fn latency_of(
    key: &str,
    label: &str,
    kind: &str,
    runner: &str,
    phase: &str,
    warmup: Option<usize>,
    s: &[Sample],
) -> Latency {
    let ms: Vec<f64> = s.iter().map(|x| x.ms).collect();
    Latency {
        target: key.into(),
        label: label.into(),
        kind: kind.into(),
        runner: runner.into(),
        phase: phase.into(),
        runs: ms.len(),
        warmup,
        median_ms: stats::median(&ms),
        p95_ms: stats::percentile(&ms, 95.0),
        p99_ms: stats::percentile(&ms, 99.0),
        mean_ms: stats::mean(&ms),
        min_ms: stats::min(&ms),
        max_ms: stats::max(&ms),
        samples_ms: ms,
    }
}
