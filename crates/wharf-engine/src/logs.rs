//! Container logs in Docker's json-file shape: one JSON object per line,
//! `{"log":"text\n","stream":"stdout","time":"<RFC 3339 nanos>"}`.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::fsutil::now_rfc3339;
use crate::{Error, Result};

/// Docker splits lines longer than this into several records.
const MAX_RECORD: usize = 16 * 1024;

#[derive(Serialize, Deserialize)]
struct Record {
    log: String,
    stream: String,
    time: String,
}

fn write_record(log: &Mutex<File>, stream: &str, text: &[u8]) {
    let rec = Record {
        log: String::from_utf8_lossy(text).into_owned(),
        stream: stream.to_string(),
        time: now_rfc3339(),
    };
    let mut line = serde_json::to_vec(&rec).expect("record serializes");
    line.push(b'\n');
    // One write per record so concurrent streams never interleave within a line.
    if let Ok(mut f) = log.lock() {
        let _ = f.write_all(&line);
    }
}

/// Captures this process's stdout and stderr (fds 1 and 2) into the log,
/// optionally echoing them to where they pointed before. The guest writes to
/// fds 1/2 directly, so this works for any executor.
pub struct Capture {
    threads: Vec<JoinHandle<()>>,
    restore: Vec<(i32, OwnedFd)>,
    /// Hears once from each thread when it is about to wait for output.
    started: std::sync::mpsc::Receiver<()>,
}

impl Capture {
    pub fn start(log_path: &Path, echo: bool) -> Result<Capture> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)
            .map_err(|e| Error::io(format!("opening log {}", log_path.display()), e))?;
        let log = Arc::new(Mutex::new(file));
        let (ready, started) = std::sync::mpsc::sync_channel(2);
        let mut threads = Vec::new();
        let mut restore = Vec::new();
        let _ = std::io::stdout().flush();
        for (fd, stream) in [(1, "stdout"), (2, "stderr")] {
            let (read, write) =
                nix::unistd::pipe().map_err(|e| Error::io("creating a log pipe", e.into()))?;
            let saved = nix::unistd::dup(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) })
                .map_err(|e| Error::io("saving stdio", e.into()))?;
            // SAFETY: dup2 onto a standard fd number we own for the process's lifetime.
            if unsafe { libc::dup2(write.as_raw_fd(), fd) } < 0 {
                return Err(Error::io(
                    "redirecting stdio to the log",
                    std::io::Error::last_os_error(),
                ));
            }
            drop(write);
            let echo_to = if echo {
                Some(File::from(
                    nix::unistd::dup(&saved).map_err(|e| Error::io("dup", e.into()))?,
                ))
            } else {
                None
            };
            restore.push((fd, saved));
            let log = Arc::clone(&log);
            let ready = ready.clone();
            threads.push(std::thread::spawn(move || {
                // Allocated before saying so: see `wait_started`.
                let buf = vec![0u8; 64 * 1024];
                let _ = ready.send(());
                drop(ready);
                pump(File::from(read), buf, stream, &log, echo_to)
            }));
        }
        Ok(Capture {
            threads,
            restore,
            started,
        })
    }

    /// Waits until both threads wait for output (see
    /// [`crate::signals::SignalThread::wait_started`] for why).
    pub fn wait_started(&self) {
        for _ in 0..2 {
            let _ = self.started.recv();
        }
    }

    /// Puts fds 1/2 back, which closes the pipes' write ends, and waits for
    /// everything written so far to reach the log.
    pub fn finish(mut self) {
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        for (fd, saved) in self.restore.drain(..) {
            // SAFETY: as in start.
            unsafe { libc::dup2(saved.as_raw_fd(), fd) };
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn pump(mut from: File, mut buf: Vec<u8>, stream: &str, log: &Mutex<File>, mut echo: Option<File>) {
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(e) = echo.as_mut() {
            let _ = e.write_all(&buf[..n]);
        }
        pending.extend_from_slice(&buf[..n]);
        while let Some(pos) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=pos).collect();
            for chunk in line.chunks(MAX_RECORD) {
                write_record(log, stream, chunk);
            }
        }
        while pending.len() >= MAX_RECORD {
            let chunk: Vec<u8> = pending.drain(..MAX_RECORD).collect();
            write_record(log, stream, &chunk);
        }
    }
    if !pending.is_empty() {
        write_record(log, stream, &pending);
    }
}

/// What `logs` shows (Docker's flags).
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// `-f`: keep reading while the container runs.
    pub follow: bool,
    /// `-t`: each line with its RFC 3339 time.
    pub timestamps: bool,
    /// `--tail N`: only the last N records (then, with `follow`, new ones).
    pub tail: Option<usize>,
    /// `--since`/`--until`: only records written in that window.
    pub since: Option<SystemTime>,
    pub until: Option<SystemTime>,
}

/// `--since`/`--until`'s value: an RFC 3339 time (`2026-12-06T10:00:00Z`,
/// the date alone, or without a zone for UTC), Unix seconds, or a duration
/// before now (`10m`, `1h30m`).
pub fn parse_log_time(text: &str, now: SystemTime) -> Result<SystemTime> {
    if let Ok(t) = humantime::parse_rfc3339_weak(text) {
        return Ok(t);
    }
    if let Ok(t) = humantime::parse_rfc3339_weak(&format!("{text}T00:00:00")) {
        return Ok(t);
    }
    if let Ok(secs) = text.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Ok(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs_f64(secs));
        }
    }
    humantime::parse_duration(text)
        .ok()
        .and_then(|d| now.checked_sub(d))
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "invalid time \"{text}\": give an RFC 3339 time (2026-12-06T10:00:00Z), Unix seconds or a duration before now (10m, 1h30m)"
            ))
        })
}

/// Prints a container's log: stdout records to `out`, stderr ones to `err`.
/// With `follow`, keeps reading while `running()` says the container lives.
pub fn print(
    path: &Path,
    opts: &LogOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
    mut running: impl FnMut() -> bool,
) -> Result<()> {
    let follow = opts.follow;
    let file = match File::open(path) {
        Ok(f) => f,
        // A container that never wrote anything has no log yet.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !follow => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            while running() && !path.exists() {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            match File::open(path) {
                Ok(f) => f,
                Err(_) => return Ok(()),
            }
        }
        Err(e) => return Err(Error::io(format!("reading log {}", path.display()), e)),
    };
    let mut reader = BufReader::new(file);
    if let Some(n) = opts.tail {
        let start = tail_start(&mut reader, n)
            .map_err(|e| Error::io(format!("reading log {}", path.display()), e))?;
        reader
            .seek(std::io::SeekFrom::Start(start))
            .map_err(|e| Error::io("seeking the log", e))?;
    }
    let mut line = String::new();
    loop {
        line.clear();
        let pos = reader.stream_position().unwrap_or(0);
        let n = reader
            .read_line(&mut line)
            .map_err(|e| Error::io(format!("reading log {}", path.display()), e))?;
        if n > 0 && line.ends_with('\n') {
            emit(&line, opts, out, err)?;
            continue;
        }
        // End of file (or a record still being written): stop, or wait for more.
        if !follow {
            if n > 0 {
                emit(&line, opts, out, err)?;
            }
            return Ok(());
        }
        let alive = running();
        reader
            .seek(std::io::SeekFrom::Start(pos))
            .map_err(|e| Error::io("seeking the log", e))?;
        if !alive {
            // The writer is gone: one last drain of whatever it left.
            let mut rest = String::new();
            reader
                .read_to_string(&mut rest)
                .map_err(|e| Error::io("reading the log", e))?;
            for l in rest.lines() {
                emit(l, opts, out, err)?;
            }
            return Ok(());
        }
        out.flush().ok();
        err.flush().ok();
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Where the last `n` complete records of the log start.
fn tail_start(reader: &mut BufReader<File>, n: usize) -> std::io::Result<u64> {
    let mut starts = std::collections::VecDeque::with_capacity(n + 1);
    let mut pos = 0u64;
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = reader.read_until(b'\n', &mut line)?;
        if read == 0 || !line.ends_with(b"\n") {
            break;
        }
        starts.push_back(pos);
        if starts.len() > n {
            starts.pop_front();
        }
        pos += read as u64;
    }
    Ok(starts.front().copied().unwrap_or(pos))
}

fn emit(line: &str, opts: &LogOptions, out: &mut dyn Write, err: &mut dyn Write) -> Result<()> {
    let Ok(rec) = serde_json::from_str::<Record>(line.trim_end()) else {
        return Ok(()); // A torn last line from a killed writer: skip it.
    };
    if opts.since.is_some() || opts.until.is_some() {
        let Ok(at) = humantime::parse_rfc3339_weak(&rec.time) else {
            return Ok(());
        };
        if opts.since.is_some_and(|s| at < s) || opts.until.is_some_and(|u| at > u) {
            return Ok(());
        }
    }
    let w: &mut dyn Write = if rec.stream == "stderr" { err } else { out };
    let r = if opts.timestamps {
        write!(w, "{} {}", rec.time, rec.log)
    } else {
        w.write_all(rec.log.as_bytes())
    };
    r.map_err(|e| Error::io("writing logs", e))
}

/// Opens /dev/null as fd 0 so a guest without `-i` reads an empty stdin.
pub fn null_stdin() -> Result<()> {
    let null = File::open("/dev/null").map_err(|e| Error::io("opening /dev/null", e))?;
    // SAFETY: replacing fd 0 with a descriptor we just opened.
    if unsafe { libc::dup2(null.as_raw_fd(), 0) } < 0 {
        return Err(Error::io(
            "redirecting stdin",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Keeps an fd number (the monitor's ready pipe) as a File.
pub fn fd_file(fd: i32) -> File {
    // SAFETY: the fd was handed to this process for exactly this use.
    unsafe { File::from_raw_fd(fd) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn log_times_parse() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(
            parse_log_time("10m", now).unwrap(),
            now - Duration::from_secs(600)
        );
        assert_eq!(
            parse_log_time("1970-01-02T00:00:00Z", now).unwrap(),
            SystemTime::UNIX_EPOCH + Duration::from_secs(86_400)
        );
        assert_eq!(
            parse_log_time("1970-01-02", now).unwrap(),
            SystemTime::UNIX_EPOCH + Duration::from_secs(86_400)
        );
        assert_eq!(
            parse_log_time("86400", now).unwrap(),
            SystemTime::UNIX_EPOCH + Duration::from_secs(86_400)
        );
        assert!(parse_log_time("soon", now).is_err());
    }
}
