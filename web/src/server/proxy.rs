//! The reverse proxy (`--proxy /api=http://127.0.0.1:9000`, nginx's `proxy_pass`, Twisted's
//! `ReverseProxyResource` but HTTP/1.1 with a pool): requests under a prefix go to an upstream
//! over pooled keep-alive connections (the [`Client`]'s pool), bodies stream both ways (never
//! buffered whole), hop-by-hop fields are removed in both directions (RFC 9110 §7.6.1), and
//! the client's address goes upstream in `X-Forwarded-For`/`-Proto`/`-Host` and `Forwarded`
//! (RFC 7239).
//!
//! Paths: with an upstream URL that has no path (`http://h:9000`), the request's path goes as
//! it is; with one (`http://h:9000/v1`), the prefix is replaced by it (`/api/x` → `/v1/x`),
//! as nginx does for `proxy_pass` with a URI. The upstream's Host is its own authority (nginx's
//! default `$proxy_host`); the original is in `X-Forwarded-Host`.
//!
//! Failures: an upstream that cannot be reached, or answers with garbage, is 502; one that
//! does not answer in time is 504; a body cut in the middle ends the client's connection
//! (its response is incomplete). Redirects are passed to the client, not followed.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::PathAndQuery;
use http::{Request, Response, StatusCode, Uri};
use torsion_core::Address;

use super::{error_response, Body, ConnInfo, Handler, RequestBody};
use crate::client::{Client, ClientConfig, ClientError, RedirectPolicy};

/// Idle keep-alive connections kept to an upstream (nginx's `keepalive N` in an `upstream`
/// block; the benchmark's counterpart uses 64).
pub const UPSTREAM_IDLE: usize = 256;

/// Forwards requests under a prefix to an upstream; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct Proxy {
    prefix: String,
    upstream: Uri,
    client: Client,
}

/// Fields that describe one connection, not the message (RFC 9110 §7.6.1), plus the ones a
/// proxy consumes or sets itself.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::UPGRADE,
];

impl Proxy {
    /// Forward requests under `prefix` to `upstream` (`http://host:port[/path]`), with
    /// timeouts from `config` (its redirect policy and gzip decoding are turned off: a proxy
    /// passes both through). At least [`UPSTREAM_IDLE`] idle upstream connections are kept:
    /// a pool smaller than the number of requests in flight would close and reopen upstream
    /// connections all the time.
    pub fn new(prefix: &str, upstream: Uri, config: ClientConfig) -> Result<Self, String> {
        crate::client::url::Origin::of(&upstream)?;
        let client = Client::new(ClientConfig {
            redirects: RedirectPolicy {
                max: 0,
                allow_downgrade: false,
            },
            decode_gzip: false,
            user_agent: None,
            max_idle_per_origin: config.max_idle_per_origin.max(UPSTREAM_IDLE),
            ..config
        });
        Ok(Proxy {
            prefix: format!("/{}", prefix.trim_matches('/')),
            upstream,
            client,
        })
    }

    /// The client whose pool holds the upstream connections.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The upstream URL for a request path and query.
    fn upstream_uri(&self, uri: &Uri) -> Result<Uri, String> {
        let base = self.upstream.path().trim_end_matches('/');
        let path = uri.path();
        let path = if base.is_empty() {
            path.to_owned()
        } else {
            let rest = if self.prefix == "/" {
                path
            } else {
                path.strip_prefix(self.prefix.as_str()).unwrap_or(path)
            };
            format!("{base}{rest}")
        };
        let pq = match uri.query() {
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        let pq: PathAndQuery = pq.parse().map_err(|e| format!("{e}"))?;
        let mut parts = self.upstream.clone().into_parts();
        parts.path_and_query = Some(pq);
        Uri::from_parts(parts).map_err(|e| e.to_string())
    }

    async fn forward(&self, req: Request<RequestBody>) -> Response<Body> {
        let info = req.extensions().get::<ConnInfo>().cloned();
        let (mut parts, body) = req.into_parts();
        let target = match self.upstream_uri(&parts.uri) {
            Ok(t) => t,
            Err(e) => return error_response(StatusCode::BAD_REQUEST, &e),
        };
        let original_host = parts.headers.get(header::HOST).cloned();
        strip_hop_by_hop(&mut parts.headers);
        parts.headers.remove(header::HOST);
        add_forwarded(&mut parts.headers, info.as_ref(), original_host.as_ref());
        let length = body.declared_length();
        let body = if length == Some(0) {
            Body::Empty
        } else {
            Body::stream(body)
        };
        let mut upstream = Request::new(body);
        *upstream.method_mut() = parts.method;
        *upstream.uri_mut() = target;
        *upstream.headers_mut() = parts.headers;
        if let Some(n) = length.filter(|&n| n > 0) {
            upstream
                .headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(n));
        }
        match self.client.send(upstream).await {
            Ok(resp) => {
                let (mut parts, body) = resp.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                parts.headers.remove(header::TRANSFER_ENCODING);
                let body = if http_body::Body::is_end_stream(&body) {
                    Body::Empty
                } else {
                    Body::stream(body)
                };
                Response::from_parts(parts, body)
            }
            Err(ClientError::Timeout(what)) => {
                tracing::warn!(upstream = %self.upstream, what, "upstream timed out");
                error_response(
                    StatusCode::GATEWAY_TIMEOUT,
                    "The upstream server did not answer in time",
                )
            }
            Err(e) => {
                tracing::warn!(upstream = %self.upstream, error = %e, "upstream failed");
                error_response(
                    StatusCode::BAD_GATEWAY,
                    "The upstream server could not be reached or answered badly",
                )
            }
        }
    }
}

impl Handler for Proxy {
    async fn call(&self, req: Request<RequestBody>) -> Response<Body> {
        self.forward(req).await
    }
}

/// Remove hop-by-hop fields, including those the Connection field names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in named.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(name);
    }
    headers.remove(header::TRANSFER_ENCODING);
}

/// X-Forwarded-For (appended), -Proto, -Host, and Forwarded (RFC 7239 §4, appended).
fn add_forwarded(headers: &mut HeaderMap, info: Option<&ConnInfo>, host: Option<&HeaderValue>) {
    let (ip, proto) = match info {
        Some(i) => (
            match &i.peer {
                Address::Tcp(a) => Some(a.ip()),
                _ => None,
            },
            if i.tls { "https" } else { "http" },
        ),
        None => (None, "http"),
    };
    if let Some(ip) = ip {
        let xff = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            Some(prev) => format!("{prev}, {ip}"),
            None => ip.to_string(),
        };
        if let Ok(v) = HeaderValue::from_str(&xff) {
            headers.insert("x-forwarded-for", v);
        }
    }
    headers.insert("x-forwarded-proto", HeaderValue::from_static(proto));
    if let Some(host) = host {
        headers.insert("x-forwarded-host", host.clone());
    }
    // RFC 7239 §6: IPv6 nodes are quoted and bracketed; unknown peers are "unknown".
    let node = match ip {
        Some(std::net::IpAddr::V6(v6)) => format!("\"[{v6}]\""),
        Some(v4) => v4.to_string(),
        None => "unknown".to_owned(),
    };
    let mut element = format!("for={node};proto={proto}");
    if let Some(h) = host.and_then(|h| h.to_str().ok()) {
        if h.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        {
            element.push_str(&format!(";host=\"{h}\""));
        }
    }
    let forwarded = match headers.get(header::FORWARDED).and_then(|v| v.to_str().ok()) {
        Some(prev) => format!("{prev}, {element}"),
        None => element,
    };
    if let Ok(v) = HeaderValue::from_str(&forwarded) {
        headers.insert(header::FORWARDED, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy(prefix: &str, upstream: &str) -> Proxy {
        Proxy::new(
            prefix,
            upstream.parse().expect("uri"),
            ClientConfig::default(),
        )
        .expect("proxy")
    }

    #[test]
    fn paths_map_like_nginx_proxy_pass() {
        let p = proxy("/api", "http://127.0.0.1:9000");
        let u = |s: &str| {
            p.upstream_uri(&s.parse().expect("uri"))
                .expect("maps")
                .to_string()
        };
        assert_eq!(u("/api/x?y=1"), "http://127.0.0.1:9000/api/x?y=1");
        let p = proxy("/api", "http://127.0.0.1:9000/v1/");
        let u = |s: &str| {
            p.upstream_uri(&s.parse().expect("uri"))
                .expect("maps")
                .to_string()
        };
        assert_eq!(u("/api/x?y=1"), "http://127.0.0.1:9000/v1/x?y=1");
        assert_eq!(u("/api"), "http://127.0.0.1:9000/v1");
        assert!(Proxy::new(
            "/",
            "ftp://x/".parse().expect("uri"),
            ClientConfig::default()
        )
        .is_err());
    }

    #[test]
    fn hop_by_hop_fields_go_and_forwarding_fields_come() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, "close, X-Secret".parse().expect("v"));
        h.insert("x-secret", "1".parse().expect("v"));
        h.insert("keep-alive", "timeout=5".parse().expect("v"));
        h.insert(header::TE, "trailers".parse().expect("v"));
        h.insert("x-kept", "yes".parse().expect("v"));
        h.insert("x-forwarded-for", "203.0.113.9".parse().expect("v"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 2, "{h:?}");
        let info = ConnInfo {
            peer: Address::Tcp("[2001:db8::1]:4000".parse().expect("addr")),
            local: Address::Tcp("127.0.0.1:80".parse().expect("addr")),
            tls: true,
        };
        add_forwarded(
            &mut h,
            Some(&info),
            Some(&HeaderValue::from_static("example.test")),
        );
        assert_eq!(h["x-forwarded-for"], "203.0.113.9, 2001:db8::1");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "example.test");
        assert_eq!(
            h[header::FORWARDED],
            "for=\"[2001:db8::1]\";proto=https;host=\"example.test\""
        );
    }
}
