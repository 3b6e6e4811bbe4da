//! Torsion IMAP: an IMAP4rev2 / IMAP4rev1 server over the shared Maildir store
//! (torsion-mailstore), in progress — see ARCHITECTURE.md for what is built so far.
//!
//! Commands are parsed with imap-codec (sans-I/O); what it leaves to the server is in
//! [`proto`]: assembling a command from lines and literals under limits. [`client`] is the
//! client side for programs that read mail (and `torsion-imap fetch` / `watch`).

pub mod client;
pub mod proto;
pub mod server;
