//! Building the recursive side for `serve`: the recursor or the forwarder, over one cache.

use std::sync::Arc;
use std::time::Duration;

use torsion_core::runner::RunError;
use torsion_dns::cache::DnsCache;
use torsion_dns::forwarder::Forwarder;
use torsion_dns::recursor::{
    NetworkUpstream, Recursor, RecursorOptions, RootHints, DEFAULT_SERVER_TIMEOUT,
};
use torsion_dns::server::Resolve;

use crate::{parse_server, ServeArgs};

/// How long the forwarder waits for one upstream before trying the next.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(2);

/// The recursive side the flags ask for: `--forward` → forwarder; `--recursive`, or neither
/// zones nor forwarders → recursor from the root hints; zones alone → none.
pub(crate) fn build(args: &ServeArgs) -> Result<Option<Arc<dyn Resolve>>, RunError> {
    let cache = Arc::new(DnsCache::new(args.cache_size.max(1)));
    if !args.forward.is_empty() {
        let upstreams = args
            .forward
            .iter()
            .map(|f| parse_server(f, 53).map_err(|e| RunError::Config(format!("--forward {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        // Each upstream gets FORWARD_TIMEOUT; the whole question may try them all.
        let total = FORWARD_TIMEOUT
            * u32::try_from(upstreams.len())
                .unwrap_or(u32::MAX)
                .saturating_add(1);
        let forwarder = Forwarder::new(NetworkUpstream::new(FORWARD_TIMEOUT), upstreams, cache)
            .with_timeout(total);
        return Ok(Some(Arc::new(forwarder)));
    }
    if !(args.recursive || args.zones.is_empty()) {
        return Ok(None);
    }
    let hints = match &args.root_hints {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| RunError::Config(format!("{}: {e}", path.display())))?;
            RootHints::parse(&text)
                .map_err(|e| RunError::Config(format!("{}: {e}", path.display())))?
        }
        None => RootHints::iana(),
    };
    let upstream =
        NetworkUpstream::new(DEFAULT_SERVER_TIMEOUT).with_port_override(args.upstream_port);
    let recursor = Recursor::new(upstream, cache, hints, RecursorOptions::default());
    Ok(Some(Arc::new(recursor)))
}
