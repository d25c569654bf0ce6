//! Start-to-exit latency of every target: cold starts (first run, empty
//! compiled-code cache) and warm starts (round robins after a warm-up;
//! networked containers in one of their own, with fewer rounds).

use anyhow::Result;

use crate::proc::{Cmd, Sample};
use crate::results::Latency;
use crate::session::{Bench, Target};
use crate::stats;

impl Bench<'_> {
    /// Deletes the store's compiled-code cache, so the next Wasm run or
    /// build compiles.
    fn empty_code_cache(&self) -> Result<()> {
        let cache = self.root.join("cache/wasm");
        if cache.exists() {
            std::fs::remove_dir_all(&cache)?;
        }
        Ok(())
    }

    /// Cold starts: a Linux container's first run, and Wasm runs with the
    /// compiled-code cache deleted before each.
    pub(crate) fn cold_starts(&mut self) -> Result<Vec<Latency>> {
        let mut out = Vec::new();
        // Linux: the first run after the image's snapshot exists.
        self.phase("cold start: hello:linux (first run)");
        // Without a network, like the peers it is compared with.
        let cmd = self.wharf(&["run", "--rm", "--network", "none", "hello:linux"]);
        let s = self.timed(&cmd)?;
        out.push(latency_of(
            "wharf-linux",
            "wharf run --rm --network none hello:linux (first run)",
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
            for _ in 0..self.settings.cold_runs {
                self.empty_code_cache()?;
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
        // Wasm: the first run right after `wharf build`, which compiles
        // the module into the cache (emptied first), as a pull does. Its
        // control is the same sequence with the code already cached (the
        // build compiles nothing): the build, then a Linux hello (the
        // wharf binary and the CPU caches warm again after the build, which
        // slowed any next run by ~1.5 ms here, artifact or not), then the
        // timed run. The two alternate.
        let between = self.wharf(&["run", "--rm", "--network", "none", "hello:linux"]);
        for (kind, tag) in [("wasm-p1", "wasm"), ("wasm-p2", "p2")] {
            self.phase(&format!("first run after build: hello:{tag}"));
            let build = self.build_cmd("hello", kind)?;
            let cmd = self.wharf(&["run", "--rm", &format!("hello:{tag}")]);
            let (mut first, mut control) = (Vec::new(), Vec::new());
            for _ in 0..self.settings.cold_runs {
                for compiled in [false, true] {
                    if compiled {
                        self.empty_code_cache()?;
                    }
                    self.timed(&build)?;
                    self.timed(&between)?;
                    let s = self.timed(&cmd)?;
                    if compiled { &mut first } else { &mut control }.push(s);
                }
            }
            for (phase, what, samples) in [
                ("after-build", "first run after `wharf build`", &first),
                (
                    "after-build-control",
                    "run after `wharf build` of an image whose code was cached",
                    &control,
                ),
            ] {
                out.push(latency_of(
                    &format!("wharf-{kind}"),
                    &format!("wharf run --rm hello:{tag} ({what})"),
                    kind,
                    "wharf",
                    phase,
                    None,
                    samples,
                ));
            }
        }
        Ok(out)
    }

    /// Warm-up, then rounds in which every target runs once (round robin,
    /// so drifting machine load hits every target alike), in three groups
    /// one after the other: plain processes (Wasm, native, wasmtime,
    /// wasmer); containers with namespaces of their own (Linux ones: wharf,
    /// crun and its wrapper, runc, podman); and Wharf's networked ones, Wasm
    /// included. Containers leave work to the kernel after they exit (their
    /// network namespace and cgroups are torn down by kernel workers); on two
    /// cores that slowed whatever ran next by about a millisecond, which is
    /// most of a Wasm start, and a networked start by several (docs/bench.md
    /// has the figures). A networked target runs
    /// `network_runs` times after `network_warmup` warm-up runs, each run
    /// after the first taking over the namespace the one before left (the
    /// pool). Returns the latencies and every target's samples (in `targets`
    /// order), which the peak-RSS runs reuse.
    pub(crate) fn warm_starts(&mut self) -> Result<(Vec<Latency>, Vec<Vec<Sample>>)> {
        let cmds: Vec<Cmd> = self.targets.iter().map(|t| t.cmd.clone()).collect();
        let group_of = |t: &Target| {
            if t.networked {
                Group::Networked
            } else if t.kind == "linux"
                || t.kind == "overhead"
                || matches!(
                    t.runner.as_str(),
                    "crun" | "runc" | "wharf-runtime" | "podman"
                )
            {
                Group::Containers
            } else {
                Group::Processes
            }
        };
        // (warm-up runs, measured runs) of every target.
        let counts: Vec<(usize, usize)> = self
            .targets
            .iter()
            .map(|t| {
                let s = &self.settings;
                if t.networked {
                    (s.network_warmup, s.network_runs)
                } else {
                    (s.warmup, s.runs)
                }
            })
            .collect();
        let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); cmds.len()];
        for group in [Group::Processes, Group::Containers, Group::Networked] {
            let members: Vec<usize> = (0..cmds.len())
                .filter(|&i| group_of(&self.targets[i]) == group)
                .collect();
            if members.is_empty() {
                continue;
            }
            let warmup_rounds = members.iter().map(|&i| counts[i].0).max().unwrap_or(0);
            let rounds = members.iter().map(|&i| counts[i].1).max().unwrap_or(0);
            let group = group.name();
            self.phase(&format!("warm start ({group}): warm-up"));
            for w in 0..warmup_rounds {
                for &i in members.iter().filter(|&&i| w < counts[i].0) {
                    self.timed(&cmds[i])?;
                }
            }
            for r in 0..rounds {
                self.phase(&format!("warm start ({group}): round {}/{rounds}", r + 1));
                for &i in members
                    .iter()
                    .filter(|&&i| takes_part(r, counts[i].1, rounds))
                {
                    samples[i].push(self.timed(&cmds[i])?);
                }
            }
        }
        let mut lat = Vec::new();
        for ((t, s), (warmup, _)) in self.targets.iter().zip(&samples).zip(&counts) {
            lat.push(latency_of(
                &t.key,
                &t.label,
                &t.kind,
                &t.runner,
                "warm",
                Some(*warmup),
                s,
            ));
        }
        Ok((lat, samples))
    }
}

/// The round robins of the warm starts, measured one after the other.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Group {
    Processes,
    Containers,
    Networked,
}

impl Group {
    fn name(self) -> &'static str {
        match self {
            Group::Processes => "processes",
            Group::Containers => "containers",
            Group::Networked => "networked containers",
        }
    }
}

/// Whether a target measured `runs` times takes part in round `round` of
/// `rounds`: every round when `runs` is `rounds`, else `runs` rounds spread
/// evenly over them (the last of each stretch of `rounds / runs`), so the
/// target sees the same drift in machine load as the others.
fn takes_part(round: usize, runs: usize, rounds: usize) -> bool {
    (round + 1) * runs / rounds > round * runs / rounds
}

/// The statistics of samples `s` of target `key` in `phase` (cold/warm).
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
        q1_ms: stats::quantile(&ms, 0.25),
        q3_ms: stats::quantile(&ms, 0.75),
        p95_ms: stats::percentile(&ms, 95.0),
        p99_ms: stats::percentile(&ms, 99.0),
        mean_ms: stats::mean(&ms),
        min_ms: stats::min(&ms),
        max_ms: stats::max(&ms),
        samples_ms: ms,
    }
}

#[cfg(test)]
mod tests {
    use super::takes_part;

    fn rounds_taken(runs: usize, rounds: usize) -> Vec<usize> {
        (0..rounds)
            .filter(|&r| takes_part(r, runs, rounds))
            .collect()
    }

    #[test]
    fn fewer_runs_are_spread_evenly_over_the_rounds() {
        assert_eq!(rounds_taken(5, 30), [5, 11, 17, 23, 29]);
        assert_eq!(rounds_taken(20, 200).len(), 20);
        assert_eq!(rounds_taken(3, 3), [0, 1, 2]);
        assert_eq!(rounds_taken(5, 7).len(), 5);
        assert!(rounds_taken(0, 30).is_empty());
    }
}
