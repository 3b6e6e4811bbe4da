//! `Range: bytes=…` (RFC 9110 §14.1–§14.2) against a representation of known length.
//!
//! A syntactically invalid header is ignored (the full 200 is sent, as §14.2 says); ranges
//! that overlap or touch are coalesced (§14.2 allows it, and it defeats the
//! `bytes=0-0,0-0,…` amplification); more than [`MAX_RANGES`] after that, or more than
//! [`MAX_SPECS`] specs, are refused with 416 (§14.2: a server "MAY ignore or reject a Range
//! header field that contains … a large number of ranges"). The work is linear in the header,
//! which the head limit bounds, plus a sort of at most [`MAX_SPECS`] ranges.

/// Most ranges served in one multipart/byteranges response (after coalescing).
pub const MAX_RANGES: usize = 16;
/// Most range specs looked at in one header.
pub const MAX_SPECS: usize = 1000;

/// What to send for a Range header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ranges {
    /// Ignore the header: send the whole representation (200).
    Full,
    /// Send these (first, last) inclusive byte ranges, in order (206).
    Partial(Vec<(u64, u64)>),
    /// 416 Range Not Satisfiable.
    Unsatisfiable,
}

/// Evaluate `header` for a representation of `len` bytes.
pub fn evaluate(header: &[u8], len: u64) -> Ranges {
    let Ok(text) = std::str::from_utf8(header) else {
        return Ranges::Full;
    };
    let text = text.trim_matches([' ', '\t']);
    let Some(set) = text
        .get(..6)
        .filter(|p| p.eq_ignore_ascii_case("bytes="))
        .map(|_| &text[6..])
    else {
        // Another range unit: ignore (§14.2).
        return Ranges::Full;
    };
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    let mut specs = 0usize;
    for spec in set.split(',') {
        let spec = spec.trim_matches([' ', '\t']);
        if spec.is_empty() {
            // Empty list elements are allowed (RFC 9110 §5.6.1).
            continue;
        }
        specs += 1;
        if specs > MAX_SPECS {
            return Ranges::Unsatisfiable;
        }
        let Some((first, last)) = spec.split_once('-') else {
            return Ranges::Full;
        };
        let range = if first.is_empty() {
            // suffix-range: the last N bytes.
            let Some(n) = number(last) else {
                return Ranges::Full;
            };
            if n == 0 || len == 0 {
                continue;
            }
            (len.saturating_sub(n), len - 1)
        } else {
            let Some(first) = number(first) else {
                return Ranges::Full;
            };
            let last = if last.is_empty() {
                u64::MAX
            } else {
                match number(last) {
                    Some(l) if l >= first => l,
                    _ => return Ranges::Full,
                }
            };
            if first >= len {
                // Not satisfiable on its own; others may be.
                continue;
            }
            (first, last.min(len - 1))
        };
        ranges.push(range);
    }
    if specs == 0 {
        return Ranges::Full;
    }
    if ranges.is_empty() {
        return Ranges::Unsatisfiable;
    }
    ranges.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (first, last) in ranges {
        match merged.last_mut() {
            Some(prev) if first <= prev.1.saturating_add(1) => prev.1 = prev.1.max(last),
            _ => merged.push((first, last)),
        }
    }
    if merged.len() > MAX_RANGES {
        return Ranges::Unsatisfiable;
    }
    Ranges::Partial(merged)
}

fn number(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn eval(h: &str, len: u64) -> Ranges {
        evaluate(h.as_bytes(), len)
    }

    #[test]
    fn single_ranges() {
        assert_eq!(eval("bytes=0-99", 1000), Ranges::Partial(vec![(0, 99)]));
        assert_eq!(eval("bytes=900-", 1000), Ranges::Partial(vec![(900, 999)]));
        assert_eq!(eval("bytes=-100", 1000), Ranges::Partial(vec![(900, 999)]));
        assert_eq!(eval("bytes=-5000", 1000), Ranges::Partial(vec![(0, 999)]));
        assert_eq!(
            eval("bytes=500-5000", 1000),
            Ranges::Partial(vec![(500, 999)])
        );
        assert_eq!(eval("BYTES = 0-0", 10), Ranges::Full);
        assert_eq!(eval("Bytes=0-0", 10), Ranges::Partial(vec![(0, 0)]));
    }

    #[test]
    fn unsatisfiable_and_invalid() {
        assert_eq!(eval("bytes=1000-", 1000), Ranges::Unsatisfiable);
        assert_eq!(eval("bytes=-0", 1000), Ranges::Unsatisfiable);
        assert_eq!(eval("bytes=0-0", 0), Ranges::Unsatisfiable);
        // Invalid syntax: ignored.
        for h in [
            "bytes=5-1",
            "bytes=a-b",
            "bytes=",
            "items=0-1",
            "bytes=1",
            "bytes=--1",
            "bytes=+1-2",
        ] {
            assert_eq!(eval(h, 1000), Ranges::Full, "{h}");
        }
    }

    #[test]
    fn many_ranges_are_coalesced_or_refused() {
        let same = format!("bytes={}", vec!["0-0"; 1000].join(","));
        assert_eq!(eval(&same, 1000), Ranges::Partial(vec![(0, 0)]));
        let touching = "bytes=0-9,10-19,5-14,30-39";
        assert_eq!(
            eval(touching, 100),
            Ranges::Partial(vec![(0, 19), (30, 39)])
        );
        let spread: Vec<String> = (0..40).map(|i| format!("{}-{}", i * 10, i * 10)).collect();
        assert_eq!(
            eval(&format!("bytes={}", spread.join(",")), 1000),
            Ranges::Unsatisfiable
        );
        let too_many = format!("bytes={}", vec!["0-0"; MAX_SPECS + 1].join(","));
        assert_eq!(eval(&too_many, 1000), Ranges::Unsatisfiable);
    }

    proptest! {
        #[test]
        fn partial_ranges_are_sorted_disjoint_and_inside(h in "bytes=[0-9,\\- ]{0,60}", len in 0u64..5000) {
            if let Ranges::Partial(r) = evaluate(h.as_bytes(), len) {
                prop_assert!(!r.is_empty() && r.len() <= MAX_RANGES);
                for w in r.windows(2) {
                    prop_assert!(w[0].1 + 1 < w[1].0);
                }
                for (a, b) in r {
                    prop_assert!(a <= b && b < len);
                }
            }
        }
    }
}
