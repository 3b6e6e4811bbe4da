//! The SMTP server: the session state machine ([`Session`]), its async driver
//! ([`SmtpServer`], a torsion-core service) and the durable relay queue ([`RelayQueue`]).

mod driver;
pub mod dsn;
pub mod relay;
pub mod relay_worker;
pub mod session;

pub use driver::{SmtpServer, COMMAND_TIMEOUT, WRITE_TIMEOUT};
pub use relay::{QueueEntry, RecipientState, RelayQueue};
pub use session::{Action, Delivery, Mode, Session, SessionConfig};
