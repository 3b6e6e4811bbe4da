//! The stub resolver client — what `twisted.names.client` and hickory-resolver provide.
//!
//! - [`exchange()`]: one query to one server over UDP (TCP when truncated, or on request),
//!   hardened against off-path spoofing as RFC 5452 asks.
//! - [`Resolver`]: resolv.conf semantics on top (search list, `ndots`, server failover and
//!   rotation) and typed lookups: addresses, MX, TXT, SRV, PTR.
//! - [`format_message`]: `dig`-style output for the `torsion-dns query` subcommand.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use torsion_dns::client::{Resolver, ResolveError};
//!
//! let resolver = Resolver::from_system()?;
//! match resolver.mx_lookup("example.com").await {
//!     Ok(mxs) => { /* deliver to mxs[0].exchange, … */ }
//!     Err(ResolveError::NoRecords { .. }) => { /* no MX: use the domain's A/AAAA */ }
//!     Err(e) if e.is_temporary() => { /* 4xx, try later */ }
//!     Err(e) => return Err(e.into()), // NXDOMAIN: 5xx
//! }
//! # Ok(()) }
//! ```

pub mod exchange;
pub mod lookup;
pub mod present;
pub mod resolv_conf;
pub mod resolver;
pub mod search;
pub mod validate;

pub use exchange::{exchange, exchange_message, ExchangeError, ExchangeOptions};
pub use lookup::Lookup;
pub use present::format_message;
pub use resolv_conf::ResolverConfig;
pub use resolver::{Mx, ResolveError, Resolver, Srv};
pub use search::BadName;
pub use validate::{accept_response, questions_match, Rejection};
