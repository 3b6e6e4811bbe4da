//! Why a resolution fails: [`RecursionError`], whose message is what the server logs with
//! its SERVFAIL.

use std::time::Duration;

use hickory_proto::rr::{Name, RecordType};

/// The reason given when every server of a zone timed out.
pub(crate) const TIMED_OUT: &str = "timed out";

/// Why a resolution failed. The server answers SERVFAIL and logs this.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecursionError {
    /// No server of a zone gave a usable response.
    #[error("all name servers for {zone} {reason}")]
    ServersFailed {
        /// The zone.
        zone: Name,
        /// What happened, e.g. "timed out".
        reason: String,
    },
    /// A CNAME chain came back to a name already seen.
    #[error("CNAME loop at {name}")]
    CnameLoop {
        /// Where the loop closed.
        name: Name,
    },
    /// Too many CNAMEs.
    #[error("CNAME chain from {name} longer than {limit}")]
    CnameChainTooLong {
        /// The name asked.
        name: Name,
        /// The limit.
        limit: usize,
    },
    /// Too many referrals for one name.
    #[error("too many referrals resolving {name} (limit {limit})")]
    TooManyReferrals {
        /// The name being resolved.
        name: Name,
        /// The limit.
        limit: usize,
    },
    /// The per-question upstream query budget ran out.
    #[error("query budget of {limit} upstream queries exhausted resolving {name}")]
    QueryBudgetExhausted {
        /// The name being resolved when it ran out.
        name: Name,
        /// The budget.
        limit: usize,
    },
    /// Name-server lookups nested too deeply.
    #[error("name server lookups nested too deeply resolving {name}")]
    TooDeep {
        /// The name server whose address was needed.
        name: Name,
    },
    /// The wall-clock limit passed.
    #[error("resolution of {name} timed out after {after:?}")]
    Timeout {
        /// The name asked.
        name: Name,
        /// The limit.
        after: Duration,
    },
    /// A type that is not a question for a resolver (zone transfers, OPT, TSIG …).
    #[error("{rtype} queries are not resolved")]
    UnsupportedType {
        /// The type asked.
        rtype: RecordType,
    },
    /// The forwarder's upstream resolvers all failed.
    #[error("all upstream resolvers failed: {reason}")]
    UpstreamsFailed {
        /// What each did, or "none configured".
        reason: String,
    },
}

impl RecursionError {
    /// Whether this ends the whole resolution rather than just one way of going about it
    /// (e.g. one name server's address lookup).
    pub(crate) fn is_fatal(&self) -> bool {
        matches!(
            self,
            Self::QueryBudgetExhausted { .. } | Self::Timeout { .. }
        )
    }

    /// Whether every server of a zone timed out (rather than answering badly).
    pub(crate) fn all_timed_out(&self) -> bool {
        matches!(self, Self::ServersFailed { reason, .. } if reason == TIMED_OUT)
    }
}

/// Types a resolver does not look up: zone transfers and pseudo-records.
pub fn is_resolvable(rtype: RecordType) -> bool {
    !matches!(
        rtype,
        RecordType::AXFR | RecordType::IXFR | RecordType::OPT | RecordType::TSIG | RecordType::ZERO
    )
}

/// What went wrong with each server of a zone, for the error message.
#[derive(Debug, Default)]
pub(crate) struct Failures {
    reasons: Vec<String>,
    all_timeouts: bool,
}

impl Failures {
    /// Reasons kept for the message.
    const KEPT: usize = 4;

    pub(crate) fn note(&mut self, reason: String, timeout: bool) {
        self.all_timeouts = (self.reasons.is_empty() || self.all_timeouts) && timeout;
        if self.reasons.len() < Self::KEPT {
            self.reasons.push(reason);
        }
    }

    pub(crate) fn summary(&self) -> String {
        if self.reasons.is_empty() {
            "have no usable address".into()
        } else if self.all_timeouts {
            TIMED_OUT.into()
        } else {
            format!("failed: {}", self.reasons.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_summaries() {
        let mut f = Failures::default();
        assert_eq!(f.summary(), "have no usable address");
        f.note("a".into(), true);
        f.note("b".into(), true);
        assert_eq!(f.summary(), "timed out");
        f.note("192.0.2.1:53: Server Failure".into(), false);
        assert!(f.summary().starts_with("failed: a; b; 192.0.2.1:53"));
    }

    #[test]
    fn error_messages_say_why() {
        let e = RecursionError::ServersFailed {
            zone: Name::from_ascii("example.com.").unwrap(),
            reason: TIMED_OUT.into(),
        };
        assert_eq!(e.to_string(), "all name servers for example.com. timed out");
        assert!(e.all_timed_out());
        let e = RecursionError::CnameLoop {
            name: Name::from_ascii("a.example.").unwrap(),
        };
        assert_eq!(e.to_string(), "CNAME loop at a.example.");
    }

    #[test]
    fn meta_types_are_not_resolvable() {
        assert!(!is_resolvable(RecordType::AXFR));
        assert!(!is_resolvable(RecordType::OPT));
        assert!(is_resolvable(RecordType::ANY));
        assert!(is_resolvable(RecordType::MX));
    }
}
