//! The machine the numbers come from.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

pub fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Total RAM, bytes (0 when /proc/meminfo cannot be read).
pub fn memory_bytes() -> u64 {
    kb_field("/proc/meminfo", "MemTotal:").unwrap_or(0)
}

pub fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

fn is_cgroup2(path: &str) -> bool {
    let Ok(c) = std::ffi::CString::new(path) else {
        return false;
    };
    // SAFETY: zeroed statfs is a valid out-parameter; c is NUL-terminated.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::statfs(c.as_ptr(), &mut st) };
    r == 0 && st.f_type as i64 == CGROUP2_SUPER_MAGIC
}

/// "v2" (unified), "hybrid" (v1 controllers plus cgroup2 at
/// /sys/fs/cgroup/unified) or "v1".
pub fn cgroup_layout() -> String {
    if is_cgroup2("/sys/fs/cgroup") {
        "v2".into()
    } else if is_cgroup2("/sys/fs/cgroup/unified") {
        "hybrid".into()
    } else {
        "v1".into()
    }
}

pub fn loadavg() -> [f64; 3] {
    let s = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut it = s
        .split_whitespace()
        .map(|v| v.parse::<f64>().unwrap_or(0.0));
    [
        it.next().unwrap_or(0.0),
        it.next().unwrap_or(0.0),
        it.next().unwrap_or(0.0),
    ]
}

/// VmRSS of a process, bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    kb_field(&format!("/proc/{pid}/status"), "VmRSS:")
}

/// Proportional set size of a process (shared pages divided among the
/// processes sharing them), bytes.
pub fn pss_bytes(pid: u32) -> Option<u64> {
    kb_field(&format!("/proc/{pid}/smaps_rollup"), "Pss:")
}

/// The value of the `FIELD: N kB` line of a /proc file, bytes.
fn kb_field(path: &str, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(path).ok()?;
    let kb = s
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse::<u64>()
        .ok()?;
    Some(kb * 1024)
}

/// Where the memory cgroup of Wharf container `id` keeps its counters, and
/// the layout: (directory, is_v2).
pub fn container_memory_cgroup(id: &str) -> Option<(std::path::PathBuf, bool)> {
    let v1 = Path::new("/sys/fs/cgroup/memory/wharf").join(id);
    if v1.join("memory.max_usage_in_bytes").exists() {
        return Some((v1, false));
    }
    let v2 = Path::new("/sys/fs/cgroup/wharf").join(id);
    if v2.join("memory.current").exists() {
        return Some((v2, true));
    }
    None
}

fn read_u64(p: &Path) -> Option<u64> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}

/// (peak bytes, method) of a container's memory cgroup.
pub fn cgroup_peak(dir: &Path, v2: bool) -> Option<(u64, &'static str)> {
    if v2 {
        read_u64(&dir.join("memory.peak"))
            .map(|v| (v, "cgroup-v2-memory.peak"))
            .or_else(|| {
                read_u64(&dir.join("memory.current")).map(|v| (v, "cgroup-v2-memory.current"))
            })
    } else {
        read_u64(&dir.join("memory.max_usage_in_bytes"))
            .map(|v| (v, "cgroup-v1-max_usage_in_bytes"))
    }
}

/// Current usage of a container's memory cgroup, bytes.
pub fn cgroup_usage(dir: &Path, v2: bool) -> Option<u64> {
    if v2 {
        read_u64(&dir.join("memory.current"))
    } else {
        read_u64(&dir.join("memory.usage_in_bytes"))
    }
}

/// Seconds since the epoch -> (year, month, day, hour, minute, second), UTC.
fn civil(secs: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        (rem / 60 % 60) as u32,
        (rem % 60) as u32,
    )
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Now as RFC 3339 UTC, e.g. 2026-11-21T08:00:00Z.
pub fn now_rfc3339() -> String {
    let (y, mo, d, h, mi, s) = civil(now_secs());
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// Now as a path-friendly stamp, e.g. 20261121-080000.
pub fn now_stamp() -> String {
    let (y, mo, d, h, mi, s) = civil(now_secs());
    format!("{y:04}{mo:02}{d:02}-{h:02}{mi:02}{s:02}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn civil_dates() {
        assert_eq!(super::civil(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(super::civil(951_782_400), (2000, 2, 29, 0, 0, 0));
        assert_eq!(super::civil(1_700_000_000), (2023, 11, 14, 22, 13, 20));
    }
}
