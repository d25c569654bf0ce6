//! The caller's side of a container's pseudo terminal: this process's
//! terminal put in raw mode (as Docker does) and its stdio copied to and
//! from the pty master. Used by `wharf run -t`/`exec -t` and by
//! `wharf-runtime run`/`exec` without a console socket.

use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::thread::JoinHandle;

use nix::sys::termios::{self, SetArg, Termios};

/// This process's terminal in raw mode; restored when dropped. Nothing
/// when stdin is not a terminal.
pub struct RawMode(Option<Termios>);

impl RawMode {
    pub fn enter() -> RawMode {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return RawMode(None);
        }
        let Ok(saved) = termios::tcgetattr(&stdin) else {
            return RawMode(None);
        };
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        let _ = termios::tcsetattr(&stdin, SetArg::TCSANOW, &raw);
        RawMode(Some(saved))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            let _ = termios::tcsetattr(std::io::stdin(), SetArg::TCSANOW, saved);
        }
    }
}

/// Gives the pty this process's window size (when stdin is a terminal),
/// then copies the pty's output to stdout until the container side closes;
/// with `stdin`, copies stdin into the pty on a detached thread. Returns
/// the output thread, to join once the process exited.
pub fn pump(master: OwnedFd, stdin: bool) -> std::io::Result<JoinHandle<()>> {
    if let Ok(ws) = winsize(0) {
        // SAFETY: TIOCSWINSZ with a valid winsize on our pty master.
        unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    }
    let mut output = File::from(master);
    if stdin {
        let mut input = output.try_clone()?;
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            let mut from = std::io::stdin().lock();
            while let Ok(n) = from.read(&mut buf) {
                if n == 0 || input.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
    }
    Ok(std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut out = std::io::stdout();
        // EIO once the last process holding the pty's other side has exited.
        while let Ok(n) = output.read(&mut buf) {
            if n == 0 || out.write_all(&buf[..n]).is_err() {
                break;
            }
            let _ = out.flush();
        }
    }))
}

/// Copies between this process's stdio and a pty master, in raw mode,
/// until the pty's other side is closed.
pub fn proxy_terminal(master: OwnedFd) {
    let _raw = RawMode::enter();
    if let Ok(output) = pump(master, true) {
        let _ = output.join();
    }
}

fn winsize(fd: i32) -> std::io::Result<libc::winsize> {
    // SAFETY: TIOCGWINSZ fills a winsize we own.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(ws)
    }
}
