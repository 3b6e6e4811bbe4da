//! HTTP/1.1 on the wire, sans I/O: request heads ([`head`]), bodies ([`body`]), response heads
//! ([`response`]), dates ([`date`]), safe paths ([`path`]) and byte ranges ([`range`]). Pure
//! functions and decoders over bytes — no sockets, no tokio — and fuzzed.

pub mod body;
pub mod date;
pub mod head;
pub mod path;
pub mod range;
pub mod response;

pub use body::{BodyDecoder, BodyError, BodyPiece};
pub use head::{parse_request_head, BodyLength, HeadError, RequestHead};
