//! Framing codecs — Twisted's `protocols.basic` (LineReceiver, NetstringReceiver, IntNStringReceiver).
//!
//! Every codec implements [`tokio_util::codec::Decoder`] / [`Encoder`](tokio_util::codec::Encoder)
//! over a [`bytes::BytesMut`] read buffer, so it can be used with [`crate::Connection::read_frame`]
//! or with `tokio_util::codec::Framed`. Decoders never copy a frame: they split it off the read
//! buffer (`BytesMut::split_to` + `freeze`), which is a pointer operation.
//!
//! Because the read buffer lives in the [`crate::Connection`], a protocol switches framing
//! mid-stream simply by calling `read_frame` with a different codec: an IMAP server reads a command
//! line with [`LineCodec`], then the announced `{123}` literal with [`CountedCodec`], then the
//! rest of the line with [`LineCodec`] again — no byte is lost or read twice.
//!
//! Every codec has a maximum frame size. Exceeding it is a typed [`FrameError`]; for lines the
//! error is *recoverable*: the codec discards the rest of the over-long line (without buffering
//! it) and the next `decode` returns the following line, so the protocol can answer
//! "500 line too long" and carry on.

mod counted;
mod length_prefixed;
mod line;
mod netstring;

pub use counted::{CountedCodec, RawCodec};
pub use length_prefixed::{LengthPrefixedCodec, PrefixWidth};
pub use line::LineCodec;
pub use netstring::NetstringCodec;

/// A framing error. `LineTooLong` is recoverable (the codec resynchronises at the next
/// delimiter); the others mean the stream is corrupt and the connection should be closed
/// after an error reply.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// A line exceeded the codec's maximum length (delimiter excluded). The rest of the line is
    /// discarded; decoding resumes after its delimiter.
    #[error("line longer than {limit} bytes")]
    LineTooLong {
        /// The configured maximum.
        limit: usize,
    },
    /// A length-prefixed frame or netstring announced more than the maximum.
    #[error("frame of {length} bytes exceeds the limit of {limit}")]
    FrameTooLong {
        /// The announced length.
        length: u64,
        /// The configured maximum.
        limit: usize,
    },
    /// A netstring was malformed (bad length digits or missing trailing comma).
    #[error("malformed netstring: {0}")]
    BadNetstring(&'static str),
    /// I/O error from the underlying stream (only produced when used with `Framed`).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl FrameError {
    /// Whether decoding can continue after this error (only over-long lines).
    pub fn is_recoverable(&self) -> bool {
        matches!(self, FrameError::LineTooLong { .. })
    }
}
