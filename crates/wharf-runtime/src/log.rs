//! runc-shaped logging: `--log FILE` (default stderr), `--log-format
//! json|text`. containerd reads the last `{"level":"error","msg":...}` line
//! of the bundle's log.json to explain a failure.

use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub struct Logger {
    file: Option<PathBuf>,
    format: Format,
    debug: bool,
}

impl Logger {
    pub fn new(file: Option<PathBuf>, format: Format, debug: bool) -> Logger {
        Logger {
            file,
            format,
            debug,
        }
    }

    fn line(&self, level: &str, msg: &str) -> String {
        let time = humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string();
        match self.format {
            Format::Json => {
                serde_json::json!({ "level": level, "msg": msg, "time": time }).to_string() + "\n"
            }
            Format::Text => format!("time={time:?} level={level} msg={msg:?}\n"),
        }
    }

    fn write(&self, level: &str, msg: &str) {
        let line = self.line(level, msg);
        match &self.file {
            Some(path) => {
                if let Ok(mut f) = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                {
                    let _ = f.write_all(line.as_bytes());
                }
            }
            None => {
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
        }
    }

    /// An error: to the log, and (like runc) also plainly to stderr when the
    /// log is a file.
    pub fn error(&self, msg: &str) {
        self.write("error", msg);
        if self.file.is_some() {
            eprintln!("{msg}");
        }
    }

    pub fn warn(&self, msg: &str) {
        self.write("warning", msg);
    }

    pub fn debug(&self, msg: &str) {
        if self.debug {
            self.write("debug", msg);
        }
    }
}
