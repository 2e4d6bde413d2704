//! The application: carrying out reconciliations (`reconcile`, against the kernel behind
//! `kernel::Kernel`), the resident daemon, the address watcher, and logging.

pub(crate) mod context;
pub(crate) mod daemon;
pub(crate) mod kernel;
pub(crate) mod logging;
pub(crate) mod reconcile;
pub(crate) mod release;
pub(crate) mod status;
pub(crate) mod watch;

use nm_mptcp_core::error::Error;
use reconcile::Refused;

/// The one span of an event, whoever handles it: a dispatcher event (`e0`, `up`), or what
/// the daemon, `watch` or `reconcile` noticed or were asked (`none`, `reconcile`).
pub(crate) fn event_span(interface: &str, action: &str) -> tracing::Span {
    tracing::info_span!("event", interface, action)
}

/// A reconciliation's verdict: refusals that left the kernel off-plan fail the run.
pub(crate) fn verdict(refused: &[Refused]) -> Result<(), Error> {
    match refused {
        [] => Ok(()),
        refused => Err(Error::kernel(format!(
            "the kernel refused {} change(s): {}",
            refused.len(),
            refused
                .iter()
                .map(|r| format!("{}: {}", r.change, r.error))
                .collect::<Vec<_>>()
                .join("; ")
        ))),
    }
}
