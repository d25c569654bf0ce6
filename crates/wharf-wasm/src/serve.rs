//! Serving a `wasi:http` component: HTTP/1.1 on a port, each request handed
//! to a fresh instance, as `wasmtime serve` does.
//!
//! The moving parts are the field's: hyper serves the connections and
//! wasmtime-wasi-http's `ProxyHandler` turns each request into a call of the
//! component's `wasi:http/incoming-handler` (WASI 0.2) or
//! `wasi:http/handler` (WASI 0.3) export. What is Wharf's own is the
//! sandbox around it, the same as for a command guest ([`crate::run::grant`]):
//!
//! * Every instance gets the container's args, env and directories, and
//!   `wasi:http/outgoing-handler` and sockets only when the container has a
//!   network ([`Guest::network`]); otherwise an outgoing request is denied.
//! * Instances come from a pre-instantiated component on the pooling
//!   allocator with copy-on-write memory images, so making one per request
//!   costs microseconds; the memory limit (`--memory`) applies per instance.
//! * A handler that has not answered within the request deadline is cut
//!   off (the engine's epoch ticks make a spinning guest yield) and the
//!   client gets a 504; a trap gets a 500. Either way the server goes on.
//! * An interrupt (`wharf stop`, Ctrl-C) stops accepting connections and
//!   lets the requests in flight finish; SIGKILL ends it at once.

use std::convert::Infallible;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::{Response, StatusCode};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use wasmtime::component::{Component, GuestTaskId, Linker, ResourceTable};
use wasmtime::{Store, StoreContextMut};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::handler::{
    ExpirationError, HandlerState, Instance, InstantiationError, ProxyHandler, ProxyPre,
    ShouldAccept, WorkerExpiration, WorkerState, WorkerStatus,
};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{
    RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView,
};

use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre as P2Pre;

use crate::run::{grant, trap_message, Limits};
use crate::{Compiled, Error, Guest, Outcome, Program, Result, Runtime};

/// Which `wasi:http` world a component serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpWorld {
    /// Exports `wasi:http/incoming-handler@0.2.x` (the `proxy` world).
    P2,
    /// Exports `wasi:http/handler@0.3.x` (the `service` world).
    P3,
}

/// The world `component` serves, read from its exports (as runwasi's
/// wasmtime shim does); `None` for a component that serves no HTTP.
pub(crate) fn http_world(component: &Component) -> Option<HttpWorld> {
    let ty = component.component_type();
    let mut world = None;
    for (name, _) in ty.exports(component.engine()) {
        if name.starts_with("wasi:http/handler@0.3") {
            return Some(HttpWorld::P3);
        }
        if name.starts_with("wasi:http/incoming-handler@0.2") {
            world = Some(HttpWorld::P2);
        }
    }
    world
}

/// The container env var naming the port served in the container.
pub const PORT_ENV: &str = "WHARF_HTTP_PORT";
/// The container env var giving the per-request deadline, in seconds.
pub const TIMEOUT_ENV: &str = "WHARF_HTTP_TIMEOUT";
/// The port served when [`PORT_ENV`] is not set.
pub const DEFAULT_PORT: u16 = 8080;
/// The per-request deadline when [`TIMEOUT_ENV`] is not set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// How a component is served.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The port to listen on, on every address of the namespace.
    pub port: u16,
    /// How long a handler may take to produce its response.
    pub request_timeout: Duration,
    /// Where clients reach the server (published ports), for the
    /// "Serving HTTP on ..." line; empty: the listening address.
    pub urls: Vec<String>,
}

impl ServeOptions {
    /// Port and deadline from the container's env ([`PORT_ENV`],
    /// [`TIMEOUT_ENV`]), defaults otherwise.
    pub fn from_env(env: &[(String, String)], urls: Vec<String>) -> Result<ServeOptions> {
        let get = |name: &str| env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v);
        let port = match get(PORT_ENV) {
            None => DEFAULT_PORT,
            Some(v) => v.parse().ok().filter(|p| *p > 0).ok_or_else(|| {
                Error::Spec(format!(
                    "{PORT_ENV}={v} is not a port number: give 1 to 65535 (-e {PORT_ENV}=8080)"
                ))
            })?,
        };
        let request_timeout = match get(TIMEOUT_ENV) {
            None => DEFAULT_TIMEOUT,
            Some(v) => v
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s > 0.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| {
                    Error::Spec(format!(
                        "{TIMEOUT_ENV}={v} is not a number of seconds: give e.g. -e {TIMEOUT_ENV}=30"
                    ))
                })?,
        };
        Ok(ServeOptions {
            port,
            request_timeout,
            urls,
        })
    }
}

/// Store data of one instance.
struct Host {
    ctx: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    hooks: Hooks,
    limits: Limits,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Host {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// Outgoing requests are a network grant like sockets are.
struct Hooks {
    network: bool,
}

type SendResult = wasmtime_wasi_http::Result<(
    Response<WasiBody>,
    Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
)>;

impl WasiHttpHooks for Hooks {
    fn send_request(
        &mut self,
        request: hyper::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        drop(fut);
        let network = self.network;
        Box::new(async move {
            if !network {
                return Err(wasmtime_wasi_http::Error::HttpRequestDenied);
            }
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

/// wasmtime serve's limits: at most this many connections and requests at
/// once (more wait), and the pool sized to match.
const MAX_CONNECTIONS: usize = 1000;
const MAX_REQUESTS: usize = 1000;
/// WASI 0.3 instances take several requests (concurrently), as in
/// `wasmtime serve`; WASI 0.2 ones exactly one.
const P3_REUSE: usize = 128;
const P3_CONCURRENT_REUSE: usize = 16;
/// How long an idle WASI 0.3 instance is kept for another request.
const IDLE_INSTANCE: Duration = Duration::from_secs(1);
/// How often the engine's epoch ticks: a spinning handler yields this
/// often, so its deadline is seen.
const EPOCH_TICK: Duration = Duration::from_millis(10);
/// How often the accept loop looks for an interrupt.
const INTERRUPT_POLL: Duration = Duration::from_millis(20);

/// What every instance of a server gets: its store's grants and limits,
/// and the deadline of each request.
struct Sandbox {
    engine: wasmtime::Engine,
    guest: Guest,
    timeout: Duration,
}

/// A server: its sandbox, how requests reach instances, and how many may
/// be in flight.
struct Server {
    sandbox: Arc<Sandbox>,
    requests: Semaphore,
    dispatch: Dispatch,
}

/// How a request reaches an instance.
enum Dispatch {
    /// WASI 0.2: one instance per request, called directly (the pattern
    /// wasmtime-wasi-http documents): instantiate, `call_handle` on a task
    /// of its own, the response from the outparam.
    P2(P2Pre<Host>),
    /// WASI 0.3: the library's `ProxyHandler`, whose workers may take
    /// several requests per instance, concurrently.
    P3(ProxyHandler<Services>),
}

/// The `ProxyHandler` state of a WASI 0.3 server.
struct Services {
    sandbox: Arc<Sandbox>,
    pre: ProxyPre<Host>,
}

/// An instance could not be made for a request (the pool is full, the
/// memory limit is below what the component needs at start).
#[derive(Debug)]
struct CannotInstantiate(wasmtime::Error);

impl std::fmt::Display for CannotInstantiate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot make an instance for the request: {:#}", self.0)
    }
}

impl std::error::Error for CannotInstantiate {}

impl Sandbox {
    fn new_store(&self) -> wasmtime::Result<Store<Host>> {
        let mut b = WasiCtxBuilder::new();
        // Handlers share the container's stdout/stderr (its log); no stdin.
        b.inherit_stdout().inherit_stderr();
        grant(&mut b, &self.guest, false)?;
        let host = Host {
            ctx: b.build(),
            table: ResourceTable::new(),
            http: WasiHttpCtx::new(),
            hooks: Hooks {
                network: self.guest.network,
            },
            limits: Limits::new(self.guest.memory_limit),
        };
        let mut store = Store::new(&self.engine, host);
        store.limiter(|h| &mut h.limits);
        // Every epoch tick a running handler yields to the server, which
        // then sees an expired deadline and drops the instance.
        store.epoch_deadline_async_yield_and_update(1);
        store.set_epoch_deadline(1);
        Ok(store)
    }
}

impl HandlerState for Services {
    type StoreData = Host;
    type WorkerExpiration = Expiration;
    type WorkerState = Worker;

    async fn instantiate(&self) -> wasmtime::Result<Instance<Host, Expiration, Worker>> {
        let mut store = self.sandbox.new_store()?;
        let proxy = self.pre.instantiate_async(&mut store).await?;
        let (reuse, concurrent) = (P3_REUSE, P3_CONCURRENT_REUSE);
        let timeout = self.sandbox.timeout;
        Ok(Instance {
            store,
            proxy,
            view: <Host as WasiHttpView>::http,
            expiration: Expiration {
                idle: IDLE_INSTANCE,
                request: timeout,
                sleep: Box::pin(tokio::time::sleep(Duration::MAX)),
            },
            state: Worker {
                reuse,
                concurrent,
                timeout,
            },
        })
    }
}

/// When a worker's instance is done for: idle too long, or a request past
/// its deadline.
struct Expiration {
    idle: Duration,
    request: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl WorkerExpiration for Expiration {
    fn poll(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        status: WorkerStatus,
        start: Instant,
    ) -> Poll<()> {
        let me = self.get_mut();
        let timeout = match status {
            WorkerStatus::Idle => me.idle,
            WorkerStatus::Requests | WorkerStatus::PostReturn => me.request,
        };
        let Some(deadline) = start.checked_add(timeout) else {
            return Poll::Pending;
        };
        let deadline = tokio::time::Instant::from_std(deadline);
        if me.sleep.deadline() != deadline {
            me.sleep.as_mut().reset(deadline);
        }
        me.sleep.as_mut().poll(cx)
    }
}

/// How many requests one instance takes, and how long each may take.
struct Worker {
    reuse: usize,
    concurrent: usize,
    timeout: Duration,
}

impl WorkerState for Worker {
    type StoreData = Host;
    type RequestData = ();

    fn should_accept_request(&self, concurrent: usize, total: usize) -> ShouldAccept {
        if total >= self.reuse {
            ShouldAccept::Never
        } else if concurrent >= self.concurrent {
            ShouldAccept::No
        } else {
            ShouldAccept::Yes
        }
    }

    fn on_request_start(
        &self,
        _store: StoreContextMut<'_, Host>,
        _data: (),
        _task: GuestTaskId,
    ) -> Pin<Box<dyn Future<Output = ()> + 'static + Send + Sync>> {
        Box::pin(tokio::time::sleep(self.timeout))
    }

    /// Failures are reported with the request they failed (`respond`).
    fn drop(&self, store: Store<Host>, _result: wasmtime::Result<()>) {
        drop(store);
    }
}

/// Serves `program` (a component of `world`) until interrupted.
pub(crate) fn serve(
    rt: &Runtime,
    program: &Program,
    world: HttpWorld,
    guest: &Guest,
    options: &ServeOptions,
) -> Result<Outcome> {
    let Compiled::Component(component) = &program.compiled else {
        return Err(Error::Spec(
            "only a component can serve HTTP; this is a core module".into(),
        ));
    };
    let engine = component.engine().clone();
    let instantiate_err = |e: wasmtime::Error| Error::Instantiate {
        kind: crate::BinaryKind::Component,
        message: format!("{e:#}"),
    };
    let mut linker = Linker::<Host>::new(&engine);
    // All of wasi:cli as well as wasi:http: every Rust HTTP guest imports
    // at least wasi:cli/environment, so an HTTP-only linker refuses them.
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)
        .and_then(|()| wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker))
        .and_then(|()| wasmtime_wasi::p3::add_to_linker(&mut linker))
        .and_then(|()| wasmtime_wasi_http::p3::add_to_linker(&mut linker))
        .map_err(|e| Error::Engine(format!("cannot provide wasi:http: {e:#}")))?;
    let pre = linker.instantiate_pre(component).map_err(instantiate_err)?;
    let mut guest = guest.clone();
    guest.stdin = false;
    let sandbox = Arc::new(Sandbox {
        engine: engine.clone(),
        guest,
        timeout: options.request_timeout,
    });
    let dispatch = match world {
        HttpWorld::P2 => Dispatch::P2(P2Pre::new(pre).map_err(instantiate_err)?),
        HttpWorld::P3 => Dispatch::P3(ProxyHandler::new(Services {
            sandbox: sandbox.clone(),
            pre: ProxyPre::P3(
                wasmtime_wasi_http::p3::bindings::ServicePre::new(pre).map_err(instantiate_err)?,
            ),
        })),
    };
    let server = Arc::new(Server {
        sandbox,
        requests: Semaphore::new(MAX_REQUESTS),
        dispatch,
    });
    let _ticker = crate::run::Ticker::start_every(engine, EPOCH_TICK);
    let tokio = current_thread_runtime()?;
    let outcome = tokio.block_on(accept_loop(rt, server, options));
    // Whatever is left (a killed server's requests) is abandoned.
    tokio.shutdown_background();
    outcome
}

/// Where the server is in its life, as the accept loop tells the workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Serving,
    /// Stopped accepting: finish the requests in flight, then end.
    Draining,
    /// SIGKILL: end now.
    Killed,
}

/// A connection handed to a worker, with its place under the connection
/// limit.
type Handoff = (std::net::TcpStream, tokio::sync::OwnedSemaphorePermit);

fn current_thread_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| Error::Engine(format!("cannot start the HTTP server's runtime: {e}")))
}

/// Accepts connections and deals them out to one worker thread per CPU,
/// each running its connections and their instances on a runtime of its
/// own: a request never changes threads, so no wakeup crosses cores (with
/// one work-stealing runtime, a third of the server's system calls were
/// futex wakeups). Until an interrupt; then the workers let the open
/// connections finish their requests (unless the interrupt is SIGKILL).
async fn accept_loop(rt: &Runtime, server: Arc<Server>, options: &ServeOptions) -> Result<Outcome> {
    let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, options.port));
    let listener = listen(addr).map_err(|e| Error::Listen {
        port: options.port,
        source: e,
    })?;
    let (phase, phases) = watch::channel(Phase::Serving);
    let count = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut inboxes = Vec::with_capacity(count);
    let mut workers = Vec::with_capacity(count);
    for i in 0..count {
        let (inbox, handoffs) = tokio::sync::mpsc::unbounded_channel::<Handoff>();
        let (server, phases) = (server.clone(), phases.clone());
        // Started from this thread, the workers are in its namespaces.
        let worker = std::thread::Builder::new()
            .name(format!("wharf-http-{i}"))
            .spawn(move || work(server, handoffs, phases))
            .map_err(|e| Error::Engine(format!("cannot start an HTTP worker: {e}")))?;
        inboxes.push(inbox);
        workers.push(worker);
    }
    if options.urls.is_empty() {
        eprintln!("Serving HTTP on http://{addr}/");
    }
    for url in &options.urls {
        eprintln!("Serving HTTP on {url}");
    }
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut poll = tokio::time::interval(INTERRUPT_POLL);
    let mut next = 0;
    let signal = loop {
        tokio::select! {
            _ = poll.tick() => {
                if let Some(signal) = rt.interrupt.signal() {
                    break signal;
                }
            }
            accepted = accept(&listener, &connections) => {
                let Some((stream, permit)) = accepted else { continue };
                let Ok(stream) = stream.into_std() else { continue };
                let _ = inboxes[next].send((stream, permit));
                next = (next + 1) % inboxes.len();
            }
        }
    };
    drop(listener);
    if signal == libc::SIGKILL {
        let _ = phase.send(Phase::Killed);
        return Ok(Outcome::Interrupted { signal });
    }
    // Graceful: idle keep-alive connections close, busy ones finish the
    // request they are on. A SIGKILL (the stop timeout) cuts this short.
    let _ = phase.send(Phase::Draining);
    while !workers.iter().all(|w| w.is_finished()) {
        poll.tick().await;
        if rt.interrupt.signal() == Some(libc::SIGKILL) {
            let _ = phase.send(Phase::Killed);
            return Ok(Outcome::Interrupted {
                signal: libc::SIGKILL,
            });
        }
    }
    Ok(Outcome::Exited(0))
}

/// One worker thread: serves the connections it is handed until the
/// phase leaves `Serving`, then drains them (or, killed, drops them).
fn work(
    server: Arc<Server>,
    mut handoffs: tokio::sync::mpsc::UnboundedReceiver<Handoff>,
    mut phases: watch::Receiver<Phase>,
) {
    let Ok(tokio) = current_thread_runtime() else {
        return;
    };
    tokio.block_on(async {
        let mut tasks = JoinSet::new();
        loop {
            tokio::select! {
                Some((stream, permit)) = handoffs.recv() => {
                    let Ok(stream) = tokio::net::TcpStream::from_std(stream) else { continue };
                    let server = server.clone();
                    let phases = phases.clone();
                    tasks.spawn(async move {
                        connection(stream, server, phases).await;
                        drop(permit);
                    });
                }
                changed = phases.changed() => {
                    if changed.is_err() || *phases.borrow() != Phase::Serving {
                        break;
                    }
                }
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        while *phases.borrow() == Phase::Draining {
            tokio::select! {
                next = tasks.join_next() => if next.is_none() { break },
                changed = phases.changed() => if changed.is_err() { break },
            }
        }
    });
    // Whatever is left (a killed server's requests) is abandoned.
    tokio.shutdown_background();
}

fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    // A restarted server can bind while old connections sit in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// The next connection, once there is room for it. `None` after a failed
/// accept (out of descriptors, a connection reset before it was taken),
/// which is reported and waited out rather than ending the server.
async fn accept(
    listener: &tokio::net::TcpListener,
    connections: &Arc<Semaphore>,
) -> Option<(tokio::net::TcpStream, tokio::sync::OwnedSemaphorePermit)> {
    let permit = connections.clone().acquire_owned().await.ok()?;
    match listener.accept().await {
        Ok((stream, _)) => Some((stream, permit)),
        Err(e) => {
            eprintln!("wharf: accepting a connection: {e}");
            tokio::time::sleep(Duration::from_millis(50)).await;
            None
        }
    }
}

async fn connection(
    stream: tokio::net::TcpStream,
    server: Arc<Server>,
    mut phases: watch::Receiver<Phase>,
) {
    // Small response chunks go out at once (no Nagle delay).
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |request| {
        let server = server.clone();
        async move { Ok::<_, Infallible>(respond(&server, request).await) }
    });
    let conn = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    // The guard `wait_for` returns is not Send: only whether it came.
    let stop = async move {
        phases
            .wait_for(|phase| *phase != Phase::Serving)
            .await
            .is_ok()
    };
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stop => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// The component's response to `request`, or the error page for why there
/// is none (also reported on the container's stderr, i.e. its log).
async fn respond(
    server: &Server,
    request: hyper::Request<hyper::body::Incoming>,
) -> Response<WasiBody> {
    let Ok(_permit) = server.requests.acquire().await else {
        return error_page(StatusCode::SERVICE_UNAVAILABLE, "the server is stopping");
    };
    let what = format!("{} {}", request.method(), request.uri());
    let started = Instant::now();
    let request = request.map(|body| body.map_err(Into::into).boxed_unsync());
    let result = match &server.dispatch {
        Dispatch::P2(pre) => handle_p2(&server.sandbox, pre, request).await,
        Dispatch::P3(handler) => handler.handle((), request).await,
    };
    let e = match result {
        Ok(response) => return response,
        Err(e) => e,
    };
    // A WASI 0.3 instance past its deadline may be dropped before the
    // expiration is reported, so the clock says what happened.
    let timeout = server.sandbox.timeout;
    let (status, why) = if e.is::<ExpirationError>() || started.elapsed() >= timeout {
        (
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "the handler did not respond within {timeout:?} ({TIMEOUT_ENV}); it was stopped"
            ),
        )
    } else if let Some(e) = e.downcast_ref::<InstantiationError<()>>() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("cannot make an instance for the request: {:#}", e.error),
        )
    } else if let Some(e) = e.downcast_ref::<CannotInstantiate>() {
        (StatusCode::SERVICE_UNAVAILABLE, e.to_string())
    } else {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the handler failed: {}", trap_message(&e)),
        )
    };
    eprintln!("wharf: {what}: {why}");
    error_page(status, &why)
}

/// One WASI 0.2 request: a fresh instance on a task of its own (which
/// goes on streaming the body after the response's head is out), and its
/// response from the outparam, within the deadline. Past it the task is
/// aborted: the handler yields at the next epoch tick and its instance is
/// dropped there.
async fn handle_p2(
    sandbox: &Sandbox,
    pre: &P2Pre<Host>,
    request: hyper::Request<WasiBody>,
) -> wasmtime::Result<Response<WasiBody>> {
    let mut store = sandbox.new_store()?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let http = &mut store.data_mut().http();
    let request = http.new_incoming_request(Scheme::Http, request)?;
    let out = http.new_response_outparam(tx)?;
    let pre = pre.clone();
    let task = tokio::spawn(async move {
        let proxy = pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| wasmtime::Error::new(CannotInstantiate(e)))?;
        proxy
            .wasi_http_incoming_handler()
            .call_handle(&mut store, request, out)
            .await
    });
    match tokio::time::timeout(sandbox.timeout, rx).await {
        Ok(Ok(Ok(response))) => Ok(response),
        Ok(Ok(Err(code))) => Err(wasmtime::format_err!("it answered with the error {code:?}")),
        // The outparam is gone unset: the task says why.
        Ok(Err(_)) => match task.await {
            Ok(Ok(())) => Err(wasmtime::format_err!(
                "it returned without a response (response-outparam::set was never called)"
            )),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(wasmtime::format_err!("its task failed: {e}")),
        },
        Err(_) => {
            task.abort();
            Err(ExpirationError.into())
        }
    }
}

fn error_page(status: StatusCode, why: &str) -> Response<WasiBody> {
    let body = format!("{status}: {why}\n");
    let mut response = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never: Infallible| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
