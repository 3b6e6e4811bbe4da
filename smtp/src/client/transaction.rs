//! One mail transaction, planned without I/O: the envelope checked, the MAIL parameters chosen
//! from the server's extensions, the result per recipient.

use crate::proto::command::parse_mailbox;
use crate::proto::Reply;

use super::dotstuff;
use super::extensions::Extensions;

/// Recipients whose RCPT commands go out together when the server pipelines (RFC 2920 §3.1:
/// the client must not fill the server's window with replies it is not reading).
pub const PIPELINE_BATCH: usize = 100;

/// What happened to a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendReport {
    /// Recipients the server accepted (as given to `send`).
    pub accepted: Vec<String>,
    /// Recipients refused, with the reply (a synthetic 501 5.1.3 for an address that is not
    /// valid syntax and was never sent).
    pub rejected: Vec<(String, Reply)>,
    /// The reply to the end of data (always positive when `send` returns `Ok`); `None` when
    /// no recipient was accepted and no message was sent.
    pub data: Option<Reply>,
}

impl SendReport {
    /// Whether the message went to every recipient.
    pub fn all_accepted(&self) -> bool {
        self.rejected.is_empty() && self.data.is_some()
    }
}

/// The planned transaction.
#[derive(Debug)]
pub(crate) struct Plan {
    /// `MAIL FROM:<…> params`, without CRLF.
    pub mail: String,
    /// (recipient as given, `RCPT TO:<…>`) for the recipients that are valid syntax.
    pub rcpts: Vec<(String, String)>,
    /// Recipients refused before sending.
    pub invalid: Vec<(String, Reply)>,
}

/// `<addr>` or `addr` → `addr` (one layer of brackets, surrounding spaces).
fn unbracket(addr: &str) -> &str {
    let addr = addr.trim();
    addr.strip_prefix('<')
        .and_then(|a| a.strip_suffix('>'))
        .unwrap_or(addr)
}

/// Whether `addr` is a mailbox we may put in a path (no CR/LF or brackets can get through
/// the mailbox grammar, so no command can be injected).
fn valid_path(addr: &str, recipient: bool) -> bool {
    (recipient && addr.eq_ignore_ascii_case("postmaster")) || parse_mailbox(addr).is_some()
}

/// Plan a transaction, or refuse it before anything is sent.
pub(crate) fn plan(
    ext: &Extensions,
    from: Option<&str>,
    to: &[&str],
    message: &[u8],
) -> Result<Plan, Reply> {
    let from = from.map(unbracket).unwrap_or("");
    if !from.is_empty() && !valid_path(from, false) {
        return Err(Reply::new(
            501,
            "5.1.7",
            format!("Bad sender address syntax: {from:?} (not sent)"),
        ));
    }
    let mut rcpts = Vec::new();
    let mut invalid = Vec::new();
    for &given in to {
        let addr = unbracket(given);
        if valid_path(addr, true) {
            rcpts.push((given.to_owned(), format!("RCPT TO:<{addr}>")));
        } else {
            invalid.push((
                given.to_owned(),
                Reply::new(
                    501,
                    "5.1.3",
                    format!("Bad recipient address syntax: {addr:?} (not sent)"),
                ),
            ));
        }
    }
    // RFC 6531 §3.4: UTF-8 in the envelope needs SMTPUTF8 at every hop.
    let utf8 = !from.is_ascii() || rcpts.iter().any(|(given, _)| !given.is_ascii());
    if utf8 && !ext.smtputf8 {
        return Err(Reply::new(
            553,
            "5.6.7",
            "The server does not support SMTPUTF8, needed for a non-ASCII address (not sent)",
        ));
    }
    let size = dotstuff::message_size(message);
    if let Some(max) = ext.max_size() {
        if size > max {
            return Err(Reply::new(
                552,
                "5.3.4",
                format!("Message size {size} exceeds the server's limit of {max} (not sent)"),
            ));
        }
    }
    let mut mail = format!("MAIL FROM:<{from}>");
    if ext.size.is_some() {
        mail.push_str(&format!(" SIZE={size}"));
    }
    if ext.eight_bit_mime && dotstuff::has_8bit(message) {
        mail.push_str(" BODY=8BITMIME");
    }
    if utf8 {
        mail.push_str(" SMTPUTF8");
    }
    Ok(Plan {
        mail,
        rcpts,
        invalid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext() -> Extensions {
        Extensions {
            size: Some(100),
            eight_bit_mime: true,
            smtputf8: true,
            pipelining: true,
            ..Default::default()
        }
    }

    #[test]
    fn mail_parameters_follow_the_extensions() {
        let p = plan(&ext(), Some("a@b.test"), &["<c@d.test>"], b"hi\n").unwrap();
        assert_eq!(p.mail, "MAIL FROM:<a@b.test> SIZE=4");
        assert_eq!(
            p.rcpts,
            [("<c@d.test>".to_owned(), "RCPT TO:<c@d.test>".to_owned())]
        );
        let p = plan(&ext(), None, &["c@d.test"], "ü\r\n".as_bytes()).unwrap();
        assert_eq!(p.mail, "MAIL FROM:<> SIZE=4 BODY=8BITMIME");
        let p = plan(&ext(), Some("jörg@b.test"), &["Postmaster"], b"").unwrap();
        assert_eq!(p.mail, "MAIL FROM:<jörg@b.test> SIZE=0 SMTPUTF8");
        assert_eq!(p.rcpts[0].1, "RCPT TO:<Postmaster>");
        // After HELO: no parameters at all.
        let p = plan(
            &Extensions::default(),
            Some("<a@b.test>"),
            &["c@d.test"],
            "ü".as_bytes(),
        )
        .unwrap();
        assert_eq!(p.mail, "MAIL FROM:<a@b.test>");
    }

    #[test]
    fn refusals_before_sending() {
        let r = plan(&ext(), Some("a@b.test"), &["c@d.test"], &[b'x'; 200]).unwrap_err();
        assert_eq!((r.code, r.status), (552, "5.3.4"));
        let r = plan(
            &Extensions::default(),
            Some("jörg@b.test"),
            &["c@d.test"],
            b"",
        )
        .unwrap_err();
        assert_eq!((r.code, r.status), (553, "5.6.7"));
        let r = plan(&ext(), Some("a@b.test>\r\nRSET"), &["c@d.test"], b"").unwrap_err();
        assert_eq!((r.code, r.status), (501, "5.1.7"));
        let p = plan(&ext(), None, &["ok@d.test", "bad>\r\nDATA", "no-at"], b"").unwrap();
        assert_eq!(p.rcpts.len(), 1);
        assert_eq!(p.invalid.len(), 2);
        assert_eq!(p.invalid[0].1.code, 501);
    }
}
