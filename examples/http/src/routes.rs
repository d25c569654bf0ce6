//! The routes both builds serve, decided from the method and path alone so
//! the Wasm component and the native server answer the same way.

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// `GET /`: a greeting naming the kind of server.
    Hello,
    /// `GET /env/NAME`: the value of an environment variable (404 if unset).
    Env(String),
    /// `GET /count`: increments a global counter and returns it. A server
    /// that makes a fresh instance per request always answers 1.
    Count,
    /// `POST /echo`: the request body back, streamed.
    Echo,
    /// `GET /grow/N`: allocates N MiB, touches it and answers (the memory
    /// limit is per instance).
    Grow(usize),
    /// `GET /spin`: never answers (a runaway handler).
    Spin,
    /// `GET /trap`: the handler crashes.
    Trap,
    /// `GET /fetch?url=URL`: fetches URL and answers with its status and body.
    Fetch(String),
    /// `/api/...`: forwarded to `$BACKEND_URL/api/...` (the gateway).
    Api(String),
    /// Anything else: 404.
    NotFound,
}

pub fn route(method: &str, path_and_query: &str) -> Route {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    match (method, path) {
        ("GET", "/") => Route::Hello,
        ("GET", "/count") => Route::Count,
        ("POST", "/echo") => Route::Echo,
        ("GET", "/spin") => Route::Spin,
        ("GET", "/trap") => Route::Trap,
        ("GET", "/fetch") => match query.strip_prefix("url=") {
            Some(url) => Route::Fetch(url.to_string()),
            None => Route::NotFound,
        },
        ("GET", p) if p.starts_with("/grow/") => match p["/grow/".len()..].parse() {
            Ok(mib) => Route::Grow(mib),
            Err(_) => Route::NotFound,
        },
        ("GET", p) if p.starts_with("/env/") => Route::Env(p["/env/".len()..].to_string()),
        (_, p) if p == "/api" || p.starts_with("/api/") => Route::Api(path_and_query.to_string()),
        _ => Route::NotFound,
    }
}

#[cfg(target_os = "wasi")]
pub const GREETING: &str = "Hello from a Wasm HTTP component!\n";
#[cfg(not(target_os = "wasi"))]
pub const GREETING: &str = "Hello from a Linux HTTP server!\n";
