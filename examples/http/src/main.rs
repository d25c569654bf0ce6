//! `http-hello` as a native HTTP/1.1 server (the Linux container Wharf's
//! bench compares the Wasm component with): the same routes as the
//! component (`routes.rs`), a thread per connection, keep-alive, std only.
//! Listens on 0.0.0.0:$PORT (8080 by default).

#[cfg(not(target_os = "wasi"))]
mod routes;

#[cfg(target_os = "wasi")]
fn main() {
    eprintln!("http-hello: on WASI, build the library (a wasi:http component), not this binary");
    std::process::exit(1);
}

#[cfg(not(target_os = "wasi"))]
fn main() {
    native::main()
}

#[cfg(not(target_os = "wasi"))]
mod native {
    use std::io::{self, BufRead, BufReader, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicU64, Ordering};

    use crate::routes::{route, Route, GREETING};

    /// Requests this process has seen (it is one instance for all of them).
    static COUNT: AtomicU64 = AtomicU64::new(0);

    pub fn main() {
        let port = std::env::var("PORT").unwrap_or_else(|_| "8080".into());
        let listener = match TcpListener::bind(format!("0.0.0.0:{port}")) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("http-hello: cannot listen on port {port}: {e}");
                std::process::exit(1);
            }
        };
        eprintln!("Serving HTTP on http://0.0.0.0:{port}/");
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = stream.set_nodelay(true);
                let _ = connection(stream);
            });
        }
    }

    struct Request {
        method: String,
        path: String,
        length: usize,
        close: bool,
    }

    fn read_request(reader: &mut BufReader<TcpStream>) -> io::Result<Option<Request>> {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let path = parts.next().unwrap_or("/").to_string();
        let http10 = parts.next() == Some("HTTP/1.0");
        let (mut length, mut close) = (0, http10);
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let value = value.trim();
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.parse().unwrap_or(0),
                    "connection" => close = value.eq_ignore_ascii_case("close"),
                    _ => {}
                }
            }
        }
        Ok(Some(Request {
            method,
            path,
            length,
            close,
        }))
    }

    fn connection(stream: TcpStream) -> io::Result<()> {
        let mut out = stream.try_clone()?;
        let mut reader = BufReader::new(stream);
        while let Some(request) = read_request(&mut reader)? {
            let mut body = vec![0; request.length];
            reader.read_exact(&mut body)?;
            let (status, reply) = answer(&request, body);
            write!(
                out,
                "HTTP/1.1 {status} {}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n",
                if status == 200 { "OK" } else { "Error" },
                reply.len()
            )?;
            out.write_all(&reply)?;
            if request.close {
                break;
            }
        }
        Ok(())
    }

    fn answer(request: &Request, body: Vec<u8>) -> (u16, Vec<u8>) {
        match route(&request.method, &request.path) {
            Route::Hello => (200, GREETING.into()),
            Route::Env(name) => match std::env::var(&name) {
                Ok(value) => (200, format!("{value}\n").into()),
                Err(_) => (404, format!("{name} is not set\n").into()),
            },
            Route::Count => (
                200,
                format!("{}\n", COUNT.fetch_add(1, Ordering::SeqCst) + 1).into(),
            ),
            Route::Echo => (200, body),
            Route::Grow(mib) => {
                let block = vec![1u8; mib << 20];
                let sum: u64 = block.iter().step_by(4096).map(|b| *b as u64).sum();
                (200, format!("{} MiB\n", sum * 4096 >> 20).into())
            }
            Route::Spin => loop {
                std::thread::park();
            },
            Route::Trap => panic!("/trap crashes on purpose"),
            Route::Fetch(url) => send("GET", &url, &[]),
            Route::Api(path) => match std::env::var("BACKEND_URL") {
                // The gateway: the method and body go on to the backend.
                Ok(base) => send(
                    &request.method,
                    &format!("{}{path}", base.trim_end_matches('/')),
                    &body,
                ),
                Err(_) => (502, b"BACKEND_URL is not set\n".to_vec()),
            },
            Route::NotFound => (404, b"not found\n".to_vec()),
        }
    }

    /// `method url` with `body`, over plain HTTP (no TLS in the native build).
    fn send(method: &str, url: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let get = || -> io::Result<(u16, Vec<u8>)> {
            let rest = url
                .strip_prefix("http://")
                .ok_or_else(|| io::Error::other("only http:// URLs"))?;
            let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let path = if path.is_empty() { "/" } else { path };
            let addr = if host.contains(':') {
                host.to_string()
            } else {
                format!("{host}:80")
            };
            let mut stream = TcpStream::connect(addr)?;
            write!(
                stream,
                "{method} {path} HTTP/1.1\r\nhost: {host}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            )?;
            stream.write_all(body)?;
            let mut reply = Vec::new();
            stream.read_to_end(&mut reply)?;
            let split = reply
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .ok_or_else(|| io::Error::other("no end of headers"))?;
            let head = String::from_utf8_lossy(&reply[..split]);
            let status = head
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(502);
            Ok((status, reply[split + 4..].to_vec()))
        };
        get().unwrap_or_else(|e| (502, format!("fetching {url}: {e}\n").into()))
    }
}
