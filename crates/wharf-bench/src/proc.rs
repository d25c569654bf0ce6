//! Running commands: timed with wait4 (wall time and the child's peak RSS),
//! or captured.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};

/// One timed run.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Spawn to reaped, milliseconds.
    pub ms: f64,
    /// ru_maxrss of the reaped child in bytes: the largest peak RSS of the
    /// child and of the descendants it waited for.
    pub maxrss_bytes: u64,
}

/// A command line with extra environment.
#[derive(Debug, Clone)]
pub struct Cmd {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
}

impl Cmd {
    pub fn new<S: AsRef<str>>(argv: &[S]) -> Cmd {
        Cmd {
            argv: argv.iter().map(|s| s.as_ref().to_string()).collect(),
            env: Vec::new(),
        }
    }

    pub fn shown(&self) -> String {
        self.argv.join(" ")
    }

    /// A `Command` for this command line and environment, to be given its
    /// stdio and spawned.
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.argv[0]);
        c.args(&self.argv[1..]);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }
}

/// Runs `cmd` with stdin and stdout on /dev/null and stderr into
/// `stderr_file`, timing it from spawn to reap; fails unless it exits 0.
pub fn timed(cmd: &Cmd, stderr_file: &Path) -> Result<Sample> {
    let err = File::create(stderr_file)?;
    let mut c = cmd.command();
    c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(err);
    let start = Instant::now();
    let child = c
        .spawn()
        .with_context(|| format!("cannot start {}", cmd.shown()))?;
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value to be overwritten.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = loop {
        // SAFETY: valid pointers to locals; pid is our own unreaped child.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == -1 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        break r;
    };
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    // `child` was reaped above; dropping it neither waits nor kills.
    drop(child);
    if r != pid {
        bail!(
            "wait4 on {}: {}",
            cmd.shown(),
            std::io::Error::last_os_error()
        );
    }
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        let text = std::fs::read_to_string(stderr_file).unwrap_or_default();
        bail!(
            "`{}` failed ({}): {}",
            cmd.shown(),
            describe_status(status),
            text.trim()
        );
    }
    Ok(Sample {
        ms,
        maxrss_bytes: ru.ru_maxrss.max(0) as u64 * 1024,
    })
}

fn describe_status(status: libc::c_int) -> String {
    if libc::WIFEXITED(status) {
        format!("exit code {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        format!("killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!("wait status {status}")
    }
}

/// Runs `cmd` to completion and returns its stdout; fails with its stderr
/// unless it exits 0.
pub fn capture(cmd: &Cmd) -> Result<String> {
    let out = cmd
        .command()
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot start {}", cmd.shown()))?;
    if !out.status.success() {
        bail!(
            "`{}` failed ({}): {}",
            cmd.shown(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Like [`capture`] but returns stdout and stderr joined, success or not.
pub fn try_capture(cmd: &Cmd) -> (bool, String) {
    match cmd.command().stdin(Stdio::null()).output() {
        Ok(out) => (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        ),
        Err(e) => (false, e.to_string()),
    }
}

/// The first executable named `name` on PATH.
pub fn which(name: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| {
            p.metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// The first line of `prog --version` (or `prog version`), trimmed.
pub fn version_of(prog: &Path, args: &[&str]) -> Option<String> {
    let mut argv = vec![prog.to_string_lossy().into_owned()];
    argv.extend(args.iter().map(|s| s.to_string()));
    let (_, out) = try_capture(&Cmd::new(&argv));
    out.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
}

/// Peak RSS (bytes) of one run of `cmd`, measured by GNU time (`-f %M`),
/// which forks it from its own small process. wait4 on a child spawned
/// straight from the bench would also count the bench's own RSS: the kernel
/// folds the high-water mark of the address space a process had before exec
/// (with vfork, the parent's) into its ru_maxrss.
pub fn peak_rss_gnu_time(time: &Path, cmd: &Cmd, work: &Path) -> Result<u64> {
    let out = work.join("time.txt");
    let mut argv = vec![
        time.to_string_lossy().into_owned(),
        "-f".into(),
        "%M".into(),
        "-o".into(),
        out.to_string_lossy().into_owned(),
    ];
    argv.extend(cmd.argv.iter().cloned());
    let mut c = Cmd::new(&argv);
    c.env = cmd.env.clone();
    timed(&c, &work.join("stderr.txt"))?;
    let text = std::fs::read_to_string(&out)?;
    let kb: u64 = text
        .lines()
        .rev()
        .find_map(|l| l.trim().parse().ok())
        .with_context(|| format!("GNU time printed no peak RSS for `{}`: {text}", cmd.shown()))?;
    Ok(kb * 1024)
}
