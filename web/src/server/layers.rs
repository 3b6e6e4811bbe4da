//! Middleware as handlers that wrap handlers (tower's layers, without the trait machinery):
//! [`Timeout`] (503 when the inner handler takes too long), [`Compress`] (gzip for clients
//! that accept it), [`Logged`] (a tracing line per request with status and duration), and
//! [`Tower`], which runs any `tower::Service` — an axum `Router`, say — as a handler on this
//! server's HTTP/1.1 implementation (no second HTTP stack: the service gets our
//! `Request<RequestBody>`, its response body is streamed by our writer).
//!
//! ```no_run
//! use std::time::Duration;
//! use torsion_web::server::layers::{Compress, Logged, Timeout};
//! use torsion_web::server::router::Router;
//! let app = Router::new().get("/", |_ctx| async { "hello" });
//! let handler = Logged::new(Compress::new(Timeout::new(app, Duration::from_secs(10))));
//! ```

use std::io::Write;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};

use super::reply::{HttpError, IntoResponse};
use super::{Body, BoxError, Handler, RequestBody};

/// Answers 503 if the inner handler has not answered within its time.
#[derive(Debug, Clone)]
pub struct Timeout<H> {
    inner: H,
    limit: Duration,
}

impl<H: Handler> Timeout<H> {
    /// Bound `inner` by `limit`.
    pub fn new(inner: H, limit: Duration) -> Self {
        Timeout { inner, limit }
    }
}

impl<H: Handler> Handler for Timeout<H> {
    async fn call(&self, req: Request<RequestBody>) -> Response<Body> {
        match tokio::time::timeout(self.limit, self.inner.call(req)).await {
            Ok(resp) => resp,
            Err(_) => {
                let mut r =
                    HttpError::new(StatusCode::SERVICE_UNAVAILABLE, "The request took too long")
                        .into_response();
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                r
            }
        }
    }
}

/// Smallest body worth compressing.
pub const COMPRESS_MIN: usize = 1024;
/// Largest body compressed in memory (larger or streamed bodies go as they are).
pub const COMPRESS_MAX: usize = 8 * 1024 * 1024;

/// gzip-compresses response bodies for clients that accept gzip: bodies in memory between
/// [`COMPRESS_MIN`] and [`COMPRESS_MAX`] bytes, of a compressible type (text, JSON,
/// JavaScript, XML, SVG), not already encoded, not partial; adds `Vary: Accept-Encoding`.
#[derive(Debug, Clone)]
pub struct Compress<H> {
    inner: H,
}

impl<H: Handler> Compress<H> {
    /// Compress what `inner` answers.
    pub fn new(inner: H) -> Self {
        Compress { inner }
    }
}

fn accepts_gzip(req: &Request<RequestBody>) -> bool {
    req.headers()
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                let p = p.trim().replace(' ', "");
                p == "q=0" || p == "q=0.0" || p == "q=0.00" || p == "q=0.000"
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

fn compressible(content_type: Option<&HeaderValue>) -> bool {
    let Some(t) = content_type.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let t = t
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    t.starts_with("text/")
        || matches!(
            t.as_str(),
            "application/json" | "application/javascript" | "application/xml" | "image/svg+xml"
        )
        || t.ends_with("+json")
        || t.ends_with("+xml")
}

impl<H: Handler> Handler for Compress<H> {
    async fn call(&self, req: Request<RequestBody>) -> Response<Body> {
        let gzip = accepts_gzip(&req);
        let mut resp = self.inner.call(req).await;
        let headers = resp.headers();
        let eligible = resp.status() != StatusCode::PARTIAL_CONTENT
            && !headers.contains_key(header::CONTENT_ENCODING)
            && compressible(headers.get(header::CONTENT_TYPE));
        if !eligible {
            return resp;
        }
        resp.headers_mut()
            .append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        let Body::Full(bytes) = resp.body() else {
            return resp;
        };
        if !gzip || bytes.len() < COMPRESS_MIN || bytes.len() > COMPRESS_MAX {
            return resp;
        }
        let mut encoder = flate2::write::GzEncoder::new(
            Vec::with_capacity(bytes.len() / 3),
            flate2::Compression::fast(),
        );
        if encoder.write_all(bytes).is_err() {
            return resp;
        }
        let Ok(compressed) = encoder.finish() else {
            return resp;
        };
        let headers = resp.headers_mut();
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        headers.remove(header::CONTENT_LENGTH);
        // A strong validator names these bytes; the compressed ones are other bytes.
        if let Some(etag) = headers.get(header::ETAG).and_then(|v| v.to_str().ok()) {
            if let Ok(weak) = HeaderValue::from_str(&format!("W/{}", etag.trim_start_matches("W/")))
            {
                headers.insert(header::ETAG, weak);
            }
        }
        *resp.body_mut() = Body::Full(Bytes::from(compressed));
        resp
    }
}

/// A tracing line per request: method, path, status, milliseconds.
#[derive(Debug, Clone)]
pub struct Logged<H> {
    inner: H,
}

impl<H: Handler> Logged<H> {
    /// Log what `inner` answers.
    pub fn new(inner: H) -> Self {
        Logged { inner }
    }
}

impl<H: Handler> Handler for Logged<H> {
    async fn call(&self, req: Request<RequestBody>) -> Response<Body> {
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let started = Instant::now();
        let resp = self.inner.call(req).await;
        tracing::info!(
            %method,
            path,
            status = resp.status().as_u16(),
            ms = started.elapsed().as_secs_f64() * 1000.0,
            "request"
        );
        resp
    }
}

/// Runs a `tower::Service` (cloned per request, as hyper does) as a handler.
#[derive(Debug, Clone)]
pub struct Tower<T> {
    service: T,
}

impl<T> Tower<T> {
    /// Serve with `service`.
    pub fn new(service: T) -> Self {
        Tower { service }
    }
}

impl<T, B> Handler for Tower<T>
where
    T: tower_service::Service<Request<RequestBody>, Response = Response<B>>
        + Clone
        + Send
        + Sync
        + 'static,
    T::Future: Send,
    T::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    async fn call(&self, req: Request<RequestBody>) -> Response<Body> {
        let mut service = self.service.clone();
        // The error is turned into text at once: it need not be Send across the next await.
        let ready = std::future::poll_fn(|cx| match service.poll_ready(cx) {
            Poll::Ready(r) => Poll::Ready(r.map_err(|e| e.into().to_string())),
            Poll::Pending => Poll::Pending,
        })
        .await;
        if let Err(e) = ready {
            return HttpError::internal(format!("service not ready: {e}")).into_response();
        }
        match service.call(req).await {
            Ok(resp) => {
                let (parts, body) = resp.into_parts();
                Response::from_parts(parts, Body::stream(body))
            }
            Err(e) => {
                let e: BoxError = e.into();
                HttpError::internal(format!("service failed: {e}")).into_response()
            }
        }
    }
}
