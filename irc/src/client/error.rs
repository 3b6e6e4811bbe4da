//! Client errors: typed, so callers (and the `send` command's exit codes) can tell a bad
//! configuration from a network failure from a refusal by the server.

use torsion_core::endpoint::{ConnectError, EndpointError};

/// Why the client could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The configuration is unusable (bad nickname, channel…).
    #[error("{0}")]
    Config(String),
    /// The endpoint string does not parse.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// Connecting failed.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// A command argument cannot be sent (empty, or contains a space or line break where that
    /// is not allowed).
    #[error("invalid {what}: {value:?}")]
    Invalid {
        /// What was wrong (target, channel, raw line…).
        what: &'static str,
        /// The offending value.
        value: String,
    },
    /// SASL authentication failed and [`ClientConfig::sasl_required`](super::ClientConfig) is set.
    #[error("SASL authentication failed: {0}")]
    SaslFailed(String),
    /// Every configured and generated nickname was taken or refused.
    #[error("no usable nickname (last tried {0:?})")]
    NickUnavailable(String),
    /// The connection ended and reconnecting is disabled.
    #[error("disconnected: {0}")]
    Disconnected(String),
    /// The client gave up reconnecting.
    #[error("gave up after {attempts} reconnection attempts: {last}")]
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// The client task has stopped; commands can no longer be sent.
    #[error("the client has stopped")]
    Stopped,
}
