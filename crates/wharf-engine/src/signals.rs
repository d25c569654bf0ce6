//! Signals for the process that owns a guest (foreground `wharf run` or a
//! detached container's monitor): `stop`, `kill` and Ctrl-C arrive here and
//! become an epoch interruption, so even a guest spinning in compiled code
//! stops at once and the process can still record how it ended.

use nix::sys::signal::{SigSet, Signal};

const FORWARDED: [Signal; 6] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// Blocks the forwarded signals in the calling thread and hands them to
/// `on_signal` on a dedicated thread. Call it before spawning any other
/// thread: threads inherit the mask, so only the waiting thread sees them.
pub fn forward(on_signal: impl Fn(i32) + Send + 'static) -> crate::Result<()> {
    let mut set = SigSet::empty();
    for s in FORWARDED {
        set.add(s);
    }
    set.thread_block().map_err(|e| {
        crate::Error::io(
            "blocking signals",
            std::io::Error::from_raw_os_error(e as i32),
        )
    })?;
    std::thread::Builder::new()
        .name("wharf-signals".into())
        .spawn(move || loop {
            if let Ok(sig) = set.wait() {
                on_signal(sig as i32);
            }
        })
        .map_err(|e| crate::Error::io("starting the signal thread", e))?;
    Ok(())
}

/// Parses `SIGTERM`, `TERM`, `term` or `15`.
pub fn parse_signal(s: &str) -> crate::Result<Signal> {
    let bad = || {
        crate::Error::InvalidArgument(format!(
            "invalid signal \"{s}\": use a name like SIGTERM or KILL, or a number"
        ))
    };
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| bad());
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>().map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names_and_numbers() {
        assert_eq!(parse_signal("SIGTERM").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("kill").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("2").unwrap(), Signal::SIGINT);
        assert!(parse_signal("SIGNOPE").is_err());
        assert!(parse_signal("999").is_err());
    }
}
