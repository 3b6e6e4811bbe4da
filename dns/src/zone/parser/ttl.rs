//! TTLs and SOA timers: seconds, or number-unit pairs (RFC 2308 §4 `$TTL` syntax as BIND reads
//! it), at most [`MAX_TTL`] (RFC 2181 §8).

use super::fields::show;
use super::MAX_TTL;

/// A TTL: plain seconds, or number-unit pairs (`1w2d3h4m5s`, units in any case).
pub(super) fn parse_ttl(text: &[u8]) -> Result<u32, String> {
    let bad = |why: &str| format!("bad TTL '{}': {why}", show(text));
    if text.is_empty() {
        return Err(bad("empty"));
    }
    let mut total: u64 = 0;
    let mut number: Option<u64> = None;
    let mut units = false;
    for &c in text {
        if c.is_ascii_digit() {
            let n = number.unwrap_or(0) * 10 + u64::from(c - b'0');
            if n > u64::from(MAX_TTL) {
                return Err(bad("more than 2147483647 seconds"));
            }
            number = Some(n);
            continue;
        }
        let scale: u64 = match c.to_ascii_lowercase() {
            b's' => 1,
            b'm' => 60,
            b'h' => 3_600,
            b'd' => 86_400,
            b'w' => 604_800,
            _ => {
                return Err(bad(
                    "expected seconds or a number with unit s, m, h, d or w",
                ))
            }
        };
        let n = number.take().ok_or_else(|| bad("unit without a number"))?;
        total += n * scale;
        if total > u64::from(MAX_TTL) {
            return Err(bad("more than 2147483647 seconds"));
        }
        units = true;
    }
    if let Some(n) = number {
        if units {
            return Err(bad("number without a unit after one with a unit"));
        }
        total = n;
    }
    u32::try_from(total).map_err(|_| bad("more than 2147483647 seconds"))
}

/// A timer already checked against [`MAX_TTL`], so it fits.
pub(super) fn as_i32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}
