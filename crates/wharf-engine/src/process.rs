//! Facts about host processes, read from /proc, used to tell whether a
//! container's recorded process is still the one that was started.

use std::fs;

/// The process start time in clock ticks since boot (field 22 of
/// /proc/PID/stat), or None when the process does not exist or is a zombie.
/// Comparing it with the value recorded at start guards against pid reuse.
pub fn start_time(pid: i32) -> Option<u64> {
    if pid <= 0 {
        return None;
    }
    // This process's own start time is asked for more than once on the
    // start path (its record, its name reservation); it never changes.
    if pid as u32 == std::process::id() {
        static OWN: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
        return *OWN.get_or_init(|| read_start_time(pid));
    }
    read_start_time(pid)
}

/// [`start_time`], read from /proc.
fn read_start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    // `rest` starts at field 3 (state); start time is field 22.
    fields.nth(18)?.parse().ok()
}

/// Whether `pid` is alive and is the process that started at `started`.
pub fn is_same_alive(pid: i32, started: u64) -> bool {
    start_time(pid) == Some(started)
}

/// Waits until the process is gone or `timeout` passed; true when gone.
pub fn wait_gone(pid: i32, started: u64, timeout: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if !is_same_alive(pid, started) {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// A process's resource use, `docker stats`' columns read from /proc (for
/// a container that lives inside its owner process: a Wasm guest): CPU
/// time of all its threads, resident memory, bytes read from and written
/// to storage, and threads as PIDS. None when it is gone.
pub fn usage(pid: i32) -> Option<wharf_linux::Usage> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // `rest` starts at field 3: utime and stime are fields 14 and 15.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |text: &str, key: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    let io = fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
    Some(wharf_linux::Usage {
        cpu_ns: ticks * 1_000_000_000 / hz,
        memory: field(&status, "VmRSS:") * 1024,
        memory_limit: 0,
        block_read: field(&io, "read_bytes:"),
        block_write: field(&io, "write_bytes:"),
        pids: field(&status, "Threads:"),
    })
}

/// Bytes received and sent on the network interfaces (loopback aside) of
/// the first network namespace among `pids`' threads that is not this
/// process's: a Linux container's own, or the one a Wasm guest's threads
/// joined. (0, 0) when there is none (no network, or the host's).
pub fn net_io(pids: &[i32]) -> (u64, u64) {
    let own = fs::read_link("/proc/self/ns/net").ok();
    for pid in pids {
        let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let dir = task.path();
            if fs::read_link(dir.join("ns/net")).ok() == own {
                continue;
            }
            let Ok(dev) = fs::read_to_string(dir.join("net/dev")) else {
                continue;
            };
            let mut total = (0, 0);
            // "  eth0: rx_bytes rx_packets ... (8 fields) tx_bytes ..."
            for line in dev.lines().skip(2) {
                let Some((name, counters)) = line.split_once(':') else {
                    continue;
                };
                if name.trim() == "lo" {
                    continue;
                }
                let n: Vec<u64> = counters
                    .split_whitespace()
                    .filter_map(|v| v.parse().ok())
                    .collect();
                total.0 += n.first().copied().unwrap_or(0);
                total.1 += n.get(8).copied().unwrap_or(0);
            }
            return total;
        }
    }
    (0, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_has_a_start_time_and_a_dead_pid_has_none() {
        let me = std::process::id() as i32;
        let t = start_time(me).expect("own start time");
        assert!(is_same_alive(me, t));
        assert!(!is_same_alive(me, t + 1));
        assert_eq!(start_time(i32::MAX), None);
    }
}
