//! Torsion IMAP: an IMAP4rev2 / IMAP4rev1 server over the shared Maildir store
//! (torsion-mailstore) — see ARCHITECTURE.md for its design.
//!
//! Commands are parsed with imap-codec (sans-I/O); what it leaves to the server is in
//! [`proto`]: assembling a command from lines and literals under limits. [`client`] is the
//! client side for programs that read mail (and `torsion-imap fetch` / `watch`).

pub mod client;
pub mod proto;
pub mod server;
