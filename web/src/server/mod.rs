//! The HTTP/1.1 server: [`HttpServer`] is a torsion-core [`Service`](torsion_core::Service)
//! that reads requests off each connection (keep-alive, pipelining with responses in order,
//! chunked bodies, `Expect: 100-continue`, HEAD), hands them to a [`Handler`], and writes the
//! responses with the framing RFC 9112 §6 asks for. Limits, timeouts and graceful shutdown
//! are the runner's, as for every other Torsion server.
//!
//! Handlers: [`files::Files`] serves a directory; [`proxy::Proxy`] forwards to an upstream;
//! [`router::Router`] routes to application functions; [`Mount`] puts handlers under path
//! prefixes; [`layers`] wraps them (timeouts, compression, logging, any `tower::Service`); any
//! `async fn(Request<RequestBody>) -> Response<Body>` closure is one ([`handler_fn`]).

pub mod body;
mod driver;
pub mod files;
pub mod layers;
pub mod log;
pub mod proxy;
pub mod reply;
pub mod router;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Request, Response, StatusCode};
use torsion_core::Address;

pub use body::{Body, BoxBody, BoxError, Piece, RequestBody};
pub use driver::HttpServer;

/// What a handler can know about the connection a request came on: it is in every request's
/// extensions (`req.extensions().get::<ConnInfo>()`).
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The client.
    pub peer: Address,
    /// The address it connected to.
    pub local: Address,
    /// Whether the connection is TLS.
    pub tls: bool,
}

/// Something that answers requests (Twisted's `Resource`, a tower `Service` without the
/// readiness step).
pub trait Handler: Send + Sync + 'static {
    /// Answer one request.
    fn call(&self, req: Request<RequestBody>) -> impl Future<Output = Response<Body>> + Send;
}

/// A boxed response future.
pub type ResponseFuture = Pin<Box<dyn Future<Output = Response<Body>> + Send>>;

/// A handler made from a function returning a future.
pub fn handler_fn<F, Fut>(f: F) -> HandlerFn<F>
where
    F: Fn(Request<RequestBody>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    HandlerFn(f)
}

/// See [`handler_fn`].
#[derive(Debug, Clone)]
pub struct HandlerFn<F>(F);

impl<F, Fut> Handler for HandlerFn<F>
where
    F: Fn(Request<RequestBody>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    fn call(&self, req: Request<RequestBody>) -> impl Future<Output = Response<Body>> + Send {
        (self.0)(req)
    }
}

/// An object-safe handler, for tables of different handlers.
trait DynHandler: Send + Sync {
    fn call_boxed(&self, req: Request<RequestBody>) -> ResponseFuture;
}

impl<H: Handler> DynHandler for Arc<H> {
    fn call_boxed(&self, req: Request<RequestBody>) -> ResponseFuture {
        let this = self.clone();
        Box::pin(async move { this.call(req).await })
    }
}

/// Handlers under path prefixes (`/api` → a proxy, `/` → files): the longest prefix that
/// matches whole segments wins. Paths under a prefix reach its handler unchanged.
#[derive(Default)]
pub struct Mount {
    routes: Vec<(String, Box<dyn DynHandler>)>,
}

impl std::fmt::Debug for Mount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let prefixes: Vec<&str> = self.routes.iter().map(|(p, _)| p.as_str()).collect();
        f.debug_struct("Mount")
            .field("prefixes", &prefixes)
            .finish()
    }
}

impl Mount {
    /// No routes (everything is 404).
    pub fn new() -> Self {
        Mount::default()
    }

    /// Serve `prefix` (`/api`, or `/` for everything else) with `handler`.
    pub fn at<H: Handler>(mut self, prefix: &str, handler: H) -> Self {
        let prefix = format!("/{}", prefix.trim_matches('/'));
        self.routes.push((prefix, Box::new(Arc::new(handler))));
        // Longest first, so the first match is the most specific.
        self.routes.sort_by_key(|r| std::cmp::Reverse(r.0.len()));
        self
    }

    fn find(&self, path: &str) -> Option<&dyn DynHandler> {
        self.routes.iter().find_map(|(prefix, h)| {
            let matches = prefix == "/"
                || path == prefix
                || path
                    .strip_prefix(prefix.as_str())
                    .is_some_and(|rest| rest.starts_with('/'));
            matches.then_some(h.as_ref())
        })
    }
}

impl Handler for Mount {
    fn call(&self, req: Request<RequestBody>) -> impl Future<Output = Response<Body>> + Send {
        let future = self.find(req.uri().path()).map(|h| h.call_boxed(req));
        async move {
            match future {
                Some(f) => f.await,
                None => error_response(StatusCode::NOT_FOUND, "Not Found"),
            }
        }
    }
}

/// Settings of an [`HttpServer`].
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The `Server` field sent with responses (`None`: none).
    pub server_header: Option<HeaderValue>,
    /// Largest request body accepted (413 beyond).
    pub max_body: u64,
    /// How long a kept-alive connection may wait for its next request.
    pub keep_alive_timeout: Duration,
    /// Time to receive a request head from its first byte, and the silence allowed inside a
    /// head or a body (408 beyond).
    pub request_timeout: Duration,
    /// Requests served on one connection before it is closed (nginx's `keepalive_requests`).
    pub max_requests: u64,
}

/// Default [`ServerConfig::max_body`].
pub const DEFAULT_MAX_BODY: u64 = 16 * 1024 * 1024;
/// Default [`ServerConfig::keep_alive_timeout`] (nginx: 75 s).
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(75);
/// Default [`ServerConfig::request_timeout`] (nginx's `client_header_timeout`: 60 s).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Default [`ServerConfig::max_requests`] (nginx: 1000).
pub const DEFAULT_MAX_REQUESTS: u64 = 1000;

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            server_header: Some(HeaderValue::from_static(concat!(
                "torsion-web/",
                env!("CARGO_PKG_VERSION")
            ))),
            max_body: DEFAULT_MAX_BODY,
            keep_alive_timeout: DEFAULT_KEEP_ALIVE,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_requests: DEFAULT_MAX_REQUESTS,
        }
    }
}

/// A small HTML error page with `status`.
pub fn error_response(status: StatusCode, text: &str) -> Response<Body> {
    let reason = status.canonical_reason().unwrap_or("");
    let page = format!(
        "<!DOCTYPE html>\n<html><head><title>{code} {reason}</title></head>\n<body><h1>{code} {reason}</h1>\n<p>{text}</p></body></html>\n",
        code = status.as_u16(),
        reason = html_escape(reason),
        text = html_escape(text),
    );
    let mut resp = Response::new(Body::from(page));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp
}

/// Escape text for HTML element content and quoted attribute values.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
