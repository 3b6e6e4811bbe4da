//! The request path, made safe to map onto a directory: percent-decoded once (RFC 3986 §2.1),
//! dot segments resolved (§5.2.4), and everything that could escape the root or mean two
//! things refused rather than "cleaned": `%00` and other control characters, backslashes (a
//! separator on some systems), encoded slashes (`%2F`, which would join two segments into one
//! path), invalid percent escapes, invalid UTF-8, and `..` above the root. A file server then
//! joins the segments under its root, one component at a time.

use percent_encoding::percent_decode;

/// Why a path was refused (all 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Not an absolute path (`/…`).
    #[error("not an absolute path")]
    NotAbsolute,
    /// A `%` not followed by two hex digits.
    #[error("invalid percent escape")]
    BadEscape,
    /// NUL or another control character, raw or encoded.
    #[error("control character in the path")]
    Control,
    /// A backslash, raw or encoded.
    #[error("backslash in the path")]
    Backslash,
    /// `%2F` inside a segment.
    #[error("encoded slash in the path")]
    EncodedSlash,
    /// The decoded bytes are not UTF-8.
    #[error("path is not UTF-8")]
    NotUtf8,
    /// `..` climbs above the root.
    #[error("path climbs above the root")]
    AboveRoot,
}

/// A normalised path: its segments, none empty, `.` or `..`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafePath {
    /// The decoded segments.
    pub segments: Vec<String>,
    /// Whether the path ended in `/` (a directory was asked for).
    pub trailing_slash: bool,
}

impl SafePath {
    /// The path again, `/`-joined and percent-encoded where needed (for redirects and links).
    pub fn to_href(&self) -> String {
        let mut out = String::from("/");
        for (i, s) in self.segments.iter().enumerate() {
            if i > 0 {
                out.push('/');
            }
            out.push_str(&encode_segment(s));
        }
        if self.trailing_slash && !self.segments.is_empty() {
            out.push('/');
        }
        out
    }
}

/// Characters escaped in a path segment written into a URL or an HTML attribute.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'\'')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Percent-encode one segment.
pub fn encode_segment(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, SEGMENT).to_string()
}

/// Normalise the path part of a request target (no query).
pub fn normalise(path: &str) -> Result<SafePath, PathError> {
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let mut segments: Vec<String> = Vec::new();
    let raw_segments: Vec<&str> = path[1..].split('/').collect();
    let last = raw_segments.len() - 1;
    let mut trailing_slash = false;
    for (i, raw) in raw_segments.iter().enumerate() {
        let bytes = raw.as_bytes();
        // Check the escapes before decoding: percent_decode leaves a bad one as it is.
        let mut j = 0;
        while j < bytes.len() {
            match bytes[j] {
                b'%' => {
                    let hex = bytes.get(j + 1..j + 3).ok_or(PathError::BadEscape)?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return Err(PathError::BadEscape);
                    }
                    if hex.eq_ignore_ascii_case(b"2f") {
                        return Err(PathError::EncodedSlash);
                    }
                    j += 3;
                }
                b'\\' => return Err(PathError::Backslash),
                _ => j += 1,
            }
        }
        let decoded: Vec<u8> = percent_decode(bytes).collect();
        if decoded.iter().any(|&b| b < 0x20 || b == 0x7f) {
            return Err(PathError::Control);
        }
        if decoded.contains(&b'\\') {
            return Err(PathError::Backslash);
        }
        let segment = String::from_utf8(decoded).map_err(|_| PathError::NotUtf8)?;
        match segment.as_str() {
            "" => {
                if i == last {
                    trailing_slash = true;
                }
            }
            "." => trailing_slash = i == last,
            ".." => {
                if segments.pop().is_none() {
                    return Err(PathError::AboveRoot);
                }
                trailing_slash = i == last;
            }
            _ => {
                segments.push(segment);
                trailing_slash = false;
            }
        }
    }
    Ok(SafePath {
        segments,
        trailing_slash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn segs(path: &str) -> Vec<String> {
        normalise(path).expect("valid").segments
    }

    #[test]
    fn dots_and_escapes_resolve() {
        assert!(segs("/").is_empty());
        assert_eq!(segs("/a/b/c"), ["a", "b", "c"]);
        assert_eq!(segs("/a//b/./c/../d"), ["a", "b", "d"]);
        assert_eq!(segs("/caf%C3%A9/%20x"), ["café", " x"]);
        assert_eq!(segs("/a/%2e%2E/b"), ["b"]);
        assert!(normalise("/a/").expect("ok").trailing_slash);
        assert!(normalise("/a/b/..").expect("ok").trailing_slash);
        assert!(!normalise("/a/b").expect("ok").trailing_slash);
        assert!(normalise("/").expect("ok").trailing_slash);
    }

    #[test]
    fn escapes_from_the_root_are_refused() {
        for (path, e) in [
            ("/..", PathError::AboveRoot),
            ("/a/../..", PathError::AboveRoot),
            ("/%2e%2e/etc/passwd", PathError::AboveRoot),
            ("/a/%2E%2E/%2e%2e/x", PathError::AboveRoot),
            ("/a%00.html", PathError::Control),
            ("/a%0d%0aSet-Cookie:x", PathError::Control),
            ("/a\\..\\b", PathError::Backslash),
            ("/a%5c..%5cb", PathError::Backslash),
            ("/a%2f..%2fb", PathError::EncodedSlash),
            ("/a%2", PathError::BadEscape),
            ("/a%zz", PathError::BadEscape),
            ("/%ff%fe", PathError::NotUtf8),
            ("a/b", PathError::NotAbsolute),
        ] {
            assert_eq!(normalise(path), Err(e), "{path}");
        }
    }

    #[test]
    fn hrefs_are_encoded() {
        let p = normalise("/a%20b/%3Cx%3E%22/").expect("ok");
        assert_eq!(p.to_href(), "/a%20b/%3Cx%3E%22/");
        assert_eq!(normalise("/").expect("ok").to_href(), "/");
    }

    proptest! {
        #[test]
        fn no_segment_is_a_dot_or_contains_a_separator(path in "/[a-z./%0-9A-F\\\\]{0,40}") {
            if let Ok(p) = normalise(&path) {
                for s in &p.segments {
                    prop_assert!(!s.is_empty() && s != "." && s != "..");
                    prop_assert!(!s.contains('/') && !s.contains('\\') && !s.contains('\0'));
                }
                // Normalising the re-encoded path gives the same segments.
                let again = normalise(&p.to_href()).expect("re-encoded path is valid");
                prop_assert_eq!(again.segments, p.segments);
            }
        }
    }
}
