//! Serving wasi:http components end to end, as root, with the real
//! netavark: examples/http built as a Wasm component image and as a Linux
//! image, served with `-p` on networks the tests make; requests go only to
//! 127.0.0.1. Covers a fresh instance per request, env grants, 404s, a 1 MiB
//! streamed echo, concurrent load, a runaway and a trapping handler, stop
//! freeing the port, Ctrl-C in the foreground, and a Wasm gateway fetching a
//! Linux backend by name.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;

/// Tests that compare the host before and after run one at a time.
static HOST: Mutex<()> = Mutex::new(());

/// `wharf logs NAME`: both streams (the server's lines go to stderr).
fn logs_of(w: &Wharf, name: &str) -> String {
    let out = w.cmd(&["logs", name]);
    assert!(out.status.success(), "{}", describe(&out));
    format!("{}{}", stdout(&out), stderr(&out))
}

/// The host port `wharf port NAME 8080` names.
fn host_port(w: &Wharf, name: &str) -> u16 {
    let line = w.ok(&["port", name, "8080"]);
    assert!(line.starts_with("127.0.0.1:"), "{line}");
    line.trim().rsplit(':').next().unwrap().parse().unwrap()
}

/// One HTTP/1.1 request on a fresh connection: (status, body). The body is
/// written from another thread, so a server echoing as it reads never
/// waits for a client that is still writing.
fn http(port: u16, method: &str, path: &str, body: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )?;
    let mut writer = stream.try_clone()?;
    let body = body.to_vec();
    let sending = std::thread::spawn(move || writer.write_all(&body));
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply)?;
    sending.join().unwrap()?;
    let split = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of headers"))?;
    let head = String::from_utf8_lossy(&reply[..split]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line: {head}")))?;
    let mut body = reply[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    Ok((status, body))
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

fn get(port: u16, path: &str) -> (u16, String) {
    let (status, body) = http(port, "GET", path, b"").unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Waits until the server on `port` answers `/`.
fn wait_serving(port: u16) {
    let up = poll(Duration::from_secs(20), || {
        http(port, "GET", "/", b"").ok().map(|(s, _)| s)
    });
    assert_eq!(up, Some(200), "nothing serves on 127.0.0.1:{port}");
}

#[test]
fn a_component_is_served_with_a_fresh_instance_per_request() {
    let _host = HOST.lock().unwrap_or_else(|e| e.into_inner());
    let w = Wharf::new();
    build_http_example(&w);
    let marks = ["10.231.71."];
    let before = host_state(&marks);
    w.ok(&["network", "create", "--subnet", "10.231.71.0/24", "web-net"]);

    // A host env var the guest must not see, and one it is given.
    let out = w.cmd_env(
        &[
            "run",
            "-d",
            "--name",
            "web",
            "--network",
            "web-net",
            "-p",
            "127.0.0.1::8080",
            "-e",
            "GREETING_SECRET=s3cret",
            "-e",
            "WHARF_HTTP_TIMEOUT=2",
            "--memory",
            "64m",
            "web:wasm",
        ],
        &[("WHARF_TEST_HOST_ONLY", "leak")],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let port = host_port(&w, "web");
    wait_serving(port);

    assert_eq!(
        get(port, "/"),
        (200, "Hello from a Wasm HTTP component!\n".into())
    );
    let logs = logs_of(&w, "web");
    assert!(
        logs.contains(&format!("Serving HTTP on http://127.0.0.1:{port}/")),
        "{logs}"
    );
    assert!(
        w.ok(&["ps"])
            .contains(&format!("127.0.0.1:{port}->8080/tcp")),
        "{}",
        w.ok(&["ps"])
    );

    // Env: granted is visible, the host's is not.
    assert_eq!(get(port, "/env/GREETING_SECRET"), (200, "s3cret\n".into()));
    assert_eq!(get(port, "/env/WHARF_TEST_HOST_ONLY").0, 404);

    // Globals never carry over: every request sees a new instance.
    for _ in 0..3 {
        assert_eq!(get(port, "/count"), (200, "1\n".into()));
    }
    // The component's own 404 passes through.
    assert_eq!(get(port, "/no/such/page"), (404, "not found\n".into()));

    // 1 MiB streams through both ways intact.
    let payload: Vec<u8> = (0..(1u32 << 20))
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let (status, echoed) = http(port, "POST", "/echo", &payload).unwrap();
    assert_eq!(status, 200);
    assert_eq!(echoed.len(), payload.len());
    assert!(echoed == payload, "the echoed body differs");

    // Concurrent load: 8 clients x 25 requests, no errors.
    let clients: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                (0..25)
                    .filter(|_| !matches!(http(port, "GET", "/", b""), Ok((200, _))))
                    .count()
            })
        })
        .collect();
    let failed: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
    assert_eq!(failed, 0, "{failed} of 200 concurrent requests failed");

    // The memory limit (64 MiB) holds for each instance: 16 MiB is fine,
    // 200 MiB is refused (the guest traps: 500), and the next request,
    // in a fresh instance, is fine again.
    assert_eq!(get(port, "/grow/16"), (200, "16 MiB\n".into()));
    assert_eq!(get(port, "/grow/200").0, 500);
    assert_eq!(get(port, "/grow/16").0, 200);

    // A runaway handler is cut off at its deadline (2 s here) with a 5xx,
    // and the server goes on serving.
    let started = Instant::now();
    let (status, body) = get(port, "/spin");
    assert_eq!(status, 504, "{body}");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(get(port, "/").0, 200);
    // A trapping handler gets a 500, and the server goes on serving.
    let (status, body) = get(port, "/trap");
    assert_eq!(status, 500, "{body}");
    assert_eq!(get(port, "/").0, 200);
    let logs = logs_of(&w, "web");
    assert!(
        logs.contains("GET /spin") && logs.contains("GET /trap"),
        "{logs}"
    );

    // Stop drains: a request in flight when the stop comes (its body not
    // all sent yet) still gets its whole answer, new connections are
    // refused meanwhile, and the server then ends well inside the timeout,
    // exit 0, with the port free.
    let mut inflight = TcpStream::connect(("127.0.0.1", port)).unwrap();
    inflight
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        inflight,
        "POST /echo HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 10\r\nconnection: close\r\n\r\nhello"
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let mut stop = w.command(&["stop", "web"]).spawn().unwrap();
    let refused = poll(Duration::from_secs(5), || {
        TcpStream::connect(("127.0.0.1", port))
            .is_err()
            .then_some(())
    });
    assert!(
        refused.is_some(),
        "new connections still accepted while stopping"
    );
    inflight.write_all(b"world").unwrap();
    let mut reply = Vec::new();
    inflight.read_to_end(&mut reply).unwrap();
    let split = reply.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&reply[..split]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let body = if head.contains("transfer-encoding: chunked") {
        dechunk(&reply[split + 4..])
    } else {
        reply[split + 4..].to_vec()
    };
    assert_eq!(String::from_utf8_lossy(&body), "helloworld");
    let status = wait_timeout(&mut stop, Duration::from_secs(20)).expect("stop hangs");
    assert!(status.success());
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "stop took {:?}",
        started.elapsed()
    );
    assert_eq!(w.inspect("web")["State"]["ExitCode"], 0);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "port {port} still accepts connections after stop"
    );
    w.ok(&["rm", "web"]);
    w.ok(&["network", "rm", "web-net"]);
    assert_same_host(&before, &marks);
}

#[test]
fn a_wasm_gateway_fetches_a_linux_backend_by_name() {
    let _host = HOST.lock().unwrap_or_else(|e| e.into_inner());
    let w = Wharf::new();
    build_http_example(&w);
    let marks = ["10.231.72."];
    let before = host_state(&marks);
    w.ok(&["network", "create", "--subnet", "10.231.72.0/24", "app"]);
    w.ok(&[
        "run",
        "-d",
        "--name",
        "backend",
        "--network",
        "app",
        "-e",
        "ROLE=the-linux-backend",
        "web:linux",
    ]);
    w.ok(&[
        "run",
        "-d",
        "--name",
        "gateway",
        "--network",
        "app",
        "-p",
        "127.0.0.1::8080",
        "-e",
        "BACKEND_URL=http://backend:8080",
        "web:wasm",
    ]);
    let port = host_port(&w, "gateway");
    wait_serving(port);
    // Outgoing wasi:http, by the backend's container name.
    let fetched = poll(Duration::from_secs(20), || {
        let (status, body) = get(port, "/fetch?url=http://backend:8080/env/ROLE");
        (status == 200).then_some(body)
    });
    assert_eq!(fetched.as_deref(), Some("the-linux-backend\n"));
    assert_eq!(
        get(port, "/fetch?url=http://backend:8080/"),
        (200, "Hello from a Linux HTTP server!\n".into())
    );
    // A name that is not on the network does not resolve.
    let (status, _) = get(port, "/fetch?url=http://nowhere-here:8080/");
    assert_eq!(status, 502);

    w.ok(&["rm", "-f", "gateway", "backend"]);
    w.ok(&["network", "rm", "app"]);
    assert_same_host(&before, &marks);
}

#[test]
fn a_foreground_server_stops_cleanly_on_ctrl_c() {
    let _host = HOST.lock().unwrap_or_else(|e| e.into_inner());
    let w = Wharf::new();
    build_http_example(&w);
    let marks = ["10.231.73."];
    let before = host_state(&marks);
    w.ok(&["network", "create", "--subnet", "10.231.73.0/24", "fg"]);
    let mut child = w
        .command(&[
            "run",
            "--rm",
            "--network",
            "fg",
            "-p",
            "127.0.0.1::8080",
            "web:wasm",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let url = loop {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "stderr: {seen}");
        if let Some(url) = line.trim().strip_prefix("Serving HTTP on ") {
            break url.to_string();
        }
        seen.push_str(&line);
    };
    let port: u16 = url
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(url, format!("http://127.0.0.1:{port}/"));
    wait_serving(port);
    // SAFETY: kill on the pid of a child we own.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = wait_timeout(&mut child, Duration::from_secs(15)).expect("still serving");
    assert_eq!(status.code(), Some(0));
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    w.ok(&["network", "rm", "fg"]);
    assert_same_host(&before, &marks);
}

#[test]
fn a_wasi_0_3_service_is_served() {
    let _host = HOST.lock().unwrap_or_else(|e| e.into_inner());
    let w = Wharf::new();
    build_component_example(&w, "http-p3", "http-p3.wasm", "p3:wasm");
    let marks = ["10.231.74."];
    let before = host_state(&marks);
    w.ok(&["network", "create", "--subnet", "10.231.74.0/24", "p3-net"]);
    w.ok(&[
        "run",
        "-d",
        "--name",
        "svc",
        "--network",
        "p3-net",
        "-p",
        "127.0.0.1::8080",
        "-e",
        "ANSWER=42",
        "p3:wasm",
    ]);
    let port = host_port(&w, "svc");
    wait_serving(port);
    assert_eq!(
        get(port, "/"),
        (200, "Hello from a WASI 0.3 service!\n".into())
    );
    assert_eq!(get(port, "/env/ANSWER"), (200, "42\n".into()));
    assert_eq!(get(port, "/env/HOME").0, 404);
    assert_eq!(get(port, "/nothing").0, 404);
    w.ok(&["stop", "svc"]);
    assert_eq!(w.inspect("svc")["State"]["ExitCode"], 0);
    w.ok(&["rm", "svc"]);
    w.ok(&["network", "rm", "p3-net"]);
    assert_same_host(&before, &marks);
}

#[test]
fn a_server_without_a_network_says_nothing_can_reach_it() {
    let w = Wharf::new();
    build_http_example(&w);
    w.ok(&["run", "-d", "--name", "alone", "web:wasm"]);
    let logs = poll(Duration::from_secs(20), || {
        let logs = logs_of(&w, "alone");
        logs.contains("Serving HTTP").then_some(logs)
    })
    .expect("the server never started");
    assert!(logs.contains("has no network"), "{logs}");
    // It listens in a namespace of its own, not on the host's 8080.
    assert_eq!(w.inspect("alone")["State"]["Running"], true);
    assert!(TcpStream::connect(("127.0.0.1", 8080)).is_err());
    w.ok(&["rm", "-f", "alone"]);
}
