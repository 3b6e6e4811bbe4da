//! Delivery status notifications (bounces): RFC 3464 `message/delivery-status` inside an
//! RFC 6522 `multipart/report`, with the original headers (`text/rfc822-headers`) so the sender
//! can tell which message failed without the body being sent back.

use std::time::SystemTime;

/// Most header bytes of the original message returned in a bounce.
const MAX_RETURNED_HEADERS: usize = 32 * 1024;

/// One failed recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The recipient address.
    pub recipient: String,
    /// The remote server's reply or our reason (`550 5.1.1 …`, `DNS: no such domain`).
    pub diagnostic: String,
}

/// The RFC 3463 status in a diagnostic (`550 5.1.1 …` or `host said: 550 5.1.1 …` →
/// `5.1.1`; a transient `4.x.y` that became final is reported as `5.x.y`), else `5.0.0`.
pub fn status_of(diagnostic: &str) -> String {
    diagnostic
        .split_whitespace()
        .take(8)
        .find(|w| {
            let parts: Vec<&str> = w.split('.').collect();
            parts.len() == 3
                && (parts[0] == "5" || parts[0] == "4")
                && parts[1..]
                    .iter()
                    .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(|w| match w.strip_prefix('4') {
            Some(rest) => format!("5{rest}"),
            None => w.to_owned(),
        })
        .unwrap_or_else(|| "5.0.0".to_owned())
}

/// The header section of `message` (up to the first empty line), bounded.
fn headers_of(message: &[u8]) -> &[u8] {
    let end = memchr::memmem::find(message, b"\r\n\r\n")
        .map(|i| i + 2)
        .unwrap_or(message.len());
    &message[..end.min(MAX_RETURNED_HEADERS)]
}

fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Build a bounce to `sender` for `failures` of `original` (queued at `arrival`).
pub fn bounce(
    hostname: &str,
    sender: &str,
    failures: &[Failure],
    original: &[u8],
    arrival: SystemTime,
    id: &str,
) -> Vec<u8> {
    let boundary = format!("{id}/{hostname}");
    let date = torsion_core::date::rfc5322_date(SystemTime::now());
    let mut out = String::new();
    out.push_str(&format!(
        "From: Mail Delivery System <MAILER-DAEMON@{hostname}>\r\n\
         To: <{sender}>\r\n\
         Subject: Undelivered Mail Returned to Sender\r\n\
         Date: {date}\r\n\
         Message-ID: <{id}.bounce@{hostname}>\r\n\
         Auto-Submitted: auto-replied\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\"\r\n\
         \r\n\
         This is a MIME-encapsulated message.\r\n\
         \r\n\
         --{boundary}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         This is the mail system at host {hostname}.\r\n\
         \r\n\
         Your message could not be delivered to one or more recipients.\r\n\
         \r\n"
    ));
    for f in failures {
        out.push_str(&format!(
            "<{}>: {}\r\n",
            clean(&f.recipient),
            clean(&f.diagnostic)
        ));
    }
    out.push_str(&format!(
        "\r\n--{boundary}\r\n\
         Content-Type: message/delivery-status\r\n\
         \r\n\
         Reporting-MTA: dns; {hostname}\r\n\
         X-Torsion-Queue-ID: {id}\r\n\
         Arrival-Date: {}\r\n",
        torsion_core::date::rfc5322_date(arrival)
    ));
    for f in failures {
        out.push_str(&format!(
            "\r\nFinal-Recipient: rfc822; {}\r\nAction: failed\r\nStatus: {}\r\nDiagnostic-Code: smtp; {}\r\n",
            clean(&f.recipient),
            status_of(&f.diagnostic),
            clean(&f.diagnostic)
        ));
    }
    out.push_str(&format!(
        "\r\n--{boundary}\r\n\
         Content-Type: text/rfc822-headers\r\n\
         \r\n"
    ));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(headers_of(original));
    if !bytes.ends_with(b"\r\n") {
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(status_of("550 5.1.1 No such user"), "5.1.1");
        assert_eq!(status_of("451 4.4.1 timeout"), "5.4.1");
        assert_eq!(status_of("550 no such user"), "5.0.0");
        assert_eq!(status_of("DNS: no MX"), "5.0.0");
        assert_eq!(
            status_of("mx.far.test said: 550 5.1.1 <x@far.test>: unknown"),
            "5.1.1"
        );
    }

    #[test]
    fn builds_a_multipart_report() {
        let original = b"Subject: hello\r\nFrom: a@here.test\r\n\r\nsecret body\r\n";
        let b = bounce(
            "mx.here.test",
            "a@here.test",
            &[Failure {
                recipient: "x@far.test".into(),
                diagnostic: "550 5.1.1 <x@far.test>: User unknown".into(),
            }],
            original,
            SystemTime::now(),
            "ABC123",
        );
        let text = String::from_utf8(b).unwrap();
        assert!(text.contains("Content-Type: multipart/report; report-type=delivery-status;"));
        assert!(text.contains(
            "Final-Recipient: rfc822; x@far.test\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        ));
        assert!(text.contains("Reporting-MTA: dns; mx.here.test"));
        assert!(text.contains("Subject: hello\r\nFrom: a@here.test\r\n"));
        assert!(!text.contains("secret body"), "the body is not returned");
        assert!(text.ends_with("--ABC123/mx.here.test--\r\n"));
        assert!(!text.replace("\r\n", "").contains('\n'), "CRLF only");
    }
}
