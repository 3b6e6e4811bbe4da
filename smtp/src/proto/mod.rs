//! The SMTP wire protocol without I/O: commands, replies, the DATA stream. Fuzzed.

pub mod command;
pub mod data;
pub mod reply;

pub use command::{Body, Command, CommandError, MailParams, Mailbox, MAX_COMMAND_LINE};
pub use data::{DataOutcome, DataReceiver};
pub use reply::Reply;
