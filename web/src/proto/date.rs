//! HTTP dates (RFC 9110 §5.6.7): written as IMF-fixdate (torsion-core's `http_date`), read in
//! all three forms a recipient must accept — IMF-fixdate, the obsolete RFC 850 form and
//! asctime. Seconds since the Unix epoch; an unparsable date is `None` (and a conditional
//! header with one is ignored, §13.1.3).

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days from 1970-01-01 to the given civil date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn month(name: &str) -> Option<u32> {
    MONTHS.iter().position(|m| *m == name).map(|i| i as u32 + 1)
}

fn num(s: &str, digits: usize) -> Option<u32> {
    if s.len() != digits || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn clock(s: &str) -> Option<(u32, u32, u32)> {
    let mut it = s.split(':');
    let h = num(it.next()?, 2)?;
    let m = num(it.next()?, 2)?;
    let sec = num(it.next()?, 2)?;
    if it.next().is_some() || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    Some((h, m, sec))
}

fn seconds(year: i64, mon: u32, day: u32, (h, m, s): (u32, u32, u32)) -> Option<u64> {
    if !(1..=31).contains(&day) || year < 1970 {
        return None;
    }
    let days = days_from_civil(year, mon, day);
    u64::try_from(days * 86_400 + i64::from(h * 3600 + m * 60 + s)).ok()
}

/// Parse an HTTP date.
pub fn parse_http_date(text: &str) -> Option<u64> {
    let text = text.trim();
    let parts: Vec<&str> = text.split_ascii_whitespace().collect();
    match parts.as_slice() {
        // Sun, 06 Nov 1994 08:49:37 GMT
        [wd, day, mon, year, time, "GMT"] if wd.ends_with(',') => seconds(
            i64::from(num(year, 4)?),
            month(mon)?,
            num(day, 2)?,
            clock(time)?,
        ),
        // Sunday, 06-Nov-94 08:49:37 GMT (two-digit years: RFC 9110 §5.6.7's 50-year rule,
        // simplified to 19xx for 70–99 and 20xx otherwise).
        [wd, date, time, "GMT"] if wd.ends_with(',') => {
            let mut d = date.split('-');
            let day = num(d.next()?, 2)?;
            let mon = month(d.next()?)?;
            let yy = num(d.next()?, 2)?;
            let year = if yy >= 70 { 1900 + yy } else { 2000 + yy };
            seconds(i64::from(year), mon, day, clock(time)?)
        }
        // Sun Nov  6 08:49:37 1994
        [_wd, mon, day, time, year] => {
            let day: u32 = if day.len() <= 2 && day.bytes().all(|b| b.is_ascii_digit()) {
                day.parse().ok()?
            } else {
                return None;
            };
            seconds(i64::from(num(year, 4)?), month(mon)?, day, clock(time)?)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn the_three_forms_of_rfc_9110() {
        let t = 784_111_777;
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(t));
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), Some(t));
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(t));
        for bad in [
            "",
            "yesterday",
            "Sun, 06 Nov 1994 08:49:37 PST",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:49:37 GMT",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn round_trips_with_the_writer() {
        for t in [0u64, 951_782_400, 1_700_000_000, 4_102_444_800] {
            let text = torsion_core::date::http_date(UNIX_EPOCH + Duration::from_secs(t));
            assert_eq!(parse_http_date(&text), Some(t), "{text}");
        }
    }
}
