//! Healthchecks, run by `wharf compose` itself: with no daemon there is
//! nothing to probe a container in the background, so a `service_healthy`
//! dependency is probed while its dependents wait.
//!
//! - Linux containers: the test is exec'd in the container (`CMD` as its
//!   words, `CMD-SHELL` through `/bin/sh -c`), as Docker does; exit 0 is
//!   healthy. Its output is kept for the error message.
//! - Wasm containers run one guest and nothing can be exec'd beside it, so
//!   the test must name an `http://` URL (`["CMD", "curl", "-f",
//!   "http://localhost:8080/health"]`): Wharf GETs that port and path at
//!   the container's address on its network; a status below 400 is
//!   healthy (what `curl -f` and `wget` call success).
//!
//! Timing is Docker's (interval 30s, timeout 30s, retries 3, start_period
//! 0 unless given), but the first probe runs at once: a success there
//! counts, a failure does not (Docker's first probe comes an interval in).

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use wharf_engine::health::{Tracker, Verdict};
use wharf_engine::{Engine, ExecOptions};

use super::output::{interrupted, Redirected};
use crate::{HealthTest, Healthcheck};

/// How a container's health is probed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// Exec these words in the container.
    Exec(Vec<String>),
    /// GET this path on this container port (Host header `host`).
    Http {
        host: String,
        port: u16,
        path: String,
    },
}

/// Docker's healthcheck timing, shared with `run --health-*` (the engine's).
pub use wharf_engine::health::Timing;

/// Docker's defaults for what the service's healthcheck leaves out.
pub fn timing_of(check: &Healthcheck) -> Timing {
    Timing::new(
        check.interval,
        check.timeout,
        check.retries,
        check.start_period,
    )
}

/// Why a probe could not be made at all (as opposed to a failed one).
pub type Unprobeable = String;

/// The probe for a service's healthcheck, or why it has none.
pub fn probe_for(check: Option<&Healthcheck>, wasm: bool) -> Result<Probe, Unprobeable> {
    let Some(check) = check else {
        return Err(
            "it has no healthcheck; give it one (healthcheck: test: ...) or wait for \
             condition: service_started"
                .to_string(),
        );
    };
    let words = match &check.test {
        _ if check.disable => return Err("its healthcheck is disabled".to_string()),
        HealthTest::None => return Err("its healthcheck is disabled (test: [NONE])".to_string()),
        HealthTest::Inherit => {
            return Err(
                "its healthcheck gives no test, and Wharf does not take one from the \
                 image's HEALTHCHECK; add healthcheck.test"
                    .to_string(),
            )
        }
        HealthTest::Cmd(words) => words.clone(),
        HealthTest::Shell(line) => vec!["/bin/sh".to_string(), "-c".to_string(), line.clone()],
    };
    if !wasm {
        return Ok(Probe::Exec(words));
    }
    match http_url(&words) {
        Some(Ok((host, port, path))) => Ok(Probe::Http { host, port, path }),
        Some(Err(why)) => Err(why),
        None => Err(
            "it runs as a Wasm container, where no command can be exec'd, and its healthcheck \
             test names no http:// URL; write the test as an HTTP check, e.g. [\"CMD\", \
             \"curl\", \"-f\", \"http://localhost:8080/\"], which Wharf probes at the \
             container's address"
                .to_string(),
        ),
    }
}

/// The first `http://` URL among the test's words: (host, port, path).
fn http_url(words: &[String]) -> Option<Result<(String, u16, String), String>> {
    let found = words
        .iter()
        .flat_map(|w| w.split_whitespace())
        .find_map(|w| w.find("http://").or(w.find("https://")).map(|at| &w[at..]))?;
    let url = found.trim_end_matches(['"', '\'', ';', ')']);
    let Some(rest) = url.strip_prefix("http://") else {
        return Some(Err(format!(
            "its healthcheck URL {url} is HTTPS, and Wharf probes Wasm containers over plain HTTP"
        )));
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => match port.parse() {
            Ok(port) => (host, port),
            Err(_) => {
                return Some(Err(format!(
                    "its healthcheck URL {url} has an invalid port"
                )))
            }
        },
        None => (authority, 80),
    };
    Some(Ok((host.to_string(), port, path.to_string())))
}

/// Where a probe reaches its container.
pub struct Target<'a> {
    /// The store, opened afresh for an exec that may outlive its timeout.
    pub root: PathBuf,
    pub engine: &'a Engine,
    /// Container id.
    pub id: String,
    /// Its address on its (first) network, for HTTP probes.
    pub address: Option<Ipv4Addr>,
}

/// How waiting ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Healthy,
    /// `retries` probes in a row failed after the start period; the last said this.
    Unhealthy {
        failures: u64,
        last: String,
    },
    /// The container is no longer running (exit code).
    Exited(i32),
    Interrupted,
}

/// Probes until healthy, unhealthy, the container ends or Ctrl-C.
pub fn wait_healthy(target: &Target, probe: &Probe, timing: Timing) -> Outcome {
    let mut tracker = Tracker::new(timing);
    let mut first = true;
    loop {
        match target.engine.container(&target.id) {
            Ok(c) if c.is_running() => {}
            Ok(c) => return Outcome::Exited(c.state.exit_code),
            Err(_) => return Outcome::Exited(-1),
        }
        let result = match probe {
            Probe::Exec(words) => exec_probe(target, words, timing.timeout),
            Probe::Http { host, port, path } => match target.address {
                Some(ip) => http_probe(ip, *port, host, path, timing.timeout),
                None => Err("the container has no network address to probe".to_string()),
            },
        };
        match result {
            Ok(()) => return Outcome::Healthy,
            // The engine's counting, except that this first probe (made at
            // once, not an interval in) may succeed but does not fail.
            Err(why) if !first && tracker.record(false) == Verdict::Unhealthy => {
                return Outcome::Unhealthy {
                    failures: tracker.failing_streak,
                    last: why,
                };
            }
            Err(_) => {}
        }
        first = false;
        let next = Instant::now() + timing.interval;
        while Instant::now() < next {
            if interrupted() {
                return Outcome::Interrupted;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Execs the test in the container with its output caught; past `timeout`
/// the check has failed (the process, which the engine does not hand out,
/// is left to finish on its own).
fn exec_probe(target: &Target, words: &[String], timeout: Duration) -> Result<(), String> {
    let mut caught =
        tempfile::tempfile().map_err(|e| format!("cannot make a file for its output: {e}"))?;
    let opts = ExecOptions {
        container: target.id.clone(),
        args: words.to_vec(),
        ..ExecOptions::default()
    };
    let root = target.root.clone();
    let (done, result) = std::sync::mpsc::channel();
    let redirected =
        Redirected::to(&caught).map_err(|e| format!("cannot catch its output: {e}"))?;
    // A thread of its own, so a test that hangs is given up on after its
    // timeout; the engine is opened there, as the thread may outlive this call.
    std::thread::spawn(move || {
        let code = Engine::open(&root).and_then(|engine| engine.exec(&opts));
        let _ = done.send(code);
    });
    let code = result.recv_timeout(timeout);
    drop(redirected);
    let output = last_output(&mut caught);
    match code {
        Ok(Ok(0)) => Ok(()),
        Ok(Ok(code)) => Err(format!("the test exited with code {code}{output}")),
        Ok(Err(e)) => Err(format!("the test could not run: {e}")),
        Err(_) => Err(format!(
            "the test did not finish within {}{output}",
            crate::units::format_duration(timeout)
        )),
    }
}

/// The end of what a check printed, as `: text` (empty when it printed nothing).
fn last_output(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.rewind();
    let _ = file.take(64 * 1024).read_to_string(&mut text);
    let text = text.trim();
    if text.is_empty() {
        return String::new();
    }
    let tail: String = {
        let chars: Vec<char> = text.chars().collect();
        let start = chars.len().saturating_sub(300);
        chars[start..].iter().collect()
    };
    format!(": {}", tail.replace('\n', " / "))
}

/// One GET; healthy when the status is below 400.
fn http_probe(
    ip: Ipv4Addr,
    port: u16,
    host: &str,
    path: &str,
    timeout: Duration,
) -> Result<(), String> {
    let url = format!("http://{ip}:{port}{path}");
    let failed = |e: std::io::Error| format!("GET {url}: {e}");
    let mut stream =
        TcpStream::connect_timeout(&SocketAddr::from((ip, port)), timeout).map_err(failed)?;
    stream.set_read_timeout(Some(timeout)).map_err(failed)?;
    stream.set_write_timeout(Some(timeout)).map_err(failed)?;
    // One write: `write!` on the socket sends each piece of the format on
    // its own, and a server that answers after the first piece and closes
    // makes the next one fail with EPIPE.
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: wharf-compose-healthcheck\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).map_err(failed)?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while head.len() < 1024 && !head.ends_with(b"\r\n") {
        match stream.read(&mut byte).map_err(failed)? {
            0 => break,
            _ => head.push(byte[0]),
        }
    }
    let line = String::from_utf8_lossy(&head);
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("GET {url}: not an HTTP response: {:?}", line.trim()))?;
    if status < 400 {
        Ok(())
    } else {
        Err(format!("GET {url} answered {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(test: HealthTest) -> Healthcheck {
        Healthcheck {
            test,
            interval: None,
            timeout: None,
            retries: None,
            start_period: None,
            disable: false,
        }
    }

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn linux_tests_are_exec_d_and_shell_ones_through_sh() {
        let cmd = check(HealthTest::Cmd(words(&["wget", "-q", "http://127.0.0.1/"])));
        assert_eq!(
            probe_for(Some(&cmd), false),
            Ok(Probe::Exec(words(&["wget", "-q", "http://127.0.0.1/"])))
        );
        let shell = check(HealthTest::Shell("pg_isready || exit 1".into()));
        assert_eq!(
            probe_for(Some(&shell), false),
            Ok(Probe::Exec(words(&[
                "/bin/sh",
                "-c",
                "pg_isready || exit 1"
            ])))
        );
    }

    #[test]
    fn wasm_tests_become_http_probes_of_their_url() {
        let curl = check(HealthTest::Cmd(words(&[
            "curl",
            "-f",
            "http://localhost:8080/health?x=1",
        ])));
        assert_eq!(
            probe_for(Some(&curl), true),
            Ok(Probe::Http {
                host: "localhost".into(),
                port: 8080,
                path: "/health?x=1".into()
            })
        );
        let shell = check(HealthTest::Shell(
            "wget -qO- 'http://127.0.0.1' || exit 1".into(),
        ));
        assert_eq!(
            probe_for(Some(&shell), true),
            Ok(Probe::Http {
                host: "127.0.0.1".into(),
                port: 80,
                path: "/".into()
            })
        );
        let no_url = check(HealthTest::Cmd(words(&["pg_isready"])));
        assert!(probe_for(Some(&no_url), true)
            .unwrap_err()
            .contains("http://"));
        let https = check(HealthTest::Cmd(words(&["curl", "https://localhost/"])));
        assert!(probe_for(Some(&https), true).unwrap_err().contains("HTTPS"));
    }

    #[test]
    fn missing_or_disabled_checks_say_so() {
        assert!(probe_for(None, false)
            .unwrap_err()
            .contains("no healthcheck"));
        let mut off = check(HealthTest::Cmd(words(&["true"])));
        off.disable = true;
        assert!(probe_for(Some(&off), false)
            .unwrap_err()
            .contains("disabled"));
        assert!(probe_for(Some(&check(HealthTest::None)), false)
            .unwrap_err()
            .contains("disabled"));
        assert!(probe_for(Some(&check(HealthTest::Inherit)), false)
            .unwrap_err()
            .contains("HEALTHCHECK"));
    }

    #[test]
    fn timing_has_docker_defaults() {
        let t = timing_of(&check(HealthTest::Cmd(words(&["true"]))));
        assert_eq!(t.interval, Duration::from_secs(30));
        assert_eq!(t.timeout, Duration::from_secs(30));
        assert_eq!(t.retries, 3);
        assert_eq!(t.start_period, Duration::ZERO);
    }

    /// A local server answering each connection with one status line.
    fn serve(status: &'static str) -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for mut s in listener.incoming().flatten() {
                // The whole request head, as a server reads it, then the answer.
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.ends_with(b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = write!(s, "HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
            }
        });
        port
    }

    #[test]
    fn http_probes_go_by_status() {
        let t = Duration::from_secs(5);
        let ok = serve("204 No Content");
        assert_eq!(
            http_probe(Ipv4Addr::LOCALHOST, ok, "localhost", "/", t),
            Ok(())
        );
        let bad = serve("503 Service Unavailable");
        let err = http_probe(Ipv4Addr::LOCALHOST, bad, "localhost", "/h", t).unwrap_err();
        assert!(err.contains("503") && err.contains("/h"), "{err}");
    }
}
