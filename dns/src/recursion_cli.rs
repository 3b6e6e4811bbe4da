//! Building the recursive side for `serve`: recursor or forwarder.

use std::sync::Arc;

use torsion_core::runner::RunError;
use torsion_dns::server::Resolve;

use crate::ServeArgs;

/// The recursive side the flags ask for, if any.
pub(crate) fn build(args: &ServeArgs) -> Result<Option<Arc<dyn Resolve>>, RunError> {
    let wants_recursion = args.recursive || !args.forward.is_empty() || args.zones.is_empty();
    if !wants_recursion {
        return Ok(None);
    }
    Err(RunError::Config(
        "recursion and forwarding are not built yet".into(),
    ))
}
