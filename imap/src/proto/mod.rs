//! The wire side of IMAP that imap-codec does not do for us: assembling a command from its
//! lines and literals under limits ([`assemble`]), and the command forms imap-types does not
//! parse: LIST-EXTENDED, CREATE-SPECIAL-USE, MULTIAPPEND ([`extended`]) and SEARCH RETURN
//! options ([`search_return`]).

pub mod assemble;
pub mod extended;
pub mod search_return;
