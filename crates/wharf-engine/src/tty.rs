//! Terminals for `-t`: the container's side is a pty; this process copies
//! between its own terminal (put in raw mode, as Docker does) and the pty
//! master.

use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::os::fd::OwnedFd;
use std::thread::JoinHandle;

use nix::sys::termios::{self, SetArg, Termios};

/// Restores the terminal's mode when dropped.
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

/// Copies the pty's output to stdout until the container side closes; with
/// `stdin`, copies stdin into the pty on a detached thread. Returns the
/// output thread, to join once the process exited.
pub fn pump(master: OwnedFd, stdin: bool) -> std::io::Result<JoinHandle<()>> {
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
