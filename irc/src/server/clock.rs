//! Wall-clock formatting for IRC: IRCv3 `server-time` and the human form used by 003 and TIME
//! (both from torsion-core's date module).

use std::time::SystemTime;

pub use torsion_core::date::{http_date, unix_now};

/// `2026-11-23T05:04:00.123Z` for `t` (IRCv3 server-time).
pub fn server_time(t: SystemTime) -> String {
    torsion_core::date::iso8601_millis(t)
}

/// [`http_date`] of now.
pub fn http_date_now() -> String {
    http_date(SystemTime::now())
}
