//! Healthchecks (`run --health-cmd` and friends; Compose's `healthcheck:`
//! counts the same way through [`Tracker`]). With no daemon, a detached
//! container's monitor is what probes it: a thread that, while the
//! container runs, execs the test in it every interval (through `wharf
//! exec`, a process of its own, so a hanging test is killed at its timeout
//! and the monitor never forks while libcontainer clones) and writes
//! Docker's `State.Health` to `containers/<id>/health.json`, which only the
//! monitor writes. `inspect` shows that file; `ps` adds "(healthy)",
//! "(unhealthy)" or "(health: starting)" to STATUS.

use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::fsutil::{now_rfc3339, write_atomic};
use crate::{Error, Result};

/// Docker's healthcheck timing, defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub interval: Duration,
    pub timeout: Duration,
    pub retries: u64,
    pub start_period: Duration,
}

impl Timing {
    /// Docker's defaults (interval 30s, timeout 30s, 3 retries, no start
    /// period) where `None`; at least one retry.
    pub fn new(
        interval: Option<Duration>,
        timeout: Option<Duration>,
        retries: Option<u64>,
        start_period: Option<Duration>,
    ) -> Timing {
        Timing {
            interval: interval.unwrap_or(Duration::from_secs(30)),
            timeout: timeout.unwrap_or(Duration::from_secs(30)),
            retries: retries.unwrap_or(3).max(1),
            start_period: start_period.unwrap_or_default(),
        }
    }
}

/// What a container's health is, as Docker names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Starting,
    Healthy,
    Unhealthy,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Starting => "starting",
            Verdict::Healthy => "healthy",
            Verdict::Unhealthy => "unhealthy",
        }
    }
}

/// Docker's counting: a success is healthy at once and clears the streak;
/// failures count only after the start period, and `retries` of them in a
/// row are unhealthy.
#[derive(Debug, Clone)]
pub struct Tracker {
    began: Instant,
    timing: Timing,
    /// Consecutive failures that counted.
    pub failing_streak: u64,
    pub verdict: Verdict,
}

impl Tracker {
    pub fn new(timing: Timing) -> Tracker {
        Tracker {
            began: Instant::now(),
            timing,
            failing_streak: 0,
            verdict: Verdict::Starting,
        }
    }

    /// Counts one probe's result; returns the health it leaves.
    pub fn record(&mut self, healthy: bool) -> Verdict {
        if healthy {
            self.failing_streak = 0;
            self.verdict = Verdict::Healthy;
        } else if self.began.elapsed() >= self.timing.start_period {
            self.failing_streak += 1;
            if self.failing_streak >= self.timing.retries {
                self.verdict = Verdict::Unhealthy;
            }
        }
        self.verdict
    }
}

/// A container's healthcheck as `inspect` shows it (`Config.Healthcheck`:
/// durations in nanoseconds, 0 for Docker's default).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    /// `["CMD-SHELL", line]` or `["CMD", words...]`.
    pub test: Vec<String>,
    #[serde(default)]
    pub interval: u64,
    #[serde(default)]
    pub timeout: u64,
    #[serde(default)]
    pub start_period: u64,
    #[serde(default)]
    pub retries: u64,
}

/// `run`'s healthcheck flags, as given.
#[derive(Debug, Clone, Default)]
pub struct HealthFlags {
    pub cmd: Option<String>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub retries: Option<u64>,
    pub start_period: Option<String>,
    pub none: bool,
}

impl HealthFlags {
    /// The healthcheck to record, checked (None without `--health-cmd`).
    pub fn config(&self) -> Result<Option<HealthConfig>> {
        let tuned = self.interval.is_some()
            || self.timeout.is_some()
            || self.retries.is_some()
            || self.start_period.is_some();
        if self.none {
            if self.cmd.is_some() || tuned {
                return Err(Error::InvalidArgument(
                    "--no-healthcheck conflicts with --health-* options; give one or the other"
                        .into(),
                ));
            }
            return Ok(None);
        }
        let Some(cmd) = &self.cmd else {
            if tuned {
                return Err(Error::InvalidArgument(
                    "--health-interval, --health-timeout, --health-retries and --health-start-period need --health-cmd (Wharf does not read an image's HEALTHCHECK)".into(),
                ));
            }
            return Ok(None);
        };
        if cmd.trim().is_empty() {
            return Err(Error::InvalidArgument(
                "--health-cmd is empty: give the command that exits 0 when the container is healthy".into(),
            ));
        }
        let duration = |flag: &str, v: &Option<String>| -> Result<u64> {
            let Some(v) = v else { return Ok(0) };
            let d = humantime::parse_duration(v).map_err(|e| {
                Error::InvalidArgument(format!(
                    "invalid {flag} \"{v}\": {e}; give a duration such as 30s, 500ms or 1m30s"
                ))
            })?;
            if d < Duration::from_millis(1) {
                return Err(Error::InvalidArgument(format!(
                    "invalid {flag} \"{v}\": it must be at least 1ms"
                )));
            }
            Ok(d.as_nanos() as u64)
        };
        Ok(Some(HealthConfig {
            test: vec!["CMD-SHELL".to_string(), cmd.clone()],
            interval: duration("--health-interval", &self.interval)?,
            timeout: duration("--health-timeout", &self.timeout)?,
            start_period: duration("--health-start-period", &self.start_period)?,
            retries: self.retries.unwrap_or(0),
        }))
    }
}

impl HealthConfig {
    pub fn timing(&self) -> Timing {
        let d = |ns: u64| (ns > 0).then(|| Duration::from_nanos(ns));
        Timing::new(
            d(self.interval),
            d(self.timeout),
            (self.retries > 0).then_some(self.retries),
            d(self.start_period),
        )
    }

    /// The command exec'd in the container.
    fn argv(&self) -> Vec<String> {
        match self.test.split_first() {
            Some((kind, rest)) if kind == "CMD-SHELL" => {
                vec!["/bin/sh".into(), "-c".into(), rest.join(" ")]
            }
            Some((kind, rest)) if kind == "CMD" => rest.to_vec(),
            _ => self.test.clone(),
        }
    }
}

/// `State.Health` as Docker shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    pub status: String,
    pub failing_streak: u64,
    pub log: Vec<Probe>,
}

/// One probe, as Docker's `State.Health.Log` entries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Probe {
    pub start: String,
    pub end: String,
    pub exit_code: i32,
    pub output: String,
}

/// Docker keeps the last five probes.
const LOG_KEPT: usize = 5;
/// And at most 4 KiB of each one's output.
const OUTPUT_KEPT: u64 = 4096;

pub(crate) fn path(container_dir: &Path) -> PathBuf {
    container_dir.join("health.json")
}

/// The recorded health of a container (None when it has no healthcheck or
/// has not started).
pub(crate) fn read(container_dir: &Path) -> Option<Health> {
    let bytes = std::fs::read(path(container_dir)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn write(container_dir: &Path, health: &Health) {
    let bytes = serde_json::to_vec(health).expect("health serializes");
    // Best effort: a full disk must not stop the container it describes.
    let _ = write_atomic(&path(container_dir), &bytes);
}

/// The monitor's probing thread for one run of the container; dropped
/// (stopped and joined) when that run ends.
pub(crate) struct Checker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Checker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts probing the running container `id` (records in `dir`).
pub(crate) fn start(root: &Path, id: &str, dir: &Path, config: &HealthConfig) -> Checker {
    let stop = Arc::new(AtomicBool::new(false));
    let mut health = Health {
        status: Verdict::Starting.as_str().into(),
        ..Health::default()
    };
    write(dir, &health);
    let (root, id, dir, config) = (
        root.to_path_buf(),
        id.to_string(),
        dir.to_path_buf(),
        config.clone(),
    );
    let flag = stop.clone();
    let thread = std::thread::Builder::new()
        .name("wharf-health".into())
        .spawn(move || {
            let timing = config.timing();
            let mut tracker = Tracker::new(timing);
            // Docker's first probe comes one interval after the start.
            while sleep_unless_stopped(&flag, timing.interval) {
                let start = now_rfc3339();
                let (exit_code, output) =
                    probe(&root, &id, &dir, &config.argv(), timing.timeout, &flag);
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                let verdict = tracker.record(exit_code == 0);
                health.status = verdict.as_str().into();
                health.failing_streak = tracker.failing_streak;
                health.log.push(Probe {
                    start,
                    end: now_rfc3339(),
                    exit_code,
                    output,
                });
                let excess = health.log.len().saturating_sub(LOG_KEPT);
                health.log.drain(..excess);
                write(&dir, &health);
            }
        })
        .ok();
    Checker { stop, thread }
}

/// Sleeps `d` in short steps; false once asked to stop.
fn sleep_unless_stopped(stop: &AtomicBool, d: Duration) -> bool {
    let until = Instant::now() + d;
    while Instant::now() < until {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50).min(until - Instant::now()));
    }
    !stop.load(Ordering::SeqCst)
}

/// Runs the test through `wharf exec` with its output caught: (exit code,
/// output). Past `timeout` the exec is killed and the probe failed, with
/// Docker's message.
fn probe(
    root: &Path,
    id: &str,
    dir: &Path,
    argv: &[String],
    timeout: Duration,
    stop: &AtomicBool,
) -> (i32, String) {
    let failed = |why: String| (-1, why);
    let Ok(exe) = std::env::current_exe() else {
        return failed("cannot find the wharf executable to run the check".into());
    };
    // A file beside the record, rewritten by each probe (only this thread
    // uses it).
    let out = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(dir.join("health-probe.out"));
    let Ok(mut out) = out else {
        return failed("cannot make a file for the check's output".into());
    };
    let (Ok(stdout), Ok(stderr)) = (out.try_clone(), out.try_clone()) else {
        return failed("cannot make a file for the check's output".into());
    };
    let child = Command::new(exe)
        .arg("--root")
        .arg(root)
        .arg("exec")
        .arg(id)
        .args(argv)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return failed(format!("cannot run the check: {e}")),
    };
    let deadline = Instant::now() + timeout;
    let code = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status.code().unwrap_or(-1),
            Ok(None) if Instant::now() < deadline && !stop.load(Ordering::SeqCst) => {
                std::thread::sleep(Duration::from_millis(20));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return failed(format!(
                    "Health check exceeded timeout ({})",
                    humantime::format_duration(timeout)
                ));
            }
        }
    };
    let mut text = String::new();
    let _ = out.rewind();
    let _ = out.take(OUTPUT_KEPT).read_to_string(&mut text);
    (code, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counting_is_dockers() {
        let timing = Timing::new(None, None, Some(2), None);
        let mut t = Tracker::new(timing);
        assert_eq!(t.record(false), Verdict::Starting);
        assert_eq!(t.record(false), Verdict::Unhealthy);
        assert_eq!(t.record(true), Verdict::Healthy);
        assert_eq!(t.failing_streak, 0);
        assert_eq!(t.record(false), Verdict::Healthy);
        let mut grace = Tracker::new(Timing::new(
            None,
            None,
            Some(1),
            Some(Duration::from_secs(3600)),
        ));
        assert_eq!(grace.record(false), Verdict::Starting);
        assert_eq!(grace.failing_streak, 0);
    }

    #[test]
    fn flags_checked() {
        let flags = HealthFlags {
            cmd: Some("true".into()),
            interval: Some("1m30s".into()),
            ..HealthFlags::default()
        };
        let c = flags.config().unwrap().unwrap();
        assert_eq!(c.test, ["CMD-SHELL", "true"]);
        assert_eq!(c.interval, 90_000_000_000);
        assert_eq!(c.argv(), ["/bin/sh", "-c", "true"]);
        let bad = HealthFlags {
            cmd: Some("true".into()),
            timeout: Some("soon".into()),
            ..HealthFlags::default()
        };
        assert!(bad.config().is_err());
        let both = HealthFlags {
            cmd: Some("true".into()),
            none: true,
            ..HealthFlags::default()
        };
        assert!(both.config().is_err());
    }
}
