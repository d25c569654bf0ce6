//! HTTP serving: the same `wasi:http` hello component served by Wharf
//! (`wharf run -d -p`, a fresh instance per request) and by `wasmtime
//! serve` (same isolation, its defaults), and the same routes as a native
//! server in a Linux container, each loaded by `wrk` from this host:
//! requests/s and latency at 50 connections, latency at 1 connection, and
//! the memory of the idle server. Every server listens on 127.0.0.1 only
//! and is stopped before the next one starts.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use crate::proc::{self, Cmd};
use crate::results::Http;
use crate::session::Bench;

/// The component and the native server (examples/http).
const COMPONENT: &str = "http/http-hello.wasm";
const NATIVE: &str = "http/http-hello";
/// Host ports the servers are published on (one at a time).
const PORT: u16 = 18_931;
/// The load: wrk's threads and connections, as in wasmtime's own
/// measurements and the goal.
const THREADS: usize = 2;
const CONNECTIONS: usize = 50;

/// A server under test, running until dropped (best effort) or stopped.
enum Server {
    Container(String),
    Process(Child),
}

impl Bench<'_> {
    /// Measures every HTTP server that can run here; a missing `wrk`
    /// skips the section (its peer row says so).
    pub(crate) fn http(&mut self) -> Result<Vec<Http>> {
        self.phase("HTTP: serving the hello component");
        let Some(wrk) = proc::which("wrk") else {
            self.peer(
                "wrk",
                "not installed",
                None,
                Some("no HTTP measurements".into()),
            );
            return Ok(Vec::new());
        };
        self.peer("wrk", "measured", Some(&wrk), None);
        let ctx = self.examples.join("http");
        for artifact in [COMPONENT, NATIVE] {
            if !self.examples.join(artifact).is_file() {
                bail!(
                    "examples/{artifact} is missing: run `bash scripts/setup.sh` to build the HTTP example"
                );
            }
        }
        let ctx_s = self.path(&ctx);
        proc::capture(&self.wharf(&[
            "build",
            "-q",
            "--platform",
            "wasip2/wasm",
            "-t",
            "http-hello:wasm",
            &ctx_s,
        ]))?;
        let linux_df = self.path(&ctx.join("Dockerfile.linux"));
        proc::capture(&self.wharf(&[
            "build",
            "-q",
            "-f",
            &linux_df,
            "--platform",
            "linux/amd64",
            "-t",
            "http-hello:linux",
            &ctx_s,
        ]))?;
        let publish = format!("127.0.0.1:{PORT}:8080");
        let mut out = Vec::new();
        for (key, kind, image) in [
            ("wharf-wasm-p2", "wasm-p2", "http-hello:wasm"),
            ("wharf-linux", "linux", "http-hello:linux"),
        ] {
            let name = format!("bench-{key}");
            proc::capture(&self.wharf(&["run", "-d", "--name", &name, "-p", &publish, image]))?;
            let server = Server::Container(name.clone());
            let label = format!("wharf run -d -p {publish} {image}");
            let pids = self.container_pids(&name)?;
            out.push(self.load(&wrk, server, key, &label, kind, "wharf", &pids)?);
        }
        match proc::which("wasmtime") {
            None => self.peer(
                "wasmtime serve",
                "not installed",
                None,
                Some("install with `cargo install --locked wasmtime-cli --version 48.0.8`".into()),
            ),
            Some(bin) => {
                let component = self.path(&self.examples.join(COMPONENT));
                let addr = format!("127.0.0.1:{PORT}");
                // -Scli: the component, like every Rust HTTP guest, imports
                // wasi:cli/environment as well as wasi:http.
                let argv = [
                    &self.path(&bin),
                    "serve",
                    "-Scli",
                    "--addr",
                    &addr,
                    &component,
                ];
                let child = Cmd::new(&argv)
                    .command()
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .context("starting wasmtime serve")?;
                let pid = child.id() as i32;
                let label = format!("wasmtime serve -Scli --addr {addr} http-hello.wasm");
                match self.load(
                    &wrk,
                    Server::Process(child),
                    "wasmtime-serve",
                    &label,
                    "wasm-p2",
                    "wasmtime",
                    &[pid],
                ) {
                    Ok(h) => {
                        self.peer("wasmtime serve", "measured", Some(&bin), Some(label));
                        out.push(h);
                    }
                    Err(e) => self.peer(
                        "wasmtime serve",
                        "failed",
                        Some(&bin),
                        Some(format!("{e:#}")),
                    ),
                }
            }
        }
        let native = self.examples.join(NATIVE);
        let child = Cmd::new(&[self.path(&native)])
            .command()
            .env("PORT", PORT.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting the native http-hello")?;
        let pid = child.id() as i32;
        // The native server listens on every address; only 127.0.0.1 is loaded.
        out.push(self.load(
            &wrk,
            Server::Process(child),
            "native",
            "http-hello (native process, PORT=18931)",
            "native",
            "native",
            &[pid],
        )?);
        Ok(out)
    }

    /// The processes holding a container's server: the monitor (which is
    /// the server, for Wasm) and the container's own process.
    fn container_pids(&self, name: &str) -> Result<Vec<i32>> {
        let json = proc::capture(&self.wharf(&["inspect", name]))?;
        let v: serde_json::Value = serde_json::from_str(&json)?;
        let state = &v[0]["State"];
        let mut pids: Vec<i32> = ["Pid", "ConmonPid"]
            .iter()
            .filter_map(|k| state[k].as_i64())
            .map(|p| p as i32)
            .filter(|p| *p > 0)
            .collect();
        pids.dedup();
        if pids.is_empty() {
            bail!("{name} has no process: {state}");
        }
        Ok(pids)
    }

    /// Waits for `server`, takes its idle memory, loads it at 50 and at 1
    /// connection, and stops it.
    #[allow(clippy::too_many_arguments)]
    fn load(
        &mut self,
        wrk: &Path,
        server: Server,
        key: &str,
        label: &str,
        kind: &str,
        runner: &str,
        pids: &[i32],
    ) -> Result<Http> {
        let result: Result<Http> = (|| {
            let url = format!("http://127.0.0.1:{PORT}/");
            wait_answering(PORT)?;
            let idle_rss_bytes = pids.iter().map(|p| rss(*p)).sum();
            let secs = if self.cfg.quick { 3 } else { 10 };
            let many = wrk_run(wrk, &url, THREADS, CONNECTIONS, secs)?;
            let one = wrk_run(wrk, &url, 1, 1, secs.min(5))?;
            Ok(Http {
                target: key.into(),
                label: label.into(),
                kind: kind.into(),
                runner: runner.into(),
                connections: CONNECTIONS,
                duration_s: secs as f64,
                requests_per_s: many.requests_per_s,
                p50_ms: many.p50_ms,
                p99_ms: many.p99_ms,
                errors: many.errors,
                single_requests_per_s: one.requests_per_s,
                single_p50_ms: one.p50_ms,
                single_p99_ms: one.p99_ms,
                single_errors: one.errors,
                idle_rss_bytes,
            })
        })();
        self.stop(server);
        self.pb.inc(1);
        result.with_context(|| format!("measuring {label}"))
    }

    fn stop(&self, server: Server) {
        match server {
            Server::Container(name) => self.remove_containers(&[name]),
            Server::Process(mut child) => {
                // SAFETY: kill on the pid of a child we own and have not reaped.
                unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
                let deadline = std::time::Instant::now() + Duration::from_secs(10);
                while matches!(child.try_wait(), Ok(None)) {
                    if std::time::Instant::now() > deadline {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }
}

/// Until something on 127.0.0.1:`port` answers HTTP (10 s at most).
fn wait_answering(port: u16) -> Result<()> {
    use std::io::{Read, Write};
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let answer = std::net::TcpStream::connect(("127.0.0.1", port)).and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(2)))?;
            s.write_all(b"GET / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")?;
            let mut reply = Vec::new();
            s.read_to_end(&mut reply)?;
            Ok(reply)
        });
        if let Ok(reply) = answer {
            if reply.starts_with(b"HTTP/1.1 200") {
                return Ok(());
            }
        }
        if std::time::Instant::now() > deadline {
            bail!("nothing answered HTTP on 127.0.0.1:{port} within 10 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// VmRSS of `pid`, bytes (0 when it is gone).
fn rss(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// What one wrk run reported.
#[derive(Debug, PartialEq)]
pub(crate) struct WrkRun {
    pub(crate) requests_per_s: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    /// Socket errors plus non-2xx/3xx responses.
    pub(crate) errors: u64,
}

fn wrk_run(wrk: &Path, url: &str, threads: usize, connections: usize, secs: u64) -> Result<WrkRun> {
    let argv = [
        wrk.to_string_lossy().into_owned(),
        format!("-t{threads}"),
        format!("-c{connections}"),
        format!("-d{secs}s"),
        "--latency".into(),
        url.into(),
    ];
    let text = proc::capture(&Cmd::new(&argv))?;
    parse_wrk(&text).ok_or_else(|| anyhow!("cannot read wrk's output:\n{text}"))
}

/// Reads requests/s, the 50% and 99% latencies and the errors from wrk's
/// `--latency` report.
pub(crate) fn parse_wrk(text: &str) -> Option<WrkRun> {
    let mut run = WrkRun {
        requests_per_s: f64::NAN,
        p50_ms: f64::NAN,
        p99_ms: f64::NAN,
        errors: 0,
    };
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("Requests/sec:") {
            run.requests_per_s = v.trim().parse().ok()?;
        } else if let Some(v) = line.strip_prefix("50%") {
            run.p50_ms = duration_ms(v.trim())?;
        } else if let Some(v) = line.strip_prefix("99%") {
            run.p99_ms = duration_ms(v.trim())?;
        } else if let Some(v) = line.strip_prefix("Non-2xx or 3xx responses:") {
            run.errors += v.trim().parse::<u64>().ok()?;
        } else if let Some(v) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 0"
            for part in v.split(',') {
                run.errors += part.split_whitespace().nth(1)?.parse::<u64>().ok()?;
            }
        }
    }
    (!run.requests_per_s.is_nan() && !run.p50_ms.is_nan() && !run.p99_ms.is_nan()).then_some(run)
}

/// "812.00us", "5.42ms", "1.20s" as milliseconds.
fn duration_ms(v: &str) -> Option<f64> {
    let (number, scale) = if let Some(n) = v.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000.0)
    } else if let Some(n) = v.strip_suffix('m') {
        (n, 60_000.0)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|n| n * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_reports() {
        let text = "Running 5s test @ http://127.0.0.1:8080/
  2 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.42ms    2.10ms  30.00ms   80.00%
    Req/Sec     4.60k   300.00     5.00k    70.00%
  Latency Distribution
     50%  812.00us
     75%    6.00ms
     90%    7.00ms
     99%    1.20s
  46000 requests in 5.00s, 5.00MB read
  Socket errors: connect 1, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 10
Requests/sec:   9200.50
Transfer/sec:      1.00MB
";
        let run = parse_wrk(text).unwrap();
        assert_eq!(run.requests_per_s, 9200.5);
        assert!((run.p50_ms - 0.812).abs() < 1e-9);
        assert_eq!(run.p99_ms, 1200.0);
        assert_eq!(run.errors, 16);
        assert!(parse_wrk("wrk: connection refused").is_none());
    }
}
