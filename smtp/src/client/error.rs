//! Client errors, typed so a relay can decide: retry later, bounce, or try the next MX.

use std::io;

use crate::proto::Reply;

use super::reply::ReplyError;

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The connection failed (connect, read, write, or the server closed it).
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    /// No reply (or no write progress) within the configured timeout.
    #[error("timed out waiting for the server")]
    Timeout,
    /// TLS could not be set up: STARTTLS required but not offered, the handshake failed, the
    /// certificate did not verify, trust roots did not load.
    #[error("TLS: {0}")]
    Tls(String),
    /// The server refused: at connect (greeting), EHLO/HELO, AUTH, MAIL, DATA or after the
    /// message data — or a synthetic refusal produced before sending (a message over the
    /// server's SIZE, 552 5.3.4; a UTF-8 address to a server without SMTPUTF8, 553 5.6.7; a
    /// malformed sender, 501 5.1.7). [`Reply::is_transient`] tells whether to retry.
    #[error("server replied: {0}")]
    Reply(Reply),
    /// The server broke the protocol (a malformed or unexpected reply), or the client was used
    /// after a connection-level failure.
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl ClientError {
    /// Whether retrying cannot help: true only for 5xx replies.
    pub fn is_permanent(&self) -> bool {
        matches!(self, ClientError::Reply(reply) if reply.code >= 500)
    }

    /// The server's reply, for [`ClientError::Reply`].
    pub fn reply(&self) -> Option<&Reply> {
        match self {
            ClientError::Reply(reply) => Some(reply),
            _ => None,
        }
    }
}

impl From<ReplyError> for ClientError {
    fn from(e: ReplyError) -> Self {
        match e {
            ReplyError::Io(e) => ClientError::Io(e),
            other => ClientError::Protocol(other.to_string()),
        }
    }
}

impl From<torsion_core::ReadError<ReplyError>> for ClientError {
    fn from(e: torsion_core::ReadError<ReplyError>) -> Self {
        use torsion_core::ReadError;
        match e {
            ReadError::Frame(e) => e.into(),
            ReadError::Io(e) if e.kind() == io::ErrorKind::TimedOut => ClientError::Timeout,
            ReadError::Io(e) => ClientError::Io(e),
            ReadError::IdleTimeout | ReadError::FrameTimeout => ClientError::Timeout,
            ReadError::Shutdown => ClientError::Io(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "shutting down",
            )),
            ReadError::Truncated { pending } => ClientError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("connection closed in the middle of a reply ({pending} bytes pending)"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permanence() {
        assert!(ClientError::Reply(Reply::new(550, "5.1.1", "no")).is_permanent());
        assert!(!ClientError::Reply(Reply::new(451, "4.3.0", "later")).is_permanent());
        assert!(!ClientError::Timeout.is_permanent());
        assert!(!ClientError::Tls("x".into()).is_permanent());
        assert_eq!(
            ClientError::Reply(Reply::new(550, "5.1.1", "no")).to_string(),
            "server replied: 550 5.1.1 no"
        );
    }
}
