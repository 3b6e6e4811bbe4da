//! Response heads on the wire (RFC 9112 §4, §5). Writing: the status line (always
//! `HTTP/1.1`, which §2.5 asks a server to send even to an HTTP/1.0 client) and the fields,
//! which the `http` crate already guarantees hold no CR, LF or NUL — a handler cannot split a
//! response. Reading (the client and the proxy): httparse, then the body's framing by §6.3,
//! refusing the same ambiguous shapes the request side refuses.

use std::cell::RefCell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, StatusCode, Version};

use super::head::{connection_tokens, parse_content_length, HeadError, MAX_HEAD, MAX_HEADERS};

/// How a response body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseLength {
    /// No body (HEAD, 1xx, 204, 304).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked.
    Chunked,
    /// Until the server closes the connection.
    UntilClose,
}

/// A parsed response head.
#[derive(Debug)]
pub struct ResponseHead {
    /// Status, version and fields.
    pub parts: http::response::Parts,
    /// How the body is delimited.
    pub body: ResponseLength,
    /// Whether the connection can be reused after the body.
    pub keep_alive: bool,
}

/// Parse a response head at the start of `buf` (`head_request`: it answers a HEAD, so it has
/// no body whatever its fields say). `Ok(None)` while incomplete.
pub fn parse_response_head(
    buf: &[u8],
    head_request: bool,
) -> Result<Option<(ResponseHead, usize)>, HeadError> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut fields);
    let used = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
            return Err(HeadError::HeadTooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::HeadTooLarge),
        Err(_) => return Err(HeadError::Malformed("invalid response head")),
    };
    if used > MAX_HEAD {
        return Err(HeadError::HeadTooLarge);
    }
    let status = resp
        .code
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or(HeadError::Malformed("invalid status code"))?;
    let version = match resp.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let mut headers = HeaderMap::with_capacity(resp.headers.len());
    for field in resp.headers.iter() {
        let name = HeaderName::from_bytes(field.name.as_bytes())
            .map_err(|_| HeadError::Malformed("invalid field name"))?;
        let value = HeaderValue::from_bytes(field.value)
            .map_err(|_| HeadError::Malformed("invalid field value"))?;
        headers.append(name, value);
    }
    let tokens = connection_tokens(&headers);
    let mut keep_alive = match version {
        Version::HTTP_10 => tokens.keep_alive && !tokens.close,
        _ => !tokens.close,
    };
    let body = if head_request
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        ResponseLength::Empty
    } else if headers.contains_key(header::TRANSFER_ENCODING) {
        if headers.contains_key(header::CONTENT_LENGTH) {
            return Err(HeadError::Malformed(
                "both Content-Length and Transfer-Encoding",
            ));
        }
        let last = headers
            .get_all(header::TRANSFER_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|c| c.trim().to_ascii_lowercase())
            .rfind(|c| !c.is_empty());
        if last.as_deref() == Some("chunked") {
            ResponseLength::Chunked
        } else {
            // §6.3 rule 4: not chunked last: the body runs to the close.
            keep_alive = false;
            ResponseLength::UntilClose
        }
    } else {
        let mut lengths = headers.get_all(header::CONTENT_LENGTH).iter();
        match (lengths.next(), lengths.next()) {
            (None, _) => {
                keep_alive = false;
                ResponseLength::UntilClose
            }
            (Some(v), None) => match parse_content_length(v.as_bytes()) {
                Some(n) => ResponseLength::Length(n),
                None => return Err(HeadError::Malformed("invalid Content-Length")),
            },
            (Some(_), Some(_)) => return Err(HeadError::Malformed("more than one Content-Length")),
        }
    };
    let mut response = http::Response::new(());
    *response.status_mut() = status;
    *response.version_mut() = version;
    *response.headers_mut() = headers;
    let (parts, ()) = response.into_parts();
    Ok(Some((
        ResponseHead {
            parts,
            body,
            keep_alive,
        },
        used,
    )))
}

/// Append a request head: `METHOD TARGET HTTP/1.1`, then the fields and the blank line.
pub fn write_request_head(
    out: &mut BytesMut,
    method: &http::Method,
    target: &str,
    headers: &HeaderMap,
) {
    out.reserve(64 + target.len() + headers.len() * 32);
    out.extend_from_slice(method.as_str().as_bytes());
    out.extend_from_slice(b" ");
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    write_fields(out, headers);
}

/// Append `headers` as field lines, then the blank line that ends a head.
fn write_fields(out: &mut BytesMut, headers: &HeaderMap) {
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Append the status line and `headers`, then the blank line.
pub fn write_head(out: &mut BytesMut, status: StatusCode, headers: &HeaderMap) {
    let reason = status.canonical_reason().unwrap_or("");
    out.reserve(64 + headers.len() * 32);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.extend_from_slice(b" ");
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
    write_fields(out, headers);
}

thread_local! {
    static DATE: RefCell<(u64, [u8; 29])> = const { RefCell::new((u64::MAX, [0; 29])) };
}

/// The current time as an IMF-fixdate (29 bytes), formatted once per second per thread.
pub fn date_now() -> [u8; 29] {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    DATE.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != now {
            let text = torsion_core::date::http_date(UNIX_EPOCH + Duration::from_secs(now));
            let mut bytes = [b' '; 29];
            let n = text.len().min(29);
            bytes[..n].copy_from_slice(&text.as_bytes()[..n]);
            *cached = (now, bytes);
        }
        cached.1
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{CONTENT_LENGTH, SERVER};

    #[test]
    fn status_line_and_fields() {
        let mut headers = HeaderMap::new();
        headers.insert(SERVER, "torsion".parse().expect("value"));
        headers.insert(CONTENT_LENGTH, 5.into());
        let mut out = BytesMut::new();
        write_head(&mut out, StatusCode::NOT_FOUND, &headers);
        assert_eq!(
            &out[..],
            b"HTTP/1.1 404 Not Found\r\nserver: torsion\r\ncontent-length: 5\r\n\r\n"
        );
    }

    fn parse(text: &str, head: bool) -> Result<ResponseHead, HeadError> {
        parse_response_head(text.as_bytes(), head).map(|r| r.expect("complete").0)
    }

    #[test]
    fn response_framing() {
        let r = parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false).expect("ok");
        assert_eq!((r.body, r.keep_alive), (ResponseLength::Length(5), true));
        let r = parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true).expect("ok");
        assert_eq!(r.body, ResponseLength::Empty);
        let r = parse(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            false,
        )
        .expect("ok");
        assert_eq!(r.body, ResponseLength::Chunked);
        let r = parse("HTTP/1.1 200 OK\r\n\r\n", false).expect("ok");
        assert_eq!((r.body, r.keep_alive), (ResponseLength::UntilClose, false));
        let r = parse("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", false).expect("ok");
        assert!(!r.keep_alive);
        let r = parse(
            "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n",
            false,
        )
        .expect("ok");
        assert_eq!(r.body, ResponseLength::Empty);
        let r = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false).expect("ok");
        assert_eq!((r.body, r.keep_alive), (ResponseLength::UntilClose, false));
        for bad in [
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "HTTP/1.1 2000 OK\r\n\r\n",
            "SSH-2.0-OpenSSH\r\n\r\n",
        ] {
            assert!(
                parse_response_head(bad.as_bytes(), false).is_err(),
                "{bad:?}"
            );
        }
        assert!(parse_response_head(b"HTTP/1.1 200 OK\r\n", false)
            .expect("ok")
            .is_none());
    }

    #[test]
    fn request_heads_are_written() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("example.test"));
        let mut out = BytesMut::new();
        write_request_head(&mut out, &http::Method::GET, "/x?y", &headers);
        assert_eq!(&out[..], b"GET /x?y HTTP/1.1\r\nhost: example.test\r\n\r\n");
    }

    #[test]
    fn the_date_is_an_imf_fixdate() {
        let d = date_now();
        let text = std::str::from_utf8(&d).expect("ascii");
        assert!(text.ends_with(" GMT"), "{text}");
        assert!(
            crate::proto::date::parse_http_date(text).is_some(),
            "{text}"
        );
    }
}
