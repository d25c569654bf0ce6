//! What the driver does to this process's own output and signals: log lines
//! prefixed with their service (`web-1  | ...`, as Docker Compose prints
//! them), a healthcheck's output caught instead of shown, and Ctrl-C turned
//! into a request to stop the project.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Writes whole lines to a shared sink, each after `prefix`, so the lines
/// of containers followed at once never tear each other.
pub struct Prefixed<'a, W: Write> {
    prefix: String,
    sink: &'a Mutex<W>,
    pending: Vec<u8>,
}

impl<'a, W: Write> Prefixed<'a, W> {
    pub fn new(prefix: String, sink: &'a Mutex<W>) -> Prefixed<'a, W> {
        Prefixed {
            prefix,
            sink,
            pending: Vec::new(),
        }
    }

    fn emit(&self, line: &[u8]) -> io::Result<()> {
        let mut sink = self.sink.lock().unwrap_or_else(|e| e.into_inner());
        sink.write_all(self.prefix.as_bytes())?;
        sink.write_all(line)?;
        if !line.ends_with(b"\n") {
            sink.write_all(b"\n")?;
        }
        sink.flush()
    }
}

impl<W: Write> Write for Prefixed<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            self.emit(&line)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<W: Write> Drop for Prefixed<'_, W> {
    /// A last line without its newline (a container killed mid-line).
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            let _ = self.emit(&line);
        }
    }
}

/// The prefix of a container's log lines: its name padded to `width`, then
/// ` | ` (Compose pads to the longest name plus one).
pub fn log_prefix(name: &str, width: usize) -> String {
    format!("{name:<width$} | ")
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_signal: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// From now on, SIGINT and SIGTERM only set a flag ([`interrupted`]): an
/// attached `up` stops the project's containers itself, as Compose does.
pub fn catch_interrupts() -> io::Result<()> {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe; the sigaction struct is fully initialised.
        let failed = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_interrupt as extern "C" fn(libc::c_int) as usize;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut()) != 0
        };
        if failed {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Whether Ctrl-C (or SIGTERM) arrived since [`catch_interrupts`].
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// This process's stdout and stderr sent to a file until dropped: what an
/// exec'd healthcheck prints (it inherits both) is kept for the error
/// message rather than mixed into the command's own output.
pub struct Redirected {
    saved: Vec<(i32, OwnedFd)>,
}

impl Redirected {
    pub fn to(file: &File) -> io::Result<Redirected> {
        let _ = io::stdout().flush();
        let _ = io::stderr().flush();
        let mut saved = Vec::new();
        for fd in [1, 2] {
            // SAFETY: fds 1 and 2 are open for the life of the process.
            let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
            let copy = borrowed.try_clone_to_owned()?;
            // SAFETY: dup2 onto a standard descriptor this process owns.
            if unsafe { libc::dup2(file.as_raw_fd(), fd) } < 0 {
                let e = io::Error::last_os_error();
                drop(Redirected { saved });
                return Err(e);
            }
            saved.push((fd, copy));
        }
        Ok(Redirected { saved })
    }
}

impl Drop for Redirected {
    fn drop(&mut self) {
        let _ = io::stdout().flush();
        let _ = io::stderr().flush();
        for (fd, copy) in self.saved.drain(..) {
            // SAFETY: as in `to`: putting back the descriptor saved there.
            unsafe { libc::dup2(copy.as_raw_fd(), fd) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_get_their_prefix_whole() {
        let sink = Mutex::new(Vec::new());
        {
            let mut web = Prefixed::new(log_prefix("web-1", 10), &sink);
            let mut db = Prefixed::new(log_prefix("database-1", 10), &sink);
            web.write_all(b"hel").unwrap();
            db.write_all(b"ready\nlisten").unwrap();
            web.write_all(b"lo\n").unwrap();
            db.write_all(b"ing\nno newline").unwrap();
        }
        assert_eq!(
            String::from_utf8(sink.into_inner().unwrap()).unwrap(),
            "database-1 | ready\n\
             web-1      | hello\n\
             database-1 | listening\n\
             database-1 | no newline\n"
        );
    }
}
