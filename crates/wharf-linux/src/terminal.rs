//! The caller's side of a container's pseudo terminal: this process's
//! stdio proxied to and from the pty master, in raw mode.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};

/// Copies between this process's stdio and a pty master until the pty's
/// other side is closed (foreground `run`/`exec` with a terminal). The
/// caller's terminal is put in raw mode meanwhile.
pub fn proxy_terminal(master: OwnedFd) {
    use nix::sys::termios;
    let stdin = std::io::stdin();
    let saved = termios::tcgetattr(&stdin).ok();
    if let Some(t) = &saved {
        let mut raw = t.clone();
        termios::cfmakeraw(&mut raw);
        let _ = termios::tcsetattr(&stdin, termios::SetArg::TCSANOW, &raw);
    }
    if let Ok(ws) = nix_winsize(0) {
        // SAFETY: TIOCSWINSZ with a valid winsize on our pty master.
        unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    }
    let mut input = std::fs::File::from(master.try_clone().expect("dup pty master"));
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut stdin = std::io::stdin();
        while let Ok(n) = stdin.read(&mut buf) {
            if n == 0 || input.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
    let mut output = std::fs::File::from(master);
    let mut buf = [0u8; 4096];
    let mut stdout = std::io::stdout();
    while let Ok(n) = output.read(&mut buf) {
        if n == 0 || stdout.write_all(&buf[..n]).is_err() {
            break;
        }
        let _ = stdout.flush();
    }
    if let Some(t) = &saved {
        let _ = termios::tcsetattr(&stdin, termios::SetArg::TCSANOW, t);
    }
}

fn nix_winsize(fd: i32) -> std::io::Result<libc::winsize> {
    // SAFETY: TIOCGWINSZ fills a winsize we own.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(ws)
    }
}
