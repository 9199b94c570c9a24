//! The agent's HTTP server (`--http ADDR`, off by default): Prometheus
//! metrics at `/metrics`, JSON at `/api/members`, `/api/routes`,
//! `/api/topology`, the event feed as server-sent events at `/api/events`,
//! and a live page of the mesh at `/`.
//!
//! Only GET (and HEAD) is served; nothing a client sends reaches the node
//! but these reads. Connections, event-feed clients and the time to send a
//! request's header are bounded ([`HttpLimits`]).

mod api;
pub mod metrics;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use netcluster_tokio::Handle;

use crate::admin::events::EventHub;
use crate::daemon::Daemon;

/// The live page, self-contained (inline script and style, no fetches but
/// the agent's own API).
const PAGE: &str = include_str!("page.html");

/// Bounds on the HTTP server's clients.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Connections open at once; more are closed at once.
    pub max_connections: usize,
    /// `/api/events` clients at once; more are answered 503.
    pub max_event_clients: usize,
    /// Events queued towards one `/api/events` client; a client that falls
    /// this far behind is disconnected (it reconnects and reloads), so a
    /// slow reader never holds the agent's event feed back.
    pub event_queue: usize,
    /// How long a client may take to send a request's header.
    pub header_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_connections: 256,
            max_event_clients: 32,
            event_queue: 256,
            header_timeout: Duration::from_secs(10),
        }
    }
}

/// What the server shows.
pub(crate) enum Source {
    /// The agent: every cluster of its daemon for `/metrics`; for the API,
    /// the cluster its admin socket serves.
    Daemon(Arc<Daemon>),
    /// One node and its event feed (the demo's).
    Node(Served),
}

/// One cluster's node as the server sees it.
#[derive(Clone)]
pub(crate) struct Served {
    /// The cluster's name.
    pub(crate) cluster: String,
    /// The node.
    pub(crate) handle: Handle,
    /// Its admin event feed.
    pub(crate) hub: EventHub,
}

impl Source {
    /// The node the API answers for, or why there is none.
    pub(crate) async fn target(&self) -> Result<Served, String> {
        match self {
            Source::Daemon(d) => d.clusters.admin_target().await.map(|n| Served {
                cluster: n.name.clone(),
                handle: n.handle.clone(),
                hub: n.admin.hub.clone(),
            }),
            Source::Node(s) => Ok(s.clone()),
        }
    }

    /// Every node `/metrics` covers: cluster name and handle.
    pub(crate) async fn all(&self) -> Vec<(String, Handle)> {
        match self {
            Source::Daemon(d) => d
                .clusters
                .nodes()
                .await
                .iter()
                .map(|n| (n.name.clone(), n.handle.clone()))
                .collect(),
            Source::Node(s) => vec![(s.cluster.clone(), s.handle.clone())],
        }
    }
}

/// What every connection shares.
pub(crate) struct State {
    pub(crate) source: Source,
    pub(crate) limits: HttpLimits,
    pub(crate) event_clients: Arc<Semaphore>,
    connections: Arc<Semaphore>,
}

/// A response body: whole, or streamed (events).
pub(crate) type Body = BoxBody<Bytes, Infallible>;

/// Binds `addr` and serves until the returned task is aborted; also
/// returns the bound address (port 0 picks a free one).
pub(crate) async fn serve(
    addr: SocketAddr,
    source: Source,
    limits: HttpLimits,
) -> std::io::Result<(JoinHandle<()>, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let state = Arc::new(State {
        source,
        event_clients: Arc::new(Semaphore::new(limits.max_event_clients.max(1))),
        connections: Arc::new(Semaphore::new(limits.max_connections.max(1))),
        limits,
    });
    Ok((tokio::spawn(accept_loop(listener, state)), local))
}

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "http accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = state.connections.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "http connection refused: too many");
            continue;
        };
        let st = state.clone();
        let header_timeout = state.limits.header_timeout;
        tokio::spawn(async move {
            let _permit = permit;
            let svc = hyper::service::service_fn(move |req| {
                let st = st.clone();
                async move { Ok::<_, Infallible>(route(&st, req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(stream), svc);
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "http connection ended");
            }
        });
    }
}

/// Answers one request.
async fn route(st: &State, req: Request<Incoming>) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "only GET is served\n");
        r.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    match req.uri().path() {
        "/" | "/index.html" => whole(StatusCode::OK, "text/html; charset=utf-8", PAGE),
        "/metrics" => {
            let body = metrics::render(&st.source).await;
            whole(StatusCode::OK, metrics::CONTENT_TYPE, body)
        }
        "/api/members" => api::members(st).await,
        "/api/routes" => api::routes(st).await,
        "/api/topology" => api::topology(st).await,
        "/api/events" => api::events(st).await,
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// A whole response.
pub(crate) fn whole(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()).boxed());
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// A plain-text response.
pub(crate) fn text(status: StatusCode, body: impl Into<String>) -> Response<Body> {
    whole(status, "text/plain; charset=utf-8", body.into())
}
