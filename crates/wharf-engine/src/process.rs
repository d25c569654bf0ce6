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
