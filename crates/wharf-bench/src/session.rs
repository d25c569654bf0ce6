//! One bench run: the state every measurement shares (the private store,
//! scratch space, progress bar, targets found), the helpers that run the
//! `wharf` binary against that store, the order the measurements run in,
//! and the cleanup afterwards.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use indicatif::ProgressBar;

use crate::proc::{self, Cmd, Sample};
use crate::results::*;
use crate::{build_profile, machine, report, Config};

/// A start-latency target: a command run to completion, repeatedly.
pub(crate) struct Target {
    pub(crate) key: String,
    pub(crate) label: String,
    pub(crate) kind: String,
    pub(crate) runner: String,
    /// A container on the bench's network (`wharf run --network`): its
    /// netavark setup and teardown make a run some hundred milliseconds,
    /// so it gets the fewer runs of `Settings::network_runs` and no
    /// peak-memory runs.
    pub(crate) networked: bool,
    pub(crate) cmd: Cmd,
}

/// A CPU runner: a command prefix to which `KERNEL ARG` is appended.
pub(crate) struct CpuRunner {
    pub(crate) key: String,
    pub(crate) label: String,
    pub(crate) kind: String,
    pub(crate) runner: String,
    pub(crate) prefix: Cmd,
}

/// One bench run: the private store it drives, its scratch directory,
/// its progress, and what it has found to measure so far.
pub(crate) struct Bench<'a> {
    pub(crate) cfg: &'a Config,
    /// How many runs of each measurement.
    pub(crate) settings: Settings,
    /// The examples/ directory holding the built guests.
    pub(crate) examples: PathBuf,
    /// The private store (`wharf --root`).
    pub(crate) root: PathBuf,
    /// Scratch space: bundles, rootfs, precompiled modules, stderr.
    pub(crate) work: PathBuf,
    pub(crate) pb: ProgressBar,
    /// The highest 1-minute load average seen so far.
    pub(crate) load_max: f64,
    pub(crate) peers: Vec<Peer>,
    pub(crate) targets: Vec<Target>,
    pub(crate) cpu_runners: Vec<CpuRunner>,
    /// The bench's own network in the private store, while it exists.
    pub(crate) network: Option<String>,
    /// Podman's private storage (`podman --root/--runroot/--tmpdir`
    /// under `work`), once podman was set up: the user's own Podman store
    /// is never written.
    pub(crate) podman: Option<crate::peers::PodmanStore>,
}

impl Bench<'_> {
    /// `wharf --root STORE ARGS` on the private store (WHARF_ROOT set too,
    /// so nothing the binary starts can reach the user's store).
    pub(crate) fn wharf(&self, args: &[&str]) -> Cmd {
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

    pub(crate) fn path(&self, p: &Path) -> String {
        p.to_string_lossy().into_owned()
    }

    pub(crate) fn phase(&mut self, msg: &str) {
        self.pb.set_message(msg.to_string());
        self.load_max = self.load_max.max(machine::loadavg()[0]);
    }

    pub(crate) fn stderr_file(&self) -> PathBuf {
        self.work.join("stderr.txt")
    }

    pub(crate) fn timed(&mut self, cmd: &Cmd) -> Result<Sample> {
        let s = proc::timed(cmd, &self.stderr_file());
        self.pb.inc(1);
        s
    }

    /// Builds the images, finds the peers, times every family of targets in
    /// turn and assembles the results (goals included).
    pub(crate) fn measure(
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
        let settings = self.settings.clone();
        let s = &settings;
        let n_networked = self.targets.iter().filter(|t| t.networked).count() as u64;
        let n_targets = self.targets.len() as u64 - n_networked;
        let n_cpu = self.cpu_runners.len() as u64;
        let total = 6
            + 1
            + 14 * s.cold_runs as u64
            + n_targets * (s.warmup + s.runs + self.mem_runs()) as u64
            + n_networked * (s.network_warmup + s.network_runs) as u64
            + 2 * n_cpu * (s.cpu_reps as u64 + 1)
            + 3
            + 4;
        self.pb.set_length(total);

        let mut latency = self.cold_starts()?;
        let (warm, warm_samples) = self.warm_starts()?;
        self.remove_network()?;
        latency.extend(warm);
        let mut memory = self.peak_rss(&warm_samples)?;
        self.phase("memory: Linux container cgroup peak");
        memory.insert(2, self.linux_cgroup_peak()?);
        let cpu = self.cpu()?;
        let density = self.density()?;
        let http = self.http()?;
        self.phase("writing the report");
        let load_after = machine::loadavg();
        self.load_max = self.load_max.max(load_after[0]);
        let mut results = Results {
            schema: SCHEMA.into(),
            schema_version: SCHEMA_VERSION,
            mode: if self.cfg.quick { "quick" } else { "full" }.into(),
            started_at,
            duration_s: started.elapsed().as_secs_f64(),
            settings,
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
            http,
            goals: Vec::new(),
        };
        results.goals = report::goals(&results);
        Ok(results)
    }

    /// `wharf rm -f IDS`, best effort: a failure here must not hide the
    /// measurement's own result, and cleanup() removes whatever is left.
    pub(crate) fn remove_containers<S: AsRef<str>>(&self, ids: &[S]) {
        if ids.is_empty() {
            return;
        }
        let mut args = vec!["rm", "-f"];
        args.extend(ids.iter().map(AsRef::as_ref));
        let _ = proc::try_capture(&self.wharf(&args));
    }

    /// Removes every container left in the private store, then the bench's
    /// network (its containers detached from it first, so nothing of it
    /// stays on the host), and the store's runtime state, which lives on a
    /// tmpfs outside it.
    pub(crate) fn cleanup(&mut self) {
        if let Ok(ids) = proc::capture(&self.wharf(&["ps", "-a", "-q"])) {
            let ids: Vec<&str> = ids.split_whitespace().collect();
            self.remove_containers(&ids);
        }
        let _ = self.remove_network();
        if let Some(podman) = self.podman.take() {
            podman.remove();
        }
        let state = wharf_engine::Engine::runtime_dir(&self.root);
        if !state.starts_with(&self.root) {
            let _ = std::fs::remove_dir_all(state);
        }
    }
}
