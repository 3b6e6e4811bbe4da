//! What the client needs of URLs: the origin a request goes to (scheme, host, port), the
//! request target, and resolving a redirect's `Location` against the request's URL
//! (RFC 3986 §5.2, for the forms servers send: absolute, scheme-relative, absolute-path,
//! relative-path; RFC 9110 §10.2.2).

use http::uri::{Authority, PathAndQuery, Scheme};
use http::Uri;

/// Where connections go: scheme, host, port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// `true` for https.
    pub tls: bool,
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
}

impl Origin {
    /// The origin of an absolute http or https URL.
    pub fn of(uri: &Uri) -> Result<Origin, String> {
        let tls = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("https") => true,
            Some(s) if s.eq_ignore_ascii_case("http") => false,
            Some(s) => return Err(format!("unsupported scheme {s:?}")),
            None => return Err(format!("{uri}: not an absolute URL")),
        };
        let host = uri
            .host()
            .ok_or_else(|| format!("{uri}: no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        if host.is_empty() {
            return Err(format!("{uri}: empty host"));
        }
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        Ok(Origin { tls, host, port })
    }

    /// `host[:port]` as a Host field (the port only when not the scheme's default).
    pub fn host_field(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default = if self.tls { 443 } else { 80 };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// `host:port` (a CONNECT target).
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// The origin-form target (`/path?query`) of a URL.
pub fn target(uri: &Uri) -> String {
    match uri.path_and_query() {
        Some(pq) if !pq.as_str().is_empty() && pq.as_str().starts_with('/') => {
            pq.as_str().to_owned()
        }
        Some(pq) if pq.as_str().starts_with('?') => format!("/{}", pq.as_str()),
        _ => "/".to_owned(),
    }
}

/// Resolve `location` against `base`.
pub fn resolve(base: &Uri, location: &str) -> Result<Uri, String> {
    let location = location.trim();
    let bad = |e: http::Error| format!("bad Location {location:?}: {e}");
    if let Ok(uri) = location.parse::<Uri>() {
        if uri.scheme().is_some() {
            return Ok(uri);
        }
    }
    let scheme = base.scheme().cloned().unwrap_or(Scheme::HTTP);
    if let Some(rest) = location.strip_prefix("//") {
        return format!("{scheme}://{rest}")
            .parse()
            .map_err(|e: http::uri::InvalidUri| format!("bad Location {location:?}: {e}"));
    }
    let authority: Authority = base
        .authority()
        .cloned()
        .ok_or_else(|| "the request URL has no host".to_owned())?;
    let (path, query) = match location.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (location, None),
    };
    let path = if path.starts_with('/') {
        remove_dots(path)
    } else if path.is_empty() {
        base.path().to_owned()
    } else {
        let dir = match base.path().rfind('/') {
            Some(i) => &base.path()[..=i],
            None => "/",
        };
        remove_dots(&format!("{dir}{path}"))
    };
    let pq = match query {
        Some(q) => format!("{path}?{q}"),
        None if location.is_empty() => base.query().map_or(path.clone(), |q| format!("{path}?{q}")),
        None => path,
    };
    let pq: PathAndQuery = pq
        .parse()
        .map_err(|e: http::uri::InvalidUri| format!("bad Location {location:?}: {e}"))?;
    Uri::builder()
        .scheme(scheme)
        .authority(authority)
        .path_and_query(pq)
        .build()
        .map_err(bad)
}

/// RFC 3986 §5.2.4 remove_dot_segments.
fn remove_dots(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (i, s) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *s {
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                out.pop();
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(base: &str, loc: &str) -> String {
        resolve(&base.parse().expect("base"), loc)
            .expect("resolves")
            .to_string()
    }

    #[test]
    fn redirect_targets_resolve() {
        let base = "http://a.test/b/c/d?q";
        assert_eq!(r(base, "https://x.test/y"), "https://x.test/y");
        assert_eq!(r(base, "//x.test/y"), "http://x.test/y");
        assert_eq!(r(base, "/y?z=1"), "http://a.test/y?z=1");
        assert_eq!(r(base, "g"), "http://a.test/b/c/g");
        assert_eq!(r(base, "../g"), "http://a.test/b/g");
        assert_eq!(r(base, "./"), "http://a.test/b/c/");
        assert_eq!(r(base, "../../../../g"), "http://a.test/g");
    }

    #[test]
    fn origins_and_host_fields() {
        let o = Origin::of(&"https://Example.TEST/x".parse().expect("uri")).expect("origin");
        assert_eq!(
            (o.tls, o.host.as_str(), o.port),
            (true, "example.test", 443)
        );
        assert_eq!(o.host_field(), "example.test");
        let o = Origin::of(&"http://[::1]:8080/".parse().expect("uri")).expect("origin");
        assert_eq!(
            (o.host.as_str(), o.host_field(), o.authority()),
            ("::1", "[::1]:8080".to_owned(), "[::1]:8080".to_owned())
        );
        assert!(Origin::of(&"ftp://x/".parse().expect("uri")).is_err());
        assert!(Origin::of(&"/relative".parse().expect("uri")).is_err());
        assert_eq!(target(&"http://a.test".parse().expect("uri")), "/");
        assert_eq!(
            target(&"http://a.test/p?q=1".parse().expect("uri")),
            "/p?q=1"
        );
    }
}
