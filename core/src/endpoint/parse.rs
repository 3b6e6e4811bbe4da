//! Tokenising Twisted-style endpoint strings: `kind:arg:key=value…`, with `\` escaping the next
//! character (so `interface=\:\:1` is `::1`) and `[…]` protecting colons (so `interface=[::1]`
//! works too).

use std::net::IpAddr;
use std::time::Duration;

/// A malformed endpoint string; the message names the offending part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad endpoint {input:?}: {reason}")]
pub struct EndpointError {
    /// The whole string.
    pub input: String,
    /// What is wrong with which part.
    pub reason: String,
}

/// Maximum length of an endpoint string (they come from flags and config files).
const MAX_ENDPOINT_LEN: usize = 4096;

/// A tokenised endpoint string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Spec {
    pub input: String,
    pub kind: String,
    pub args: Vec<String>,
    pub kwargs: Vec<(String, String)>,
}

impl Spec {
    pub fn error(&self, reason: impl Into<String>) -> EndpointError {
        EndpointError {
            input: self.input.clone(),
            reason: reason.into(),
        }
    }

    /// Tokenise. Fails on an empty kind, a dangling escape, unbalanced brackets or an empty key.
    pub fn tokenize(input: &str) -> Result<Spec, EndpointError> {
        let err = |reason: &str| EndpointError {
            input: input.to_owned(),
            reason: reason.to_owned(),
        };
        if input.len() > MAX_ENDPOINT_LEN {
            return Err(err("longer than 4096 bytes"));
        }
        // Each part: (text, position of the first unescaped '=' in text).
        let mut parts: Vec<(String, Option<usize>)> = Vec::new();
        let mut cur = String::new();
        let mut eq: Option<usize> = None;
        let mut chars = input.chars();
        let mut depth = 0u32;
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(next) => cur.push(next),
                    None => return Err(err("ends with a lone backslash")),
                },
                '[' => {
                    depth += 1;
                    cur.push(c);
                }
                ']' => {
                    if depth == 0 {
                        return Err(err("']' without '['"));
                    }
                    depth -= 1;
                    cur.push(c);
                }
                ':' if depth == 0 => {
                    parts.push((mem_take(&mut cur), eq.take()));
                }
                '=' if depth == 0 && eq.is_none() => {
                    eq = Some(cur.len());
                    cur.push(c);
                }
                _ => cur.push(c),
            }
        }
        if depth != 0 {
            return Err(err("'[' without ']'"));
        }
        parts.push((cur, eq));
        let mut parts = parts.into_iter();
        let kind = match parts.next() {
            Some((k, None)) if !k.is_empty() => k.to_ascii_lowercase(),
            _ => return Err(err("missing endpoint type (tcp, tls, unix, udp)")),
        };
        let mut spec = Spec {
            input: input.to_owned(),
            kind,
            args: Vec::new(),
            kwargs: Vec::new(),
        };
        for (text, eq) in parts {
            match eq {
                Some(i) => {
                    let (k, v) = text.split_at(i);
                    if k.is_empty() {
                        return Err(spec.error(format!("empty option name in {text:?}")));
                    }
                    if spec.kwargs.iter().any(|(existing, _)| existing == k) {
                        return Err(spec.error(format!("option {k:?} given twice")));
                    }
                    spec.kwargs.push((k.to_owned(), v[1..].to_owned()));
                }
                None => {
                    if !spec.kwargs.is_empty() {
                        return Err(spec.error(format!(
                            "positional argument {text:?} after a key=value option"
                        )));
                    }
                    spec.args.push(text);
                }
            }
        }
        Ok(spec)
    }

    /// Take an option given either as positional argument `pos` or as `key=` (any of `keys`).
    pub fn take(&mut self, pos: usize, keys: &[&str]) -> Result<Option<String>, EndpointError> {
        let kw = self
            .kwargs
            .iter()
            .position(|(k, _)| keys.contains(&k.as_str()));
        let positional = self.args.get_mut(pos).map(mem_take);
        match (positional, kw) {
            (Some(_), Some(_)) => Err(self.error(format!("{} given twice", keys[0]))),
            (Some(v), None) => Ok(Some(v)),
            (None, Some(i)) => Ok(Some(self.kwargs.remove(i).1)),
            (None, None) => Ok(None),
        }
    }

    /// Fail on anything not consumed by `take`.
    pub fn finish(&self, allowed: &str) -> Result<(), EndpointError> {
        if let Some((k, _)) = self.kwargs.first() {
            return Err(self.error(format!(
                "unknown option {k:?} for {} endpoints (known: {allowed})",
                self.kind
            )));
        }
        if let Some(extra) = self.args.iter().find(|a| !a.is_empty()) {
            return Err(self.error(format!("unexpected argument {extra:?}")));
        }
        if self.args.len() > 8 {
            return Err(self.error("too many arguments"));
        }
        Ok(())
    }

    pub fn port(&self, value: Option<String>) -> Result<u16, EndpointError> {
        let value = value.ok_or_else(|| self.error("missing port"))?;
        value
            .parse::<u16>()
            .map_err(|_| self.error(format!("port {value:?} is not a number from 0 to 65535")))
    }

    pub fn interface(&self, value: Option<String>) -> Result<IpAddr, EndpointError> {
        match value {
            None => Ok(IpAddr::from([0, 0, 0, 0])),
            Some(v) if v.is_empty() => Ok(IpAddr::from([0, 0, 0, 0])),
            Some(v) => parse_ip(&v)
                .ok_or_else(|| self.error(format!("interface {v:?} is not an IP address"))),
        }
    }

    pub fn backlog(&self, value: Option<String>) -> Result<u32, EndpointError> {
        match value {
            None => Ok(DEFAULT_BACKLOG),
            Some(v) => match v.parse::<u32>() {
                Ok(n) if (1..=65535).contains(&n) => Ok(n),
                _ => Err(self.error(format!("backlog {v:?} is not a number from 1 to 65535"))),
            },
        }
    }

    pub fn timeout(&self, value: Option<String>) -> Result<Option<Duration>, EndpointError> {
        match value {
            None => Ok(None),
            Some(v) => match v.parse::<f64>() {
                Ok(secs) if secs > 0.0 && secs <= 86400.0 => {
                    Ok(Some(Duration::from_secs_f64(secs)))
                }
                _ => Err(self.error(format!(
                    "timeout {v:?} is not a number of seconds (0-86400]"
                ))),
            },
        }
    }
}

/// Default listen backlog (Twisted uses 50; modern servers use more).
pub const DEFAULT_BACKLOG: u32 = 1024;

fn mem_take(s: &mut String) -> String {
    std::mem::take(s)
}

/// An IP literal, with or without brackets.
pub(crate) fn parse_ip(s: &str) -> Option<IpAddr> {
    let inner = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    inner.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizes_positional_keyword_and_escapes() {
        let s = Spec::tokenize(r"tcp:80:interface=\:\:1:backlog=5").unwrap();
        assert_eq!(s.kind, "tcp");
        assert_eq!(s.args, vec!["80"]);
        assert_eq!(
            s.kwargs,
            vec![
                ("interface".into(), "::1".into()),
                ("backlog".into(), "5".into())
            ]
        );
        let s = Spec::tokenize("tcp:80:interface=[::1]").unwrap();
        assert_eq!(s.kwargs, vec![("interface".into(), "[::1]".into())]);
        let s = Spec::tokenize(r"unix:/tmp/a\=b").unwrap();
        assert_eq!(s.args, vec!["/tmp/a=b"]);
    }

    #[test]
    fn tokenizer_errors() {
        for bad in [
            "",
            ":80",
            "tcp:80\\",
            "tcp:[::1",
            "tcp:]",
            "tcp:=x",
            "tcp:a=1:a=2",
            "tcp:a=1:80",
        ] {
            assert!(Spec::tokenize(bad).is_err(), "{bad}");
        }
    }
}
