//! Wall-clock formatting without a date crate, for every protocol that stamps times:
//! RFC 5322 dates (SMTP `Received:`, `Date:`), HTTP/IMF-fixdate (RFC 9110 §5.6.7), and ISO 8601
//! UTC with milliseconds (IRCv3 `server-time`). All in UTC.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    since_epoch(SystemTime::now()).as_secs()
}

fn since_epoch(t: SystemTime) -> Duration {
    t.duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// (year, month 1–12, day 1–31) from days since 1970-01-01 (Howard Hinnant's civil_from_days).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

struct Parts {
    weekday: &'static str,
    year: i64,
    month: u32,
    day: u32,
    hour: i64,
    minute: i64,
    second: i64,
    millis: u32,
}

fn parts(t: SystemTime) -> Parts {
    let d = since_epoch(t);
    let secs = d.as_secs() as i64;
    let days = secs.div_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let s = secs.rem_euclid(86_400);
    Parts {
        weekday: DAYS[days.rem_euclid(7) as usize],
        year,
        month,
        day,
        hour: s / 3600,
        minute: s / 60 % 60,
        second: s % 60,
        millis: d.subsec_millis(),
    }
}

/// `2026-11-23T05:04:00.123Z`.
pub fn iso8601_millis(t: SystemTime) -> String {
    let p = parts(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        p.year, p.month, p.day, p.hour, p.minute, p.second, p.millis
    )
}

/// `Mon, 23 Nov 2026 05:04:00 GMT` (HTTP's IMF-fixdate).
pub fn http_date(t: SystemTime) -> String {
    let p = parts(t);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        p.weekday,
        p.day,
        MONTHS[(p.month - 1) as usize],
        p.year,
        p.hour,
        p.minute,
        p.second
    )
}

/// `Mon, 23 Nov 2026 05:04:00 +0000` (RFC 5322 §3.3 date-time, in UTC).
pub fn rfc5322_date(t: SystemTime) -> String {
    let p = parts(t);
    format!(
        "{}, {} {} {:04} {:02}:{:02}:{:02} +0000",
        p.weekday,
        p.day,
        MONTHS[(p.month - 1) as usize],
        p.year,
        p.hour,
        p.minute,
        p.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_410_240_123);
        assert_eq!(iso8601_millis(t), "2026-11-23T05:04:00.123Z");
        assert_eq!(http_date(t), "Mon, 23 Nov 2026 05:04:00 GMT");
        assert_eq!(rfc5322_date(t), "Mon, 23 Nov 2026 05:04:00 +0000");
        assert_eq!(iso8601_millis(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(http_date(leap), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(rfc5322_date(leap), "Tue, 29 Feb 2000 00:00:00 +0000");
    }
}
