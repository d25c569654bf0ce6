//! `http-hello` as a `wasi:http/proxy` component (wasm32-wasip2): every
//! request is handed to [`Handler::handle`]; see `routes.rs` for what it
//! answers. Wharf (like `wasmtime serve`) makes a fresh instance for each
//! request, so `/count` always answers 1.
#![cfg(target_os = "wasi")]

mod routes;

use std::sync::atomic::{AtomicU64, Ordering};

use routes::{route, Route, GREETING};
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingRequest,
    OutgoingResponse, ResponseOutparam, Scheme,
};
use wasip2::io::streams::{InputStream, OutputStream, StreamError};

/// Requests this instance has seen.
static COUNT: AtomicU64 = AtomicU64::new(0);

struct Handler;

wasip2::http::proxy::export!(Handler);

impl wasip2::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let method = match request.method() {
            Method::Get => "GET".to_string(),
            Method::Head => "HEAD".into(),
            Method::Post => "POST".into(),
            Method::Put => "PUT".into(),
            Method::Delete => "DELETE".into(),
            Method::Patch => "PATCH".into(),
            Method::Other(m) => m,
            _ => "OTHER".into(),
        };
        let path = request.path_with_query().unwrap_or_else(|| "/".into());
        match route(&method, &path) {
            Route::Hello => respond(out, 200, GREETING.as_bytes()),
            Route::Env(name) => match std::env::var(&name) {
                Ok(value) => respond(out, 200, format!("{value}\n").as_bytes()),
                Err(_) => respond(out, 404, format!("{name} is not set\n").as_bytes()),
            },
            Route::Count => {
                let n = COUNT.fetch_add(1, Ordering::SeqCst) + 1;
                respond(out, 200, format!("{n}\n").as_bytes())
            }
            Route::Echo => echo(request, out),
            Route::Grow(mib) => {
                let block = vec![1u8; mib << 20];
                let sum: u64 = block.iter().step_by(4096).map(|b| *b as u64).sum();
                respond(out, 200, format!("{} MiB\n", sum * 4096 >> 20).as_bytes())
            }
            Route::Spin => {
                let mut n = 0u64;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            Route::Trap => panic!("/trap crashes on purpose"),
            Route::Fetch(url) => fetch(&url, out),
            Route::Api(path) => match std::env::var("BACKEND_URL") {
                Ok(base) => forward(
                    request,
                    &format!("{}{path}", base.trim_end_matches('/')),
                    out,
                ),
                Err(_) => respond(out, 502, b"BACKEND_URL is not set\n"),
            },
            Route::NotFound => respond(out, 404, b"not found\n"),
        }
    }
}

fn respond(out: ResponseOutparam, status: u16, body: &[u8]) {
    let headers = Fields::from_list(&[
        ("content-type".to_string(), b"text/plain".to_vec()),
        ("content-length".to_string(), body.len().to_string().into_bytes()),
    ])
    .expect("valid headers");
    let response = OutgoingResponse::new(headers);
    response.set_status_code(status).expect("valid status");
    let outgoing = response.body().expect("the body, once");
    ResponseOutparam::set(out, Ok(response));
    let stream = outgoing.write().expect("the stream, once");
    write_all(&stream, body);
    drop(stream);
    OutgoingBody::finish(outgoing, None).expect("body finished");
}

/// Streams the request body back as it arrives, in chunks: a body of any
/// size passes through without being held whole.
fn echo(request: IncomingRequest, out: ResponseOutparam) {
    let incoming = request.consume().expect("the body, once");
    let input = incoming.stream().expect("the stream, once");
    let response = OutgoingResponse::new(Fields::new());
    let outgoing = response.body().expect("the body, once");
    ResponseOutparam::set(out, Ok(response));
    let output = outgoing.write().expect("the stream, once");
    while let Some(chunk) = read_chunk(&input) {
        write_all(&output, &chunk);
    }
    drop(input);
    IncomingBody::finish(incoming);
    drop(output);
    OutgoingBody::finish(outgoing, None).expect("body finished");
}

fn read_chunk(input: &InputStream) -> Option<Vec<u8>> {
    match input.blocking_read(64 * 1024) {
        Ok(chunk) => Some(chunk),
        Err(StreamError::Closed) => None,
        Err(StreamError::LastOperationFailed(e)) => panic!("reading: {}", e.to_debug_string()),
    }
}

fn write_all(output: &OutputStream, data: &[u8]) {
    // blocking-write-and-flush takes at most 4096 bytes a call.
    for chunk in data.chunks(4096) {
        output
            .blocking_write_and_flush(chunk)
            .expect("the client is gone");
    }
}

fn fetch(url: &str, out: ResponseOutparam) {
    match send(&Method::Get, url, &[], &[]) {
        Ok((status, body)) => respond(out, status, &body),
        Err(e) => respond(out, 502, format!("fetching {url}: {e}\n").as_bytes()),
    }
}

/// The gateway: `request` goes on to `url` with its method, its
/// content-type and its body (read whole first: API bodies are small), and
/// the backend's status and body come back.
fn forward(request: IncomingRequest, url: &str, out: ResponseOutparam) {
    let method = request.method();
    let content_type = request.headers().get(&"content-type".to_string());
    let incoming = request.consume().expect("the body, once");
    let input = incoming.stream().expect("the stream, once");
    let mut body = Vec::new();
    while let Some(chunk) = read_chunk(&input) {
        body.extend_from_slice(&chunk);
    }
    drop(input);
    IncomingBody::finish(incoming);
    let headers: Vec<(String, Vec<u8>)> = content_type
        .into_iter()
        .map(|v| ("content-type".to_string(), v))
        .collect();
    match send(&method, url, &headers, &body) {
        Ok((status, body)) => respond(out, status, &body),
        Err(e) => respond(out, 502, format!("forwarding to {url}: {e}\n").as_bytes()),
    }
}

/// Sends `method url` with `headers` and `body` through
/// `wasi:http/outgoing-handler`; the response's status and body.
fn send(
    method: &Method,
    url: &str,
    headers: &[(String, Vec<u8>)],
    body: &[u8],
) -> Result<(u16, Vec<u8>), String> {
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("http://") {
        (Scheme::Http, rest)
    } else if let Some(rest) = url.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else {
        return Err("only http:// and https:// URLs can be fetched".into());
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut fields = headers.to_vec();
    if !body.is_empty() {
        fields.push((
            "content-length".to_string(),
            body.len().to_string().into_bytes(),
        ));
    }
    let fields = Fields::from_list(&fields).map_err(|e| format!("bad headers: {e:?}"))?;
    let request = OutgoingRequest::new(fields);
    request.set_method(method).map_err(|_| "bad method")?;
    request.set_scheme(Some(&scheme)).map_err(|_| "bad scheme")?;
    request
        .set_authority(Some(authority))
        .map_err(|_| format!("bad host {authority:?}"))?;
    request
        .set_path_with_query(Some(path))
        .map_err(|_| format!("bad path {path:?}"))?;
    let outgoing = request.body().expect("the body, once");
    let pending = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    if !body.is_empty() {
        let stream = outgoing.write().expect("the stream, once");
        write_all(&stream, body);
    }
    OutgoingBody::finish(outgoing, None).map_err(|e| format!("{e:?}"))?;
    let response = loop {
        match pending.get() {
            Some(result) => break result,
            None => pending.subscribe().block(),
        }
    };
    let response = response
        .map_err(|()| "the response was already taken".to_string())?
        .map_err(|e| format!("{e:?}"))?;
    let status = response.status();
    let incoming = response.consume().expect("the body, once");
    let input = incoming.stream().expect("the stream, once");
    let mut bytes = Vec::new();
    while let Some(chunk) = read_chunk(&input) {
        bytes.extend_from_slice(&chunk);
    }
    Ok((status, bytes))
}
