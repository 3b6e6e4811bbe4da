//! Response heads on the wire (RFC 9112 §4, §5): the status line (always `HTTP/1.1`, which
//! §2.5 asks a server to send even to an HTTP/1.0 client) and the fields, which the `http`
//! crate already guarantees hold no CR, LF or NUL — a handler cannot split a response.

use std::cell::RefCell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use http::{HeaderMap, StatusCode};

/// Append the status line and `headers`, then the blank line.
pub fn write_head(out: &mut BytesMut, status: StatusCode, headers: &HeaderMap) {
    let reason = status.canonical_reason().unwrap_or("");
    out.reserve(64 + headers.len() * 32);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.extend_from_slice(b" ");
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
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
