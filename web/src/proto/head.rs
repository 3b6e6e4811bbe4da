//! Request heads (RFC 9112 §2–§3, §6–§7, §9): the request line and header fields parsed with
//! httparse, then checked for what decides the framing of the body and what smuggling
//! attacks exploit. Pure: bytes in, a [`RequestHead`] or a [`HeadError`] (with the status to
//! answer) out.
//!
//! Rules, with the sections they come from:
//! - at most [`MAX_HEAD`] bytes of head (431), a request target of at most [`MAX_URI`] (414),
//!   at most [`MAX_HEADERS`] field lines (431);
//! - every line ends in CRLF or LF (§2.2 lets a recipient accept a bare LF), a bare CR is an
//!   error (§2.2: "MUST either consider it invalid or replace it with SP"); obs-fold and
//!   whitespace between a field name and its colon are errors (§5.1, §5.2: 400);
//! - HTTP/1.1 needs exactly one valid Host (§3.2: 400); an absolute-form target's authority
//!   wins over Host (§3.2.2);
//! - Content-Length: one line, only digits (RFC 9110 §8.6; a list, even of equal values, is
//!   refused: nothing legitimate sends one and a proxy might read it differently);
//! - Transfer-Encoding: refused together with Content-Length (§6.1 allows it; it is the classic
//!   smuggling vector), refused in HTTP/1.0 (§6.1), chunked must be the final coding (§6.3
//!   rule 4: 400) and appear once (§7); any other coding is 501 (we decode none);
//! - `Expect: 100-continue` is noted for HTTP/1.1 (§10.1.1 of RFC 9110 says to ignore it for
//!   1.0), any other expectation is 417.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Uri, Version};

/// Largest request head (request line and fields) accepted; 431 beyond. nginx's default
/// (`client_header_buffer_size 1k` + `large_client_header_buffers 4 8k`) is about as large.
pub const MAX_HEAD: usize = 32 * 1024;
/// Longest request target; 414 beyond (nginx: one 8 KiB large header buffer).
pub const MAX_URI: usize = 8 * 1024;
/// Most header field lines; 431 beyond.
pub const MAX_HEADERS: usize = 100;
/// Empty lines skipped before a request line (RFC 9112 §2.2: "SHOULD ignore at least one").
const MAX_LEADING_EMPTY_LINES: usize = 8;

/// How the request body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLength {
    /// No body.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// The chunked transfer coding.
    Chunked,
}

/// Why a request head was refused; [`HeadError::status`] is the answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// Not a well-formed HTTP/1 request (400).
    #[error("bad request: {0}")]
    Malformed(&'static str),
    /// The request target is longer than [`MAX_URI`] (414).
    #[error("request target longer than {MAX_URI} bytes")]
    UriTooLong,
    /// The head is larger than [`MAX_HEAD`] or has more than [`MAX_HEADERS`] fields (431).
    #[error("request header fields too large")]
    HeadTooLarge,
    /// An HTTP version other than 1.0 and 1.1 (505).
    #[error("HTTP version not supported")]
    Version,
    /// A transfer coding other than chunked (501).
    #[error("transfer coding not implemented")]
    TransferCoding,
    /// An expectation other than 100-continue (417).
    #[error("expectation not supported")]
    Expectation,
}

impl HeadError {
    /// The status to answer with.
    pub fn status(&self) -> StatusCode {
        match self {
            HeadError::Malformed(_) => StatusCode::BAD_REQUEST,
            HeadError::UriTooLong => StatusCode::URI_TOO_LONG,
            HeadError::HeadTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            HeadError::Version => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            HeadError::TransferCoding => StatusCode::NOT_IMPLEMENTED,
            HeadError::Expectation => StatusCode::EXPECTATION_FAILED,
        }
    }
}

/// A parsed, checked request head.
#[derive(Debug)]
pub struct RequestHead {
    /// Method, target, version and fields, as the `http` crate types them.
    pub parts: http::request::Parts,
    /// How the body is delimited.
    pub body: BodyLength,
    /// Whether the connection may carry another request after this one (RFC 9112 §9.3).
    pub keep_alive: bool,
    /// `Expect: 100-continue` on an HTTP/1.1 request.
    pub expect_continue: bool,
}

/// Parse the head at the start of `buf`: `Ok(None)` while it is incomplete (and within the
/// limits), else the head and how many bytes of `buf` it used.
pub fn parse_request_head(buf: &[u8]) -> Result<Option<(RequestHead, usize)>, HeadError> {
    let skip = skip_empty_lines(buf)?;
    let data = &buf[skip..];
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut fields);
    let status = match req.parse(data) {
        Ok(status) => status,
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::HeadTooLarge),
        Err(httparse::Error::Version) => return Err(version_error(data)),
        Err(e) => {
            // httparse stops at the first bad byte; a target that is already too long is the
            // better answer when the line is a long one.
            if request_line_too_long(data) {
                return Err(HeadError::UriTooLong);
            }
            return Err(HeadError::Malformed(httparse_reason(e)));
        }
    };
    let used = match status {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => {
            check_incomplete(data)?;
            return Ok(None);
        }
    };
    if used > MAX_HEAD {
        return Err(HeadError::HeadTooLarge);
    }
    // httparse accepts a CR only before LF in the places it checks; make sure of it
    // everywhere in the head (RFC 9112 §2.2).
    if bare_cr(&data[..used]) {
        return Err(HeadError::Malformed("bare CR in the request head"));
    }
    let target = req.path.unwrap_or("");
    if target.len() > MAX_URI {
        return Err(HeadError::UriTooLong);
    }
    let method = Method::from_bytes(req.method.unwrap_or("").as_bytes())
        .map_err(|_| HeadError::Malformed("invalid method"))?;
    let version = match req.version {
        Some(0) => Version::HTTP_10,
        Some(1) => Version::HTTP_11,
        _ => return Err(HeadError::Version),
    };
    let uri = parse_target(&method, target)?;
    let mut headers = HeaderMap::with_capacity(req.headers.len());
    for field in req.headers.iter() {
        let name = HeaderName::from_bytes(field.name.as_bytes())
            .map_err(|_| HeadError::Malformed("invalid field name"))?;
        let value = HeaderValue::from_bytes(field.value)
            .map_err(|_| HeadError::Malformed("invalid field value"))?;
        headers.append(name, value);
    }
    check_host(version, &uri, &headers)?;
    let body = body_length(version, &headers)?;
    let connection = connection_tokens(&headers);
    let keep_alive = match version {
        Version::HTTP_10 => connection.keep_alive && !connection.close,
        _ => !connection.close,
    };
    let expect_continue = match headers.get(header::EXPECT) {
        None => false,
        Some(v) if v.as_bytes().eq_ignore_ascii_case(b"100-continue") => {
            version == Version::HTTP_11
        }
        Some(_) => return Err(HeadError::Expectation),
    };
    let mut request = http::Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    *request.headers_mut() = headers;
    let (parts, ()) = request.into_parts();
    Ok(Some((
        RequestHead {
            parts,
            body,
            keep_alive,
            expect_continue,
        },
        skip + used,
    )))
}

/// How many bytes of empty lines come before the request line (RFC 9112 §2.2: a server
/// "SHOULD ignore at least one"); more than [`MAX_LEADING_EMPTY_LINES`] is an error.
pub fn skip_empty_lines(buf: &[u8]) -> Result<usize, HeadError> {
    let mut skip = 0;
    for _ in 0..=MAX_LEADING_EMPTY_LINES {
        match &buf[skip..] {
            [b'\r', b'\n', ..] => skip += 2,
            [b'\n', ..] => skip += 1,
            // A lone CR may be the start of a CRLF still to come.
            _ => return Ok(skip),
        }
    }
    Err(HeadError::Malformed(
        "too many empty lines before the request",
    ))
}

/// The limits an incomplete head (after its empty lines) must already keep: a request line
/// longer than any valid target is 414, a head past [`MAX_HEAD`] is 431.
pub fn check_incomplete(data: &[u8]) -> Result<(), HeadError> {
    if request_line_too_long(data) {
        return Err(HeadError::UriTooLong);
    }
    if data.len() > MAX_HEAD {
        return Err(HeadError::HeadTooLarge);
    }
    Ok(())
}

/// The end of a head (just after its blank line) in `buf`, searching from `from`, which lets
/// a caller that receives a head in pieces search each byte once.
pub fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    memchr::memchr_iter(b'\n', &buf[from..]).find_map(|i| {
        let i = from + i;
        match buf.get(i + 1..) {
            Some([b'\n', ..]) => Some(i + 2),
            Some([b'\r', b'\n', ..]) => Some(i + 3),
            _ => None,
        }
    })
}

/// Whether the request line is still going (no LF yet) past what a [`MAX_URI`] target needs.
fn request_line_too_long(data: &[u8]) -> bool {
    let line = memchr::memchr(b'\n', data).unwrap_or(data.len());
    // Method, two spaces, "HTTP/1.1", CRLF: 32 bytes is generous.
    line > MAX_URI + 32
}

fn bare_cr(head: &[u8]) -> bool {
    memchr::memchr_iter(b'\r', head).any(|i| head.get(i + 1) != Some(&b'\n'))
}

/// 505 for a well-formed `HTTP/x.y` that is not 1.0 or 1.1, else 400.
fn version_error(data: &[u8]) -> HeadError {
    let line_end = memchr::memchr(b'\n', data).unwrap_or(data.len());
    let line = &data[..line_end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    match line.rsplit(|&b| b == b' ').next() {
        Some([b'H', b'T', b'T', b'P', b'/', major, b'.', minor])
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            HeadError::Version
        }
        Some([b'H', b'T', b'T', b'P', b'/', major]) if major.is_ascii_digit() => HeadError::Version,
        _ => HeadError::Malformed("invalid HTTP version"),
    }
}

fn httparse_reason(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => {
            "invalid header field name (or whitespace before the colon, or obs-fold)"
        }
        httparse::Error::HeaderValue => "invalid header field value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status",
        httparse::Error::Token => "invalid method or request target",
        httparse::Error::TooManyHeaders => "too many header fields",
        httparse::Error::Version => "invalid HTTP version",
    }
}

/// The request target in its four forms (RFC 9112 §3.2).
fn parse_target(method: &Method, target: &str) -> Result<Uri, HeadError> {
    let bad = |what| HeadError::Malformed(what);
    if target.is_empty() {
        return Err(bad("empty request target"));
    }
    if method == Method::CONNECT {
        // authority-form only (§3.2.3).
        let uri: Uri = target.parse().map_err(|_| bad("invalid CONNECT target"))?;
        if uri.scheme().is_some() || uri.authority().is_none() || uri.port().is_none() {
            return Err(bad("CONNECT needs host:port"));
        }
        return Ok(uri);
    }
    if target == "*" {
        // asterisk-form, only for OPTIONS (§3.2.4).
        if method != Method::OPTIONS {
            return Err(bad("'*' is only for OPTIONS"));
        }
        return target.parse().map_err(|_| bad("invalid request target"));
    }
    if target.starts_with('/') {
        if target.as_bytes().contains(&b'#') {
            return Err(bad("fragment in the request target"));
        }
        return target.parse().map_err(|_| bad("invalid request target"));
    }
    // absolute-form (§3.2.2), which proxies receive and servers must accept.
    let uri: Uri = target.parse().map_err(|_| bad("invalid request target"))?;
    match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https") => {}
        _ => return Err(bad("absolute target must be http or https")),
    }
    if uri.authority().is_none() {
        return Err(bad("absolute target without a host"));
    }
    Ok(uri)
}

/// RFC 9112 §3.2: one Host, valid; required in HTTP/1.1.
fn check_host(version: Version, uri: &Uri, headers: &HeaderMap) -> Result<(), HeadError> {
    let mut hosts = headers.get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(HeadError::Malformed("more than one Host"));
    }
    match host {
        None if version == Version::HTTP_11 && uri.authority().is_none() => {
            Err(HeadError::Malformed("HTTP/1.1 request without Host"))
        }
        None => Ok(()),
        Some(value) => {
            let v = value.as_bytes();
            // reg-name / IPv4 / [IPv6] with an optional port: no spaces, slashes, userinfo.
            let ok = v
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b"-._~:[]!$&'()*+,;=%".contains(&b));
            if ok {
                Ok(())
            } else {
                Err(HeadError::Malformed("invalid Host"))
            }
        }
    }
}

/// How the body is framed (RFC 9112 §6.3), refusing every ambiguous combination.
fn body_length(version: Version, headers: &HeaderMap) -> Result<BodyLength, HeadError> {
    let mut lengths = headers.get_all(header::CONTENT_LENGTH).iter();
    let length = lengths.next();
    if lengths.next().is_some() {
        return Err(HeadError::Malformed("more than one Content-Length"));
    }
    let has_te = headers.contains_key(header::TRANSFER_ENCODING);
    if has_te {
        if length.is_some() {
            return Err(HeadError::Malformed(
                "both Content-Length and Transfer-Encoding",
            ));
        }
        if version == Version::HTTP_10 {
            return Err(HeadError::Malformed("Transfer-Encoding in HTTP/1.0"));
        }
        let mut codings = Vec::new();
        for value in headers.get_all(header::TRANSFER_ENCODING) {
            let text = value
                .to_str()
                .map_err(|_| HeadError::Malformed("invalid Transfer-Encoding"))?;
            for coding in text.split(',') {
                let coding = coding.trim_matches([' ', '\t']);
                if coding.is_empty() {
                    continue;
                }
                codings.push(coding.to_ascii_lowercase());
            }
        }
        let chunked = codings.iter().filter(|c| *c == "chunked").count();
        return match codings.last().map(String::as_str) {
            Some("chunked") if chunked == 1 && codings.len() == 1 => Ok(BodyLength::Chunked),
            Some("chunked") if chunked == 1 => Err(HeadError::TransferCoding),
            _ => Err(HeadError::Malformed(
                "chunked must be the final transfer coding, once",
            )),
        };
    }
    match length {
        None => Ok(BodyLength::Empty),
        Some(value) => match parse_content_length(value.as_bytes()) {
            Some(0) => Ok(BodyLength::Empty),
            Some(n) => Ok(BodyLength::Length(n)),
            None => Err(HeadError::Malformed("invalid Content-Length")),
        },
    }
}

/// `1*DIGIT` that fits in a u64 (at most 19 digits, so no overflow).
pub fn parse_content_length(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(v.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0')))
}

/// The tokens of Connection that matter here.
#[derive(Debug, Default, Clone, Copy)]
pub struct ConnectionTokens {
    /// `close`.
    pub close: bool,
    /// `keep-alive` (HTTP/1.0).
    pub keep_alive: bool,
    /// `upgrade`.
    pub upgrade: bool,
}

/// Read the Connection field's tokens (RFC 9110 §7.6.1).
pub fn connection_tokens(headers: &HeaderMap) -> ConnectionTokens {
    let mut tokens = ConnectionTokens::default();
    for value in headers.get_all(header::CONNECTION) {
        for token in value.as_bytes().split(|&b| b == b',') {
            let token = token.trim_ascii();
            if token.eq_ignore_ascii_case(b"close") {
                tokens.close = true;
            } else if token.eq_ignore_ascii_case(b"keep-alive") {
                tokens.keep_alive = true;
            } else if token.eq_ignore_ascii_case(b"upgrade") {
                tokens.upgrade = true;
            }
        }
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RequestHead, HeadError> {
        match parse_request_head(text.as_bytes()) {
            Ok(Some((head, used))) => {
                assert!(used <= text.len());
                Ok(head)
            }
            Ok(None) => panic!("incomplete: {text:?}"),
            Err(e) => Err(e),
        }
    }

    fn status(text: &str) -> u16 {
        parse(text).map_or_else(|e| e.status().as_u16(), |_| 200)
    }

    #[test]
    fn a_simple_get() {
        let head = parse("GET /a/b?c=d HTTP/1.1\r\nHost: example.test\r\nAccept: */*\r\n\r\n")
            .expect("valid");
        assert_eq!(head.parts.method, Method::GET);
        assert_eq!(head.parts.uri.path(), "/a/b");
        assert_eq!(head.parts.uri.query(), Some("c=d"));
        assert_eq!(head.parts.version, Version::HTTP_11);
        assert_eq!(head.parts.headers["host"], "example.test");
        assert_eq!(head.body, BodyLength::Empty);
        assert!(head.keep_alive);
        assert!(!head.expect_continue);
    }

    #[test]
    fn incomplete_heads_wait_and_leading_empty_lines_are_skipped() {
        assert!(parse_request_head(b"GET / HTTP/1.1\r\nHost: x\r\n")
            .expect("ok")
            .is_none());
        let buf = b"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\nNEXT";
        let (_, used) = parse_request_head(buf).expect("ok").expect("complete");
        assert_eq!(&buf[used..], b"NEXT");
        // LF-only line endings are accepted (RFC 9112 §2.2).
        assert_eq!(status("GET / HTTP/1.1\nHost: x\n\n"), 200);
    }

    #[test]
    fn keep_alive_follows_version_and_connection() {
        assert!(!parse("GET / HTTP/1.0\r\n\r\n").expect("ok").keep_alive);
        assert!(
            parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
                .expect("ok")
                .keep_alive
        );
        assert!(
            !parse("GET / HTTP/1.1\r\nHost: x\r\nConnection: foo, close\r\n\r\n")
                .expect("ok")
                .keep_alive
        );
    }

    #[test]
    fn framing_of_the_body() {
        let chunked = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(parse(chunked).expect("ok").body, BodyLength::Chunked);
        let length = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 42\r\n\r\n";
        assert_eq!(parse(length).expect("ok").body, BodyLength::Length(42));
        let zero = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(parse(zero).expect("ok").body, BodyLength::Empty);
    }

    #[test]
    fn smuggling_shapes_are_refused() {
        for (text, code) in [
            // CL + TE (RFC 9112 §6.1).
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            // Two Content-Lengths, equal or not; a list; signs and spaces inside.
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x5\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n", 400),
            // chunked not final, twice, or an unknown coding.
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n", 400),
            // TE in HTTP/1.0.
            ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            // obs-fold, whitespace before the colon, bare CR.
            ("GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", 400),
            ("GET / HTTP/1.1\rHost: x\r\n\r\n", 400),
            // Host: missing, twice, invalid.
            ("GET / HTTP/1.1\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
        ] {
            assert_eq!(status(text), code, "{text:?}");
        }
    }

    #[test]
    fn targets_versions_and_expectations() {
        assert_eq!(status("GET http://example.test/x HTTP/1.1\r\n\r\n"), 200);
        assert_eq!(
            status("GET ftp://example.test/x HTTP/1.1\r\nHost: x\r\n\r\n"),
            400
        );
        assert_eq!(status("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"), 200);
        assert_eq!(status("GET * HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(
            status("CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n"),
            200
        );
        assert_eq!(status("CONNECT /x HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(status("GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/2.0\r\nHost: x\r\n\r\n"), 505);
        assert_eq!(status("GET / HTTP/1.2\r\nHost: x\r\n\r\n"), 505);
        assert_eq!(status("GET / FOO/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(status("G(T / HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        let e =
            parse("PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n")
                .expect("ok");
        assert!(e.expect_continue);
        let e10 = parse("PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
            .expect("ok");
        assert!(!e10.expect_continue);
        assert_eq!(
            status("GET / HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n"),
            417
        );
    }

    #[test]
    fn limits_give_414_and_431() {
        let long = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(MAX_URI));
        assert_eq!(status(&long), 414);
        // A long request line still arriving is refused before it ends.
        let partial = format!("GET /{}", "a".repeat(MAX_URI + 100));
        assert_eq!(
            parse_request_head(partial.as_bytes()).map(|_| ()),
            Err(HeadError::UriTooLong)
        );
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(
            status(&format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n")),
            431
        );
        let big = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n",
            "b".repeat(MAX_HEAD)
        );
        assert_eq!(
            parse_request_head(big.as_bytes()).map(|_| ()),
            Err(HeadError::HeadTooLarge)
        );
    }
}
