//! `http-p3`: a `wasi:http/service` component (WASI 0.3, async). Wharf
//! serves it as `wasmtime serve` does, instances taking several requests.
//! `GET /` greets, `GET /env/NAME` answers an environment variable (404 if
//! unset: the host's are never there), anything else is 404.
#![cfg(target_os = "wasi")]

use wasip3::http::types::{ErrorCode, Fields, Method, Request, Response};
use wasip3::{wit_bindgen, wit_future, wit_stream};

wasip3::http::service::export!(Service);

struct Service;

impl wasip3::exports::http::handler::Guest for Service {
    async fn handle(request: Request) -> Result<Response, ErrorCode> {
        let path = request.get_path_with_query().unwrap_or_default();
        let (status, body) = match (request.get_method(), path.as_str()) {
            (Method::Get, "/") => (200, "Hello from a WASI 0.3 service!\n".to_string()),
            (Method::Get, p) if p.starts_with("/env/") => {
                let name = &p["/env/".len()..];
                match std::env::var(name) {
                    Ok(value) => (200, format!("{value}\n")),
                    Err(_) => (404, format!("{name} is not set\n")),
                }
            }
            _ => (404, "not found\n".to_string()),
        };
        let (mut body_tx, body_rx) = wit_stream::new();
        let (trailers_tx, trailers_rx) = wit_future::new(|| Ok(None));
        let (response, _sent) = Response::new(Fields::new(), Some(body_rx), trailers_rx);
        drop(trailers_tx);
        response
            .set_status_code(status)
            .map_err(|()| ErrorCode::InternalError(Some("bad status".into())))?;
        wit_bindgen::spawn_local(async move {
            let rest = body_tx.write_all(body.into_bytes()).await;
            assert!(rest.is_empty(), "the client went away");
        });
        Ok(response)
    }
}
