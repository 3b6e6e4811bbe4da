//! Conditional requests (RFC 9110 §13) against a file's validators: the strong ETag and the
//! Last-Modified date, evaluated in the order §13.2.2 gives.

use http::header::{self, HeaderMap};
use http::{Method, StatusCode};

use crate::proto::date::parse_http_date;

/// A file's validators.
#[derive(Debug, Clone)]
pub struct Validators {
    /// The strong entity tag, quoted (`"…"`).
    pub etag: String,
    /// Modification time, seconds since the epoch.
    pub modified: u64,
}

/// Entity tags in an If-Match / If-None-Match list; `None` for `*`.
fn tags(value: &str) -> Option<Vec<(bool, &str)>> {
    if value.trim() == "*" {
        return None;
    }
    let mut out = Vec::new();
    for item in value.split(',') {
        let item = item.trim();
        let (weak, tag) = match item.strip_prefix("W/") {
            Some(t) => (true, t),
            None => (false, item),
        };
        if tag.len() >= 2 && tag.starts_with('"') && tag.ends_with('"') {
            out.push((weak, tag));
        }
    }
    Some(out)
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    // Several lines of a list field are one list (RFC 9110 §5.3); join by taking each.
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn any_match(
    headers: &HeaderMap,
    name: header::HeaderName,
    etag: &str,
    strong: bool,
) -> Option<bool> {
    let mut seen = false;
    let mut matched = false;
    for value in headers.get_all(name) {
        let Ok(text) = value.to_str() else { continue };
        seen = true;
        match tags(text) {
            None => matched = true,
            Some(list) => {
                matched |= list
                    .iter()
                    .any(|(weak, tag)| *tag == etag && !(strong && *weak));
            }
        }
    }
    seen.then_some(matched)
}

/// What the preconditions decide: go on (`None`), or answer 304 / 412 now.
pub fn evaluate(method: &Method, headers: &HeaderMap, v: &Validators) -> Option<StatusCode> {
    // 1. If-Match (strong comparison, §13.1.1).
    if let Some(matched) = any_match(headers, header::IF_MATCH, &v.etag, true) {
        if !matched {
            return Some(StatusCode::PRECONDITION_FAILED);
        }
    } else if let Some(date) =
        header_str(headers, header::IF_UNMODIFIED_SINCE).and_then(parse_http_date)
    {
        // 2. If-Unmodified-Since, only without If-Match (§13.1.4).
        if v.modified > date {
            return Some(StatusCode::PRECONDITION_FAILED);
        }
    }
    let safe = *method == Method::GET || *method == Method::HEAD;
    // 3. If-None-Match (weak comparison, §13.1.2).
    if let Some(matched) = any_match(headers, header::IF_NONE_MATCH, &v.etag, false) {
        if matched {
            return Some(if safe {
                StatusCode::NOT_MODIFIED
            } else {
                StatusCode::PRECONDITION_FAILED
            });
        }
    } else if safe {
        // 4. If-Modified-Since, only without If-None-Match and for GET/HEAD (§13.1.3).
        if let Some(date) = header_str(headers, header::IF_MODIFIED_SINCE).and_then(parse_http_date)
        {
            if v.modified <= date {
                return Some(StatusCode::NOT_MODIFIED);
            }
        }
    }
    None
}

/// Whether a Range may be honoured under If-Range (§13.1.5): absent, or naming the current
/// representation by its strong ETag or its exact Last-Modified date.
pub fn if_range_allows(headers: &HeaderMap, v: &Validators) -> bool {
    let Some(value) = header_str(headers, header::IF_RANGE) else {
        return headers.get(header::IF_RANGE).is_none();
    };
    let value = value.trim();
    if value.starts_with('"') {
        return value == v.etag;
    }
    if value.starts_with("W/") {
        return false;
    }
    parse_http_date(value) == Some(v.modified)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                header::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                v.parse().expect("value"),
            );
        }
        h
    }

    const MODIFIED: u64 = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT
    const DATE: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
    const EARLIER: &str = "Sat, 05 Nov 1994 08:49:37 GMT";

    fn v() -> Validators {
        Validators {
            etag: "\"abc\"".into(),
            modified: MODIFIED,
        }
    }

    fn eval(pairs: &[(&str, &str)]) -> Option<u16> {
        evaluate(&Method::GET, &headers(pairs), &v()).map(|s| s.as_u16())
    }

    #[test]
    fn the_order_of_rfc_9110_13_2_2() {
        assert_eq!(eval(&[]), None);
        assert_eq!(eval(&[("if-match", "\"abc\"")]), None);
        assert_eq!(eval(&[("if-match", "\"x\", \"abc\"")]), None);
        assert_eq!(eval(&[("if-match", "*")]), None);
        assert_eq!(eval(&[("if-match", "W/\"abc\"")]), Some(412));
        assert_eq!(eval(&[("if-match", "\"x\"")]), Some(412));
        assert_eq!(eval(&[("if-unmodified-since", EARLIER)]), Some(412));
        assert_eq!(eval(&[("if-unmodified-since", DATE)]), None);
        // If-Match wins over If-Unmodified-Since.
        assert_eq!(
            eval(&[("if-match", "\"abc\""), ("if-unmodified-since", EARLIER)]),
            None
        );
        assert_eq!(eval(&[("if-none-match", "W/\"abc\"")]), Some(304));
        assert_eq!(eval(&[("if-none-match", "\"x\"")]), None);
        assert_eq!(eval(&[("if-none-match", "*")]), Some(304));
        assert_eq!(eval(&[("if-modified-since", DATE)]), Some(304));
        assert_eq!(eval(&[("if-modified-since", EARLIER)]), None);
        assert_eq!(eval(&[("if-modified-since", "garbage")]), None);
        // If-None-Match wins over If-Modified-Since.
        assert_eq!(
            eval(&[("if-none-match", "\"x\""), ("if-modified-since", DATE)]),
            None
        );
        let put = evaluate(&Method::PUT, &headers(&[("if-none-match", "*")]), &v());
        assert_eq!(put, Some(StatusCode::PRECONDITION_FAILED));
    }

    #[test]
    fn if_range_needs_a_strong_match() {
        assert!(if_range_allows(&headers(&[]), &v()));
        assert!(if_range_allows(&headers(&[("if-range", "\"abc\"")]), &v()));
        assert!(!if_range_allows(
            &headers(&[("if-range", "W/\"abc\"")]),
            &v()
        ));
        assert!(!if_range_allows(&headers(&[("if-range", "\"old\"")]), &v()));
        assert!(if_range_allows(&headers(&[("if-range", DATE)]), &v()));
        assert!(!if_range_allows(&headers(&[("if-range", EARLIER)]), &v()));
    }
}
