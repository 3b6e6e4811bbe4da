//! The wire side of IMAP that imap-codec does not do for us: assembling a command from its
//! lines and literals under limits ([`assemble`]).

pub mod assemble;
