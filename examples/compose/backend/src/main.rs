//! `notes-backend`: the Linux service of examples/compose. It keeps notes in
//! PostgreSQL (`DATABASE_URL`) and serves them over HTTP/1.1 on
//! 0.0.0.0:$PORT (3000 by default):
//!
//! - `GET /api/notes`: every note, oldest first, as a JSON array
//! - `POST /api/notes`: the request body becomes a note; answers 201 with it
//! - `GET /api/health`: 200 once the database answers `SELECT 1`
//!
//! On start it retries the connection until the database answers (up to
//! `DB_WAIT_SECONDS`, 120 by default) and creates its table, and only then
//! listens, so a listening backend is a usable one. `notes-backend --health`
//! probes a running one (the container's healthcheck: the image is FROM
//! scratch, with nothing else to exec). A thread per connection, keep-alive,
//! request bodies with content-length or chunked.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::exit;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use postgres::{Client, NoTls};

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS notes (
    id BIGSERIAL PRIMARY KEY,
    body TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
)";

/// A note's body is text a person typed: more than this is refused (413).
const MAX_BODY: usize = 64 * 1024;

fn main() {
    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p.parse().unwrap_or_else(|_| {
            eprintln!("notes-backend: PORT={p} is not a port number");
            exit(2)
        }),
        Err(_) => 3000,
    };
    if std::env::args().nth(1).as_deref() == Some("--health") {
        exit(health(port));
    }
    let Ok(url) = std::env::var("DATABASE_URL") else {
        eprintln!(
            "notes-backend: DATABASE_URL is not set; give it, e.g. postgres://USER:PASSWORD@HOST:5432/DB"
        );
        exit(2)
    };
    let wait = std::env::var("DB_WAIT_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    stop_on_sigterm();

    let mut client = connect_with_retry(&url, Duration::from_secs(wait));
    if let Err(e) = client.batch_execute(SCHEMA) {
        eprintln!("notes-backend: cannot create the notes table: {e}");
        exit(1);
    }
    let listener = TcpListener::bind(("0.0.0.0", port)).unwrap_or_else(|e| {
        eprintln!("notes-backend: cannot listen on port {port}: {e}");
        exit(1)
    });
    eprintln!(
        "notes-backend: connected to {}; serving HTTP on http://0.0.0.0:{port}/api/notes",
        redacted(&url)
    );
    let db = Arc::new(Db {
        url,
        client: Mutex::new(client),
    });
    for stream in listener.incoming().flatten() {
        let db = Arc::clone(&db);
        std::thread::spawn(move || {
            let _ = stream.set_nodelay(true);
            if let Err(e) = connection(stream, &db) {
                if e.kind() != io::ErrorKind::UnexpectedEof {
                    eprintln!("notes-backend: connection: {e}");
                }
            }
        });
    }
}

/// PID 1 in a container gets no default action for SIGTERM: without a
/// handler `stop` would wait out its timeout. Nothing is buffered here
/// (every insert is committed before it is answered), so exit at once.
fn stop_on_sigterm() {
    extern "C" fn on_term(_: libc::c_int) {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(0) }
    }
    // SAFETY: installs a handler that only calls an async-signal-safe function.
    unsafe {
        libc::signal(libc::SIGTERM, on_term as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_term as *const () as libc::sighandler_t);
    }
}

/// The URL for logs: the password hidden.
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_string(),
    }
}

/// Connects, retrying every half second while the database is not up yet
/// (its container starting, initdb running); gives up after `wait`.
fn connect_with_retry(url: &str, wait: Duration) -> Client {
    let start = Instant::now();
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        match Client::connect(url, NoTls) {
            Ok(client) => {
                if attempts > 1 {
                    eprintln!(
                        "notes-backend: the database answered after {attempts} attempts ({:.1} s)",
                        start.elapsed().as_secs_f64()
                    );
                }
                return client;
            }
            Err(e) if start.elapsed() < wait => {
                // One line every 5 s is enough to see why it waits.
                if attempts % 10 == 1 {
                    eprintln!(
                        "notes-backend: waiting for the database at {}: {e}",
                        redacted(url)
                    );
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(e) => {
                eprintln!(
                    "notes-backend: the database at {} did not answer within {} s: {e}; \
                     check DATABASE_URL and that the database is running",
                    redacted(url),
                    wait.as_secs()
                );
                exit(1);
            }
        }
    }
}

/// One connection, shared by the request threads, reopened when the server
/// closed it (a database restart).
struct Db {
    url: String,
    client: Mutex<Client>,
}

impl Db {
    fn with<T>(&self, f: impl Fn(&mut Client) -> Result<T, postgres::Error>) -> Result<T, String> {
        let mut client = self.client.lock().unwrap_or_else(|e| e.into_inner());
        match f(&mut client) {
            Ok(v) => Ok(v),
            Err(e) if client.is_closed() => {
                eprintln!("notes-backend: the database connection closed ({e}); reconnecting");
                *client = Client::connect(&self.url, NoTls).map_err(|e| e.to_string())?;
                f(&mut client).map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        }
    }
}

struct Request {
    method: String,
    path: String,
    close: bool,
    body: Result<Vec<u8>, (u16, String)>,
}

fn connection(stream: TcpStream, db: &Db) -> io::Result<()> {
    let mut out = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader)? {
        let (status, content_type, body) = match request.body {
            Ok(body) => answer(&request.method, &request.path, body, db),
            Err((status, message)) => (status, "text/plain", message),
        };
        write!(
            out,
            "HTTP/1.1 {status} {}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n{body}",
            reason(status),
            body.len()
        )?;
        // A body that could not be read leaves the stream out of step.
        if request.close || status == 413 || status == 400 && body.starts_with("bad body") {
            break;
        }
    }
    Ok(())
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

fn read_request(reader: &mut impl BufRead) -> io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or("/").to_string();
    let mut close = parts.next() == Some("HTTP/1.0");
    let (mut length, mut chunked) = (0usize, false);
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse().unwrap_or(usize::MAX),
                "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                "connection" => close = value.eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
    }
    let body = if chunked {
        read_chunked(reader)?
    } else if length > MAX_BODY {
        Err((413, format!("a note is at most {MAX_BODY} bytes\n")))
    } else {
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        Ok(body)
    };
    Ok(Some(Request {
        method,
        path,
        close,
        body,
    }))
}

/// A `transfer-encoding: chunked` body (what an HTTP client sends when it
/// streams a body of unknown length, as wasi:http's does).
fn read_chunked(reader: &mut impl BufRead) -> io::Result<Result<Vec<u8>, (u16, String)>> {
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let size = line.trim().split(';').next().unwrap_or_default();
        let Ok(size) = usize::from_str_radix(size, 16) else {
            return Ok(Err((400, "bad body: a chunk size is not hex\n".into())));
        };
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                line.clear();
                if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
                    return Ok(Ok(body));
                }
            }
        }
        if body.len() + size > MAX_BODY {
            return Ok(Err((413, format!("a note is at most {MAX_BODY} bytes\n"))));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        line.clear();
        reader.read_line(&mut line)?; // the CRLF after the chunk
    }
}

/// (status, content type, body) for one request.
fn answer(method: &str, path: &str, body: Vec<u8>, db: &Db) -> (u16, &'static str, String) {
    let path = path.split('?').next().unwrap_or_default();
    match (method, path) {
        ("GET", "/api/notes") => match db.with(|c| {
            c.query(
                "SELECT id, body, created_at::text FROM notes ORDER BY id",
                &[],
            )
        }) {
            Ok(rows) => {
                let notes: Vec<String> = rows
                    .iter()
                    .map(|r| note_json(r.get(0), r.get(1), r.get(2)))
                    .collect();
                (200, "application/json", format!("[{}]\n", notes.join(",")))
            }
            Err(e) => (503, "text/plain", format!("the database failed: {e}\n")),
        },
        ("POST", "/api/notes") => {
            let Ok(text) = String::from_utf8(body) else {
                return (400, "text/plain", "a note must be UTF-8 text\n".into());
            };
            let text = text.trim_end_matches(['\r', '\n']).to_string();
            if text.trim().is_empty() {
                return (
                    400,
                    "text/plain",
                    "the note is empty; send its text as the request body\n".into(),
                );
            }
            match db.with(|c| {
                c.query_one(
                    "INSERT INTO notes (body) VALUES ($1) RETURNING id, body, created_at::text",
                    &[&text],
                )
            }) {
                Ok(r) => (
                    201,
                    "application/json",
                    format!("{}\n", note_json(r.get(0), r.get(1), r.get(2))),
                ),
                Err(e) => (503, "text/plain", format!("the database failed: {e}\n")),
            }
        }
        ("GET", "/api/health") => match db.with(|c| c.simple_query("SELECT 1")) {
            Ok(_) => (200, "text/plain", "ok\n".into()),
            Err(e) => (503, "text/plain", format!("the database failed: {e}\n")),
        },
        (_, "/api/notes" | "/api/health") => (
            405,
            "text/plain",
            format!("{method} is not allowed on {path}\n"),
        ),
        _ => (
            404,
            "text/plain",
            format!("no such route: {method} {path}; try GET or POST /api/notes\n"),
        ),
    }
}

fn note_json(id: i64, body: &str, created_at: &str) -> String {
    format!(
        "{{\"id\":{id},\"body\":{},\"created_at\":{}}}",
        json_string(body),
        json_string(created_at)
    )
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `--health`: GET /api/health on this container's port; 0 when it answers
/// 200. The database is checked too, since the route runs `SELECT 1`.
fn health(port: u16) -> i32 {
    let probe = || -> io::Result<String> {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.write_all(b"GET /api/health HTTP/1.0\r\nhost: localhost\r\n\r\n")?;
        let mut reply = String::new();
        s.read_to_string(&mut reply)?;
        Ok(reply)
    };
    match probe() {
        Ok(reply) if reply.starts_with("HTTP/1.1 200") => 0,
        Ok(reply) => {
            eprintln!(
                "unhealthy: {}",
                reply.lines().last().unwrap_or("an empty reply")
            );
            1
        }
        Err(e) => {
            eprintln!("unhealthy: nothing answers on port {port}: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_with_length_and_chunked_bodies() {
        let raw = b"POST /api/notes HTTP/1.1\r\ncontent-length: 5\r\n\r\nhelloPOST /api/notes HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        let mut r = &raw[..];
        let a = read_request(&mut r).unwrap().unwrap();
        assert_eq!(
            (a.method.as_str(), a.body.unwrap()),
            ("POST", b"hello".to_vec())
        );
        let b = read_request(&mut r).unwrap().unwrap();
        assert_eq!(b.body.unwrap(), b"abcde");
        assert!(read_request(&mut r).unwrap().is_none());
    }

    #[test]
    fn json_and_redaction() {
        assert_eq!(json_string("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u0001\"");
        assert_eq!(
            redacted("postgres://app:secret@db:5432/myapp"),
            "postgres://app:***@db:5432/myapp"
        );
    }
}
