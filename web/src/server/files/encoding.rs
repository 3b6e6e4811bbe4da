//! Choosing a precompressed sibling (`name.br`, `name.zst`, `name.gz`) by Accept-Encoding
//! (RFC 9110 §12.5.3): codings with `q=0` are refused, the rest are tried by their q-value,
//! then in the order br, zstd, gzip (smallest first) on a tie.

use http::header::{self, HeaderMap};

/// A content coding we can serve precompressed, with its file suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coding {
    /// The Content-Encoding token.
    pub name: &'static str,
    /// The sibling file's suffix.
    pub suffix: &'static str,
}

/// The codings, best first.
pub const CODINGS: [Coding; 3] = [
    Coding {
        name: "br",
        suffix: ".br",
    },
    Coding {
        name: "zstd",
        suffix: ".zst",
    },
    Coding {
        name: "gzip",
        suffix: ".gz",
    },
];

/// The codings the client accepts, best first (empty: identity only).
pub fn acceptable(headers: &HeaderMap) -> Vec<Coding> {
    let mut weights: [Option<u16>; 3] = [None; 3];
    let mut star: Option<u16> = None;
    for value in headers.get_all(header::ACCEPT_ENCODING) {
        let Ok(text) = value.to_str() else { continue };
        for item in text.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let mut q = 1000u16;
            for param in parts {
                if let Some((k, v)) = param.split_once('=') {
                    if k.trim().eq_ignore_ascii_case("q") {
                        q = qvalue(v.trim()).unwrap_or(0);
                    }
                }
            }
            let name = if name == "x-gzip" {
                "gzip".to_owned()
            } else {
                name
            };
            if name == "*" {
                star = Some(q);
            } else if let Some(i) = CODINGS.iter().position(|c| c.name == name) {
                weights[i] = Some(q);
            }
        }
    }
    let mut chosen: Vec<(u16, usize)> = (0..CODINGS.len())
        .filter_map(|i| weights[i].or(star).filter(|&q| q > 0).map(|q| (q, i)))
        .collect();
    chosen.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    chosen.into_iter().map(|(_, i)| CODINGS[i]).collect()
}

/// A qvalue (`0`, `0.5`, `1.000`) in thousandths.
fn qvalue(v: &str) -> Option<u16> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_value: u16 = format!("{frac:0<3}").parse().ok()?;
    match int {
        "0" => Some(frac_value),
        "1" if frac_value == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(accept: &str) -> Vec<&'static str> {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_ENCODING, accept.parse().expect("value"));
        acceptable(&h).into_iter().map(|c| c.name).collect()
    }

    #[test]
    fn negotiation() {
        assert_eq!(names("gzip, deflate, br, zstd"), ["br", "zstd", "gzip"]);
        assert_eq!(names("gzip"), ["gzip"]);
        assert_eq!(names("br;q=0, gzip"), ["gzip"]);
        assert_eq!(names("gzip;q=1.0, br;q=0.5"), ["gzip", "br"]);
        assert_eq!(names("*"), ["br", "zstd", "gzip"]);
        assert_eq!(names("*;q=0, gzip"), ["gzip"]);
        assert_eq!(names("identity"), Vec::<&str>::new());
        assert_eq!(names("gzip;q=2"), Vec::<&str>::new());
        assert!(acceptable(&HeaderMap::new()).is_empty());
    }
}
