//! Signal names and the signals a container's foreground owner passes on:
//! one vocabulary for `wharf kill`/`stop`, `wharf-runtime kill` and the
//! forwarding of `run`/`exec`.

use crate::{Error, Result};

/// The signals that reach a container through whoever holds it in the
/// foreground: `wharf run` and `wharf-runtime run`/`exec` pass them on to
/// the container's process, and a Wasm container's init turns them into an
/// interruption of the guest. They are the ones a user or a supervisor
/// sends to stop a program (INT from `Ctrl-C`, QUIT from `Ctrl-\`, TERM from
/// `stop` or `kill`, HUP from a closed terminal) or to poke it (USR1,
/// USR2). KILL and STOP cannot be caught; job-control and fault signals
/// belong to the process that receives them.
pub const FORWARDED_SIGNALS: [i32; 6] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// A signal by name (`SIGTERM`, `TERM`, `term`) or number (`15`, up to
/// SIGRTMAX).
pub fn parse_signal(s: &str) -> Result<i32> {
    let bad = || Error::invalid("signal", s, "use a name like SIGTERM or KILL, or a number");
    if let Ok(n) = s.parse::<i32>() {
        let max = libc::SIGRTMAX();
        return if n > 0 && n <= max { Ok(n) } else { Err(bad()) };
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<nix::sys::signal::Signal>()
        .map(|s| s as i32)
        .map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_and_number() {
        assert_eq!(parse_signal("KILL").unwrap(), 9);
        assert_eq!(parse_signal("SIGTERM").unwrap(), 15);
        assert_eq!(parse_signal("term").unwrap(), 15);
        assert_eq!(parse_signal("hup").unwrap(), 1);
        assert_eq!(parse_signal("10").unwrap(), 10);
        assert_eq!(parse_signal("2").unwrap(), libc::SIGINT);
        for bad in ["0", "-1", "999", "SIGNOPE", ""] {
            assert!(parse_signal(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_signals_say_what_to_use() {
        assert_eq!(
            parse_signal("SIGNOPE").unwrap_err().to_string(),
            "invalid signal \"SIGNOPE\": use a name like SIGTERM or KILL, or a number"
        );
    }
}
