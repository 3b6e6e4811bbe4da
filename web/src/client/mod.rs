//! The HTTP/1.1 client (what Twisted's Agent, reqwest or curl give): pooled keep-alive
//! connections per origin, http and https (rustls, the system roots or given ones),
//! redirects under a [`RedirectPolicy`] (a limit, never https → http unless allowed,
//! credentials dropped when the origin changes), timeouts for the connect, the response head
//! and the whole exchange, bodies streamed both ways (chunked when their length is unknown),
//! gzip decoding, and HTTP proxies (absolute-form for http, a CONNECT tunnel for https).
//!
//! ```no_run
//! # async fn demo() -> Result<(), torsion_web::client::ClientError> {
//! use torsion_web::client::{Client, ClientConfig};
//! let client = Client::new(ClientConfig::default());
//! let resp = client.get("https://example.test/").await?;
//! println!("{} {}", resp.status(), resp.into_body().text(1 << 20).await?);
//! # Ok(()) }
//! ```
//!
//! A request that fails on a reused connection before any byte of a response arrived (the
//! server closed it while idle, RFC 9112 §9.3.1) is sent again once on a new connection, if
//! its method is idempotent and its body can be replayed.

mod body;
pub mod pool;
pub mod url;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::BytesMut;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use tokio_util::codec::Decoder;
use torsion_core::endpoint::ConnectError;
use torsion_core::tokio_rustls::TlsConnector;
use torsion_core::{ClientEndpoint, Connection, ReadError};

pub use self::body::ResponseBody;
use self::pool::{Pool, PoolKey};
use self::url::{resolve, target, Origin};
use crate::body::{write_body, Body};
use crate::proto::response::{
    parse_response_head, write_request_head, ResponseHead, ResponseLength,
};
use crate::proto::{BodyDecoder, HeadError};

/// Default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default wait for a response head once the request is sent.
pub const DEFAULT_HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// Default silence allowed while reading a body.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Most response body bytes a body decoder accepts at all (a stream of more is refused).
pub const MAX_RESPONSE_BODY: u64 = u64::MAX / 2;

/// Which redirects are followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedirectPolicy {
    /// Most redirects followed for one request (0: none — the 3xx is returned).
    pub max: u32,
    /// Follow an https URL's redirect to plain http.
    pub allow_downgrade: bool,
}

impl Default for RedirectPolicy {
    /// Ten, as curl's `--max-redirs` default is fifty and browsers stop at twenty; no
    /// downgrade.
    fn default() -> Self {
        RedirectPolicy {
            max: 10,
            allow_downgrade: false,
        }
    }
}

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Bound on connecting (TCP, the proxy's CONNECT, TLS).
    pub connect_timeout: Duration,
    /// Bound on waiting for the response head after the request was sent.
    pub head_timeout: Duration,
    /// Silence allowed while reading a body.
    pub read_timeout: Duration,
    /// Bound on the whole exchange up to the response head, redirects included (None: the
    /// per-step bounds only). The body is bounded by [`ClientConfig::read_timeout`].
    pub total_timeout: Option<Duration>,
    /// Redirects.
    pub redirects: RedirectPolicy,
    /// CA certificates (PEM) for https; `None`: the system store.
    pub trust_roots: Option<PathBuf>,
    /// An HTTP proxy (`http://host:port`).
    pub proxy: Option<Uri>,
    /// Ask for gzip and decode it.
    pub decode_gzip: bool,
    /// The User-Agent sent unless a request has its own (`None`: none).
    pub user_agent: Option<HeaderValue>,
    /// Idle connections kept per origin.
    pub max_idle_per_origin: usize,
    /// How long an idle connection is kept.
    pub pool_idle_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            head_timeout: DEFAULT_HEAD_TIMEOUT,
            read_timeout: DEFAULT_READ_TIMEOUT,
            total_timeout: None,
            redirects: RedirectPolicy::default(),
            trust_roots: None,
            proxy: None,
            decode_gzip: true,
            user_agent: Some(HeaderValue::from_static(concat!(
                "torsion-web/",
                env!("CARGO_PKG_VERSION")
            ))),
            max_idle_per_origin: 8,
            pool_idle_timeout: Duration::from_secs(90),
        }
    }
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL cannot be requested.
    #[error("bad URL: {0}")]
    Url(String),
    /// Connecting failed.
    #[error("connect to {0}")]
    Connect(String),
    /// A step took too long.
    #[error("timed out {0}")]
    Timeout(&'static str),
    /// TLS could not be set up.
    #[error("tls: {0}")]
    Tls(String),
    /// The transport failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The server's response is not HTTP/1.1 as RFC 9112 defines it.
    #[error("bad response: {0}")]
    Protocol(String),
    /// More redirects than the policy allows.
    #[error("more than {0} redirects")]
    TooManyRedirects(u32),
    /// A redirect from https to http, which the policy refuses.
    #[error("refusing to follow a redirect from https to {0}")]
    Downgrade(String),
    /// The proxy refused the CONNECT tunnel.
    #[error("the proxy answered CONNECT with {0}")]
    Proxy(StatusCode),
    /// A body was larger than asked for.
    #[error("body larger than {0} bytes")]
    TooLarge(u64),
}

impl From<ConnectError> for ClientError {
    fn from(e: ConnectError) -> Self {
        match e {
            ConnectError::Timeout { .. } => ClientError::Timeout("connecting"),
            other => ClientError::Connect(other.to_string()),
        }
    }
}

struct Inner {
    config: ClientConfig,
    pool: Arc<Pool>,
    tls: OnceLock<Result<TlsConnector, String>>,
}

/// An HTTP client; cheap to clone (the clones share the pool).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .finish()
    }
}

/// The result of writing a request and reading its response head.
enum Exchange {
    Done(Box<Response<ResponseBody>>),
    /// Failed on a reused connection before any response byte: may be retried.
    Stale(ClientError),
    Failed(ClientError),
}

impl Client {
    /// A client with `config`.
    pub fn new(config: ClientConfig) -> Self {
        let pool = Arc::new(Pool::new(
            config.max_idle_per_origin,
            config.pool_idle_timeout,
        ));
        Client {
            inner: Arc::new(Inner {
                config,
                pool,
                tls: OnceLock::new(),
            }),
        }
    }

    /// The settings.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The connection pool (to look at in tests).
    pub fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    /// `GET url`.
    pub async fn get(&self, url: &str) -> Result<Response<ResponseBody>, ClientError> {
        let uri: Uri = url
            .parse()
            .map_err(|e| ClientError::Url(format!("{url}: {e}")))?;
        let mut req = Request::new(Body::Empty);
        *req.uri_mut() = uri;
        self.request(req).await
    }

    /// Send `req` (an absolute URL), following redirects as the policy says.
    pub async fn request(&self, req: Request<Body>) -> Result<Response<ResponseBody>, ClientError> {
        match self.inner.config.total_timeout {
            Some(t) => tokio::time::timeout(t, self.follow(req))
                .await
                .map_err(|_| ClientError::Timeout("for the whole request"))?,
            None => self.follow(req).await,
        }
    }

    async fn follow(&self, mut req: Request<Body>) -> Result<Response<ResponseBody>, ClientError> {
        let policy = self.inner.config.redirects;
        let mut redirects = 0;
        loop {
            let replay = redirect_replay(&req);
            let resp = self.send(req).await?;
            let status = resp.status();
            let location = resp
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let (Some(location), Some(mut next)) = (location, replay) else {
                return Ok(resp);
            };
            if !status.is_redirection() || status == StatusCode::NOT_MODIFIED || policy.max == 0 {
                return Ok(resp);
            }
            if status == StatusCode::MULTIPLE_CHOICES || status.as_u16() == 305 {
                return Ok(resp);
            }
            if redirects >= policy.max {
                return Err(ClientError::TooManyRedirects(policy.max));
            }
            redirects += 1;
            let from = next.uri().clone();
            let to = resolve(&from, &location).map_err(ClientError::Protocol)?;
            let from_origin = Origin::of(&from).map_err(ClientError::Url)?;
            let to_origin = Origin::of(&to).map_err(ClientError::Url)?;
            if from_origin.tls && !to_origin.tls && !policy.allow_downgrade {
                return Err(ClientError::Downgrade(to.to_string()));
            }
            // RFC 9110 §15.4: 303 becomes GET; 301/302 turn POST into GET, as every client
            // does; 307/308 keep the method and body.
            let to_get = status == StatusCode::SEE_OTHER && next.method() != Method::HEAD
                || (matches!(status.as_u16(), 301 | 302) && next.method() == Method::POST);
            if to_get {
                *next.method_mut() = Method::GET;
                *next.body_mut() = Body::Empty;
                for name in [
                    header::CONTENT_LENGTH,
                    header::CONTENT_TYPE,
                    header::CONTENT_ENCODING,
                ] {
                    next.headers_mut().remove(name);
                }
            }
            if from_origin != to_origin {
                // Credentials are for the origin they were given to.
                for name in [
                    header::AUTHORIZATION,
                    header::COOKIE,
                    header::PROXY_AUTHORIZATION,
                ] {
                    next.headers_mut().remove(name);
                }
            }
            next.headers_mut().remove(header::HOST);
            *next.uri_mut() = to;
            // Read a small redirect body away so its connection can be reused.
            let _ = tokio::time::timeout(Duration::from_secs(2), resp.into_body().bytes(64 * 1024))
                .await;
            req = next;
        }
    }

    /// Send one request (no redirects followed), retrying once on a fresh connection when a
    /// reused one turns out to be closed.
    pub async fn send(&self, req: Request<Body>) -> Result<Response<ResponseBody>, ClientError> {
        let retry = is_idempotent(req.method())
            .then(|| redirect_replay(&req))
            .flatten();
        match self.exchange(req, true).await {
            Exchange::Done(resp) => Ok(*resp),
            Exchange::Failed(e) => Err(e),
            Exchange::Stale(e) => match retry {
                Some(again) => match self.exchange(again, false).await {
                    Exchange::Done(resp) => Ok(*resp),
                    Exchange::Failed(e) | Exchange::Stale(e) => Err(e),
                },
                None => Err(e),
            },
        }
    }

    fn connector(&self) -> Result<TlsConnector, ClientError> {
        self.inner
            .tls
            .get_or_init(|| {
                torsion_core::tls::connector(self.inner.config.trust_roots.as_deref())
                    .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(ClientError::Tls)
    }

    /// A new connection to `origin` (through the proxy if one is set).
    async fn connect(&self, origin: &Origin) -> Result<Connection, ClientError> {
        let config = &self.inner.config;
        let proxy = match &config.proxy {
            Some(p) => Some(Origin::of(p).map_err(ClientError::Url)?),
            None => None,
        };
        let via = proxy.as_ref().unwrap_or(origin);
        let endpoint = ClientEndpoint::Tcp {
            host: via.host.clone(),
            port: via.port,
            timeout: Some(config.connect_timeout),
        };
        let mut conn = endpoint.connect().await?;
        conn.set_idle_timeout(Some(config.connect_timeout));
        if proxy.is_some() && origin.tls {
            tunnel(&mut conn, origin).await?;
        }
        if origin.tls {
            let connector = self.connector()?;
            let name = torsion_core::tls::server_name(&origin.host)
                .map_err(|e| ClientError::Tls(e.to_string()))?;
            conn.upgrade_client_tls(&connector, name)
                .await
                .map_err(|e| match e.kind() {
                    std::io::ErrorKind::TimedOut => ClientError::Timeout("in the TLS handshake"),
                    _ => ClientError::Tls(format!("handshake with {}: {e}", origin.host)),
                })?;
        }
        Ok(conn)
    }

    async fn exchange(&self, req: Request<Body>, may_reuse: bool) -> Exchange {
        let config = &self.inner.config;
        let (mut parts, body) = req.into_parts();
        let origin = match Origin::of(&parts.uri) {
            Ok(o) => o,
            Err(e) => return Exchange::Failed(ClientError::Url(e)),
        };
        let proxied = config.proxy.is_some();
        let key = PoolKey {
            origin: origin.clone(),
            proxied,
        };
        let reused = if may_reuse {
            self.inner.pool.take(&key)
        } else {
            None
        };
        let was_reused = reused.is_some();
        let mut conn = match reused {
            Some(c) => c,
            None => match self.connect(&origin).await {
                Ok(c) => c,
                Err(e) => return Exchange::Failed(e),
            },
        };
        // The head.
        let headers = &mut parts.headers;
        if !headers.contains_key(header::HOST) {
            if let Ok(v) = HeaderValue::from_str(&origin.host_field()) {
                headers.insert(header::HOST, v);
            }
        }
        if let Some(agent) = &config.user_agent {
            if !headers.contains_key(header::USER_AGENT) {
                headers.insert(header::USER_AGENT, agent.clone());
            }
        }
        let asked_gzip = config.decode_gzip && !headers.contains_key(header::ACCEPT_ENCODING);
        if asked_gzip {
            headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        }
        // The connection's framing is ours.
        headers.remove(header::TRANSFER_ENCODING);
        headers.remove(header::CONNECTION);
        let length = body.len();
        let chunked = length.is_none();
        match length {
            Some(0)
                if matches!(
                    parts.method,
                    Method::GET | Method::HEAD | Method::OPTIONS | Method::DELETE
                ) =>
            {
                headers.remove(header::CONTENT_LENGTH);
            }
            Some(n) => {
                headers.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
            }
            None => {
                headers.remove(header::CONTENT_LENGTH);
                headers.insert(
                    header::TRANSFER_ENCODING,
                    HeaderValue::from_static("chunked"),
                );
            }
        }
        let target = if proxied && !origin.tls {
            // An http request through a proxy uses the absolute form (RFC 9112 §3.2.2).
            parts.uri.to_string()
        } else {
            target(&parts.uri)
        };
        write_request_head(conn.output_buffer(), &parts.method, &target, headers);
        conn.set_idle_timeout(Some(config.read_timeout));
        if let Err(e) = write_body(&mut conn, body, chunked, length).await {
            return stale_or_failed(was_reused, ClientError::Io(e));
        }
        // The response head (1xx interim responses are skipped).
        let head_request = parts.method == Method::HEAD;
        conn.set_idle_timeout(Some(config.head_timeout));
        let head = loop {
            let mut codec = ResponseHeadCodec { head_request };
            match conn.read_frame(&mut codec).await {
                Ok(Some(head))
                    if head.parts.status.is_informational()
                        && head.parts.status != StatusCode::SWITCHING_PROTOCOLS =>
                {
                    continue
                }
                Ok(Some(head)) => break head,
                Ok(None) => {
                    return stale_or_failed(
                        was_reused,
                        ClientError::Protocol(
                            "the server closed the connection without a response".into(),
                        ),
                    )
                }
                Err(ReadError::Frame(e)) => {
                    return Exchange::Failed(ClientError::Protocol(e.to_string()))
                }
                Err(ReadError::IdleTimeout | ReadError::FrameTimeout) => {
                    return Exchange::Failed(ClientError::Timeout("waiting for the response head"))
                }
                Err(ReadError::Io(e)) => {
                    return stale_or_failed(
                        was_reused && conn.pending_input().is_empty(),
                        ClientError::Io(e),
                    )
                }
                Err(e) => return Exchange::Failed(ClientError::Protocol(e.to_string())),
            }
        };
        conn.set_idle_timeout(Some(config.read_timeout));
        let ResponseHead {
            parts: mut resp_parts,
            body: framing,
            keep_alive,
        } = head;
        let gzip = asked_gzip
            && resp_parts
                .headers
                .get(header::CONTENT_ENCODING)
                .is_some_and(|v| {
                    v.as_bytes().eq_ignore_ascii_case(b"gzip")
                        || v.as_bytes().eq_ignore_ascii_case(b"x-gzip")
                });
        if gzip {
            resp_parts.headers.remove(header::CONTENT_ENCODING);
            resp_parts.headers.remove(header::CONTENT_LENGTH);
        }
        let pool = Some((self.inner.pool.clone(), key));
        let body = match framing {
            ResponseLength::Empty => {
                if keep_alive {
                    if let Some((pool, key)) = pool {
                        pool.put(key, conn);
                    }
                }
                ResponseBody::empty()
            }
            ResponseLength::Length(n) => match BodyDecoder::length(n, MAX_RESPONSE_BODY) {
                Ok(d) => ResponseBody::reading(conn, d, keep_alive, pool, Some(n), gzip),
                Err(e) => return Exchange::Failed(ClientError::Protocol(e.to_string())),
            },
            ResponseLength::Chunked => ResponseBody::reading(
                conn,
                BodyDecoder::chunked(MAX_RESPONSE_BODY),
                keep_alive,
                pool,
                None,
                gzip,
            ),
            ResponseLength::UntilClose => ResponseBody::reading(
                conn,
                BodyDecoder::until_close(MAX_RESPONSE_BODY),
                false,
                None,
                None,
                gzip,
            ),
        };
        Exchange::Done(Box::new(Response::from_parts(resp_parts, body)))
    }
}

fn stale_or_failed(reused: bool, e: ClientError) -> Exchange {
    if reused {
        Exchange::Stale(e)
    } else {
        Exchange::Failed(e)
    }
}

/// RFC 9110 §9.2.2.
fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

/// A copy of `req` to send again (redirect or retry), unless its body is a stream.
fn redirect_replay(req: &Request<Body>) -> Option<Request<Body>> {
    let body = req.body().try_clone()?;
    let mut copy = Request::new(body);
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.headers_mut() = req.headers().clone();
    Some(copy)
}

/// Open a CONNECT tunnel to `origin` through the proxy `conn` is connected to.
async fn tunnel(conn: &mut Connection, origin: &Origin) -> Result<(), ClientError> {
    let authority = origin.authority();
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&authority) {
        headers.insert(header::HOST, v);
    }
    let mut head = BytesMut::new();
    write_request_head(&mut head, &Method::CONNECT, &authority, &headers);
    conn.queue(&head);
    // A 2xx answer to CONNECT has no body (RFC 9110 §9.3.6): parse it as a HEAD's.
    let mut codec = ResponseHeadCodec { head_request: true };
    match conn.read_frame(&mut codec).await {
        Ok(Some(h)) if h.parts.status.is_success() => Ok(()),
        Ok(Some(h)) => Err(ClientError::Proxy(h.parts.status)),
        Ok(None) => Err(ClientError::Protocol(
            "the proxy closed the connection".into(),
        )),
        Err(ReadError::IdleTimeout | ReadError::FrameTimeout) => {
            Err(ClientError::Timeout("waiting for the proxy"))
        }
        Err(e) => Err(ClientError::Protocol(format!("proxy: {e}"))),
    }
}

/// Frames response heads.
struct ResponseHeadCodec {
    head_request: bool,
}

/// Why a response head could not be read.
#[derive(Debug, thiserror::Error)]
enum ResponseHeadError {
    #[error(transparent)]
    Head(#[from] HeadError),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl Decoder for ResponseHeadCodec {
    type Item = ResponseHead;
    type Error = ResponseHeadError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<ResponseHead>, ResponseHeadError> {
        match parse_response_head(src, self.head_request)? {
            Some((head, used)) => {
                let _ = src.split_to(used);
                Ok(Some(head))
            }
            None => Ok(None),
        }
    }
}
