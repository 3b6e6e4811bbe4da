//! Torsion POP3: a POP3 server (RFC 1939, CAPA RFC 2449, STLS RFC 2595, AUTH PLAIN RFC 5034,
//! UTF8 RFC 6856) over the shared Maildir store that torsion-smtp delivers to and
//! torsion-imap reads, consistently with IMAP (UIDLs from IMAP UIDs, the same expunges and
//! flags).
//!
//! [`proto`] is the wire format (commands, byte-stuffing), sans-I/O; [`server`] the session
//! state machine and its torsion-core service; [`client`] the client side for programs that
//! download mail (and `torsion-pop3 retrieve`).

pub mod client;
pub mod proto;
pub mod server;
