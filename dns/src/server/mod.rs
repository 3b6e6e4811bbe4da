//! The DNS server: the query handler and its UDP and TCP drivers.

pub mod acl;
pub mod answers;
pub mod handler;
mod recursion;
pub mod tcp;
pub mod udp;
pub mod zones;

pub use acl::{Acl, Cidr};
pub use handler::{Answer, Catalog, Outcome, QueryHandler, Resolve, Transport};
pub use tcp::DnsTcp;
pub use udp::serve_udp;
pub use zones::{ZoneSet, ZoneSpec};
