//! # torsion-dns
//!
//! DNS for Torsion: an authoritative server (RFC 1035 zone files), a caching recursive
//! resolver, a caching forwarder, and a stub resolver client (`Resolver`) for embedding — the
//! roles of Twisted's `twistd dns` and `twisted.names.client`.
//!
//! The wire format is hickory-proto's; everything above it (zones, lookup rules, cache,
//! recursion, transports) is ours.

#[cfg(feature = "server")]
pub mod cache;
#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "server")]
pub mod fnv;
#[cfg(feature = "server")]
pub mod forwarder;
#[cfg(feature = "server")]
pub mod recursor;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
pub mod zone;

#[cfg(feature = "client")]
pub use client::{Lookup, ResolveError, Resolver, ResolverConfig};
pub use hickory_proto as proto;
