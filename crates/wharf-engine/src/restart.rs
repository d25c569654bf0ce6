//! Restart policies (`run --restart`, Compose's `restart:`), the daemonless
//! way: a detached container's monitor process, which owns it, runs it
//! again when it exits and its policy says so. Nothing restarts containers
//! after a reboot or a killed monitor: there is no daemon to do it.

use std::path::Path;
use std::time::Duration;

use crate::{Error, Result};

/// Docker's policies. `OnFailure(None)` retries without end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RestartPolicy {
    #[default]
    No,
    Always,
    UnlessStopped,
    OnFailure(Option<u32>),
}

impl RestartPolicy {
    /// `no`, `always`, `unless-stopped`, `on-failure[:N]` (Docker's spelling);
    /// the empty string is `no`.
    pub fn parse(text: &str) -> Result<RestartPolicy> {
        let bad = || {
            Error::InvalidArgument(format!(
                "invalid restart policy \"{text}\": use no, always, unless-stopped or on-failure[:MAX-RETRIES]"
            ))
        };
        Ok(match text {
            "" | "no" => RestartPolicy::No,
            "always" => RestartPolicy::Always,
            "unless-stopped" => RestartPolicy::UnlessStopped,
            "on-failure" => RestartPolicy::OnFailure(None),
            other => {
                let max = other.strip_prefix("on-failure:").ok_or_else(bad)?;
                RestartPolicy::OnFailure(Some(max.parse().map_err(|_| bad())?))
            }
        })
    }

    /// Docker's name (`inspect`'s HostConfig.RestartPolicy.Name).
    pub fn name(self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::Always => "always",
            RestartPolicy::UnlessStopped => "unless-stopped",
            RestartPolicy::OnFailure(_) => "on-failure",
        }
    }

    /// The retry limit of `on-failure:N` (0 when there is none).
    pub fn max_retries(self) -> u32 {
        match self {
            RestartPolicy::OnFailure(Some(n)) => n,
            _ => 0,
        }
    }

    /// Whether a container that exited with `code`, restarted `count`
    /// times so far, runs again. A container stopped by the user (`stop`,
    /// `rm`) never does, whatever its policy.
    pub fn restarts(self, code: i32, count: u32, stopped_by_user: bool) -> bool {
        if stopped_by_user {
            return false;
        }
        match self {
            RestartPolicy::No => false,
            RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
            RestartPolicy::OnFailure(max) => code != 0 && max.is_none_or(|m| count < m),
        }
    }
}

/// The wait before restart number `count + 1`: Docker's back-off, 100 ms
/// doubling up to a minute, back to the start after a run of 10 s or more.
pub fn delay(count: u32, ran_for: Duration) -> Duration {
    if ran_for >= Duration::from_secs(10) {
        return Duration::from_millis(100);
    }
    Duration::from_millis(100u64.saturating_mul(1 << count.min(10))).min(Duration::from_secs(60))
}

/// The mark `stop` and `rm` leave in a container's directory before they
/// signal it, so its monitor does not run it again.
const STOP_MARK: &str = "stop-requested";

pub fn mark_stopped(container_dir: &Path) {
    let _ = std::fs::write(container_dir.join(STOP_MARK), b"");
}

pub fn stopped_by_user(container_dir: &Path) -> bool {
    container_dir.join(STOP_MARK).exists()
}

pub fn clear_stopped(container_dir: &Path) {
    let _ = std::fs::remove_file(container_dir.join(STOP_MARK));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_and_decide() {
        assert_eq!(RestartPolicy::parse("").unwrap(), RestartPolicy::No);
        assert_eq!(
            RestartPolicy::parse("on-failure:3").unwrap(),
            RestartPolicy::OnFailure(Some(3))
        );
        assert!(RestartPolicy::parse("sometimes").is_err());
        assert!(RestartPolicy::parse("on-failure:x").is_err());
        let p = RestartPolicy::OnFailure(Some(2));
        assert!(p.restarts(1, 0, false) && p.restarts(1, 1, false));
        assert!(!p.restarts(1, 2, false) && !p.restarts(0, 0, false));
        assert!(RestartPolicy::Always.restarts(0, 100, false));
        assert!(!RestartPolicy::Always.restarts(0, 0, true));
        assert!(!RestartPolicy::No.restarts(1, 0, false));
        assert_eq!(delay(0, Duration::ZERO), Duration::from_millis(100));
        assert_eq!(delay(3, Duration::ZERO), Duration::from_millis(800));
        assert_eq!(delay(20, Duration::ZERO), Duration::from_secs(60));
        assert_eq!(
            delay(5, Duration::from_secs(11)),
            Duration::from_millis(100)
        );
    }
}
