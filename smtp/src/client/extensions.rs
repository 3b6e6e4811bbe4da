//! The service extensions a server announced in its EHLO reply (RFC 5321 §4.1.1.1: the first
//! line is the greeting, each further line `KEYWORD [params]`).

use crate::proto::Reply;

/// What the server supports. After HELO (no EHLO), everything is off.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extensions {
    /// The first line of the EHLO reply (the server's name and greeting text).
    pub greeting: String,
    /// `SIZE [n]` (RFC 1870): `Some(0)` when announced without a limit (or with 0).
    pub size: Option<u64>,
    /// `PIPELINING` (RFC 2920).
    pub pipelining: bool,
    /// `8BITMIME` (RFC 6152).
    pub eight_bit_mime: bool,
    /// `SMTPUTF8` (RFC 6531).
    pub smtputf8: bool,
    /// `CHUNKING` (RFC 3030).
    pub chunking: bool,
    /// `STARTTLS` (RFC 3207).
    pub starttls: bool,
    /// `ENHANCEDSTATUSCODES` (RFC 2034).
    pub enhanced_status_codes: bool,
    /// `AUTH mech…` (RFC 4954), upper-cased, in the server's order; also from the pre-standard
    /// `AUTH=mech…` form some servers still send.
    pub auth: Vec<String>,
    /// Other keywords (upper-cased) with their parameter text.
    pub other: Vec<(String, String)>,
}

impl Extensions {
    /// Read an EHLO reply.
    pub fn from_ehlo(reply: &Reply) -> Self {
        let mut ext = Extensions {
            greeting: reply.lines.first().cloned().unwrap_or_default(),
            ..Extensions::default()
        };
        for line in reply.lines.iter().skip(1) {
            ext.add_line(line);
        }
        ext
    }

    fn add_line(&mut self, line: &str) {
        let line = line.trim();
        let (keyword, params) = match line.split_once([' ', '=']) {
            Some((k, p)) => (k, p.trim()),
            None => (line, ""),
        };
        let keyword = keyword.to_ascii_uppercase();
        match keyword.as_str() {
            // A malformed number is treated as "no announced limit": the server still gets to
            // refuse with 552 after MAIL or DATA.
            "SIZE" => self.size = Some(params.parse().unwrap_or(0)),
            "PIPELINING" => self.pipelining = true,
            "8BITMIME" => self.eight_bit_mime = true,
            "SMTPUTF8" => self.smtputf8 = true,
            "CHUNKING" => self.chunking = true,
            "STARTTLS" => self.starttls = true,
            "ENHANCEDSTATUSCODES" => self.enhanced_status_codes = true,
            "AUTH" => {
                for mech in params.split([' ', '=']).filter(|m| !m.is_empty()) {
                    let mech = mech.to_ascii_uppercase();
                    if !self.auth.contains(&mech) {
                        self.auth.push(mech);
                    }
                }
            }
            "" => {}
            _ => self.other.push((keyword, params.to_owned())),
        }
    }

    /// The server's message size limit, if it announced one (RFC 1870 §4: 0 means none).
    pub fn max_size(&self) -> Option<u64> {
        self.size.filter(|&n| n > 0)
    }

    /// Whether the server offers SASL mechanism `mech` (case-insensitive).
    pub fn has_auth(&self, mech: &str) -> bool {
        self.auth.iter().any(|m| m.eq_ignore_ascii_case(mech))
    }

    /// Whether a keyword was announced (known or not).
    pub fn has(&self, keyword: &str) -> bool {
        match keyword.to_ascii_uppercase().as_str() {
            "SIZE" => self.size.is_some(),
            "PIPELINING" => self.pipelining,
            "8BITMIME" => self.eight_bit_mime,
            "SMTPUTF8" => self.smtputf8,
            "CHUNKING" => self.chunking,
            "STARTTLS" => self.starttls,
            "ENHANCEDSTATUSCODES" => self.enhanced_status_codes,
            "AUTH" => !self.auth.is_empty(),
            other => self.other.iter().any(|(k, _)| k == other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ehlo(lines: &[&str]) -> Extensions {
        Extensions::from_ehlo(&Reply::multi(
            250,
            "",
            lines.iter().map(|l| (*l).to_owned()).collect(),
        ))
    }

    #[test]
    fn keywords() {
        let ext = ehlo(&[
            "mx.test Hello client",
            "PIPELINING",
            "SIZE 10240000",
            "8BITMIME",
            "smtputf8",
            "CHUNKING",
            "STARTTLS",
            "ENHANCEDSTATUSCODES",
            "AUTH PLAIN login CRAM-MD5",
            "AUTH=LOGIN PLAIN",
            "DSN",
            "ETRN",
            "X-EXTRA some params",
        ]);
        assert_eq!(ext.greeting, "mx.test Hello client");
        assert_eq!(ext.max_size(), Some(10_240_000));
        assert!(ext.pipelining && ext.eight_bit_mime && ext.smtputf8 && ext.chunking);
        assert!(ext.starttls && ext.enhanced_status_codes);
        assert_eq!(ext.auth, ["PLAIN", "LOGIN", "CRAM-MD5"]);
        assert!(ext.has_auth("login"));
        assert!(ext.has("dsn") && ext.has("X-EXTRA") && !ext.has("VRFY"));
        assert_eq!(
            ext.other[2],
            ("X-EXTRA".to_owned(), "some params".to_owned())
        );
    }

    #[test]
    fn sizes_and_nothing() {
        assert_eq!(ehlo(&["mx", "SIZE"]).size, Some(0));
        assert_eq!(ehlo(&["mx", "SIZE"]).max_size(), None);
        assert_eq!(ehlo(&["mx", "SIZE 0"]).max_size(), None);
        assert_eq!(ehlo(&["mx", "SIZE lots"]).max_size(), None);
        let bare = ehlo(&["mx"]);
        assert_eq!(
            bare,
            Extensions {
                greeting: "mx".into(),
                ..Default::default()
            }
        );
        assert!(!bare.has("SIZE") && !bare.has("AUTH"));
    }
}
