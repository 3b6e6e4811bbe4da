//! The access log, in the combined format nginx and Apache write (so goaccess, awstats and
//! fail2ban read it as they are):
//! `ADDR - - [07/Dec/2026:23:59:01 +0000] "GET /x HTTP/1.1" 200 123 "REFERER" "AGENT"`.
//! One line per response, written with one `write` under a lock (as nginx writes without
//! `buffer=`); quotes, backslashes and control bytes inside fields are escaped as nginx
//! escapes them (`\x22`), so a client cannot forge a line.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::SystemTime;

use http::StatusCode;
use torsion_core::Address;

/// Where access log lines go.
#[derive(Debug)]
pub struct AccessLog {
    out: Mutex<Sink>,
}

#[derive(Debug)]
enum Sink {
    File(File),
    Stdout,
    Memory(Vec<u8>),
}

impl AccessLog {
    /// Append to `path` (`-`: standard output).
    pub fn open(path: &Path) -> io::Result<Self> {
        let sink = if path == Path::new("-") {
            Sink::Stdout
        } else {
            Sink::File(OpenOptions::new().create(true).append(true).open(path)?)
        };
        Ok(AccessLog {
            out: Mutex::new(sink),
        })
    }

    /// Collect lines in memory (tests: [`AccessLog::take`]).
    pub fn memory() -> Self {
        AccessLog {
            out: Mutex::new(Sink::Memory(Vec::new())),
        }
    }

    /// The lines collected by a [`AccessLog::memory`] log so far.
    pub fn take(&self) -> String {
        let mut sink = self.out.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *sink {
            Sink::Memory(v) => String::from_utf8_lossy(&std::mem::take(v)).into_owned(),
            _ => String::new(),
        }
    }

    /// Write the line for one response.
    pub fn record(&self, entry: &Entry, peer: &Address, status: StatusCode, bytes: u64) {
        let addr = match peer {
            Address::Tcp(a) => a.ip().to_string(),
            other => other.to_string(),
        };
        let time = log_time(SystemTime::now());
        let line = format!(
            "{addr} - - [{time}] \"{}\" {} {bytes} \"{}\" \"{}\"\n",
            entry.request,
            status.as_u16(),
            entry.referer,
            entry.agent
        );
        let mut sink = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let result = match &mut *sink {
            Sink::File(f) => f.write_all(line.as_bytes()),
            Sink::Stdout => io::stdout().lock().write_all(line.as_bytes()),
            Sink::Memory(v) => {
                v.extend_from_slice(line.as_bytes());
                Ok(())
            }
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "cannot write the access log");
        }
    }
}

/// What the log line needs from a request, taken before the handler consumes it.
#[derive(Debug, Clone)]
pub struct Entry {
    request: String,
    referer: String,
    agent: String,
}

impl Entry {
    /// From the request's head.
    pub fn request(parts: &http::request::Parts) -> Self {
        let version = match parts.version {
            http::Version::HTTP_10 => "HTTP/1.0",
            _ => "HTTP/1.1",
        };
        let field = |name: http::header::HeaderName| {
            parts
                .headers
                .get(name)
                .map_or_else(|| "-".to_owned(), |v| escape(v.as_bytes()))
        };
        Entry {
            request: escape(format!("{} {} {version}", parts.method, parts.uri).as_bytes()),
            referer: field(http::header::REFERER),
            agent: field(http::header::USER_AGENT),
        }
    }
}

/// nginx's escaping of logged variables: `"`, `\`, control and non-ASCII bytes as `\xHH`.
fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b) {
            out.push_str(&format!("\\x{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

/// `07/Dec/2026:23:59:01 +0000`.
fn log_time(t: SystemTime) -> String {
    // http_date gives "Mon, 07 Dec 2026 23:59:01 GMT"; rearrange its parts.
    let text = torsion_core::date::http_date(t);
    let parts: Vec<&str> = text.split(' ').collect();
    match parts.as_slice() {
        [_, day, mon, year, time, _] => format!("{day}/{mon}/{year}:{time} +0000"),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_combined_format_and_escaped() {
        let req = http::Request::builder()
            .method("GET")
            .uri("/a?b=c")
            .header("user-agent", "curl/8 \"x\"")
            .body(())
            .expect("request");
        let (parts, ()) = req.into_parts();
        let log = AccessLog::memory();
        let peer = Address::Tcp("192.0.2.7:5555".parse().expect("addr"));
        log.record(&Entry::request(&parts), &peer, StatusCode::OK, 42);
        let line = log.take();
        assert!(line.starts_with("192.0.2.7 - - ["), "{line}");
        assert!(
            line.ends_with("] \"GET /a?b=c HTTP/1.1\" 200 42 \"-\" \"curl/8 \\x22x\\x22\"\n"),
            "{line}"
        );
        assert!(log_time(SystemTime::UNIX_EPOCH).starts_with("01/Jan/1970:00:00:00 +0000"));
    }
}
