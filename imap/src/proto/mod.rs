//! The wire side of IMAP that imap-codec does not do for us: assembling a command from its
//! lines and literals under limits ([`assemble`]), and the SEARCH RETURN options imap-types
//! does not parse ([`search_return`]).

pub mod assemble;
pub mod search_return;
