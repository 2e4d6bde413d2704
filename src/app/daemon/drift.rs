//! Drift: endpoints or limits of nm-mptcp's gone missing without an event (`ip mptcp
//! endpoint flush`, an endpoint deleted by hand, limits reset), found by a dry run against the
//! view in hand. Others' endpoints are not nm-mptcp's to put back.

use nm_mptcp_core::diff::Operation;
use nm_mptcp_core::nm_conf::NmConf;
use nm_mptcp_core::nm_view::NmView;

use crate::adapters::kernel::netlink::NetlinkKernel;
use crate::app::context::Context;
use crate::app::reconcile::{self, NmSource};

/// Whether a dispatcher event would add endpoints or set limits now.
pub(super) async fn drifted(
    context: &Context,
    kernel: &mut NetlinkKernel,
    view: &NmView,
    conf: &NmConf,
) -> bool {
    let Ok(outcome) = reconcile::dry_run(context, kernel, NmSource::Held(view, conf)).await else {
        return false;
    };
    let changes = &outcome.changes;
    let missing: Vec<String> = changes
        .operations
        .iter()
        .filter(|op| matches!(op, Operation::Add(_)))
        .map(ToString::to_string)
        .collect();
    let limits_off = changes.limits != changes.limits_before;
    if missing.is_empty() && !limits_off {
        return false;
    }
    tracing::info!(
        missing = ?missing,
        limits = %changes.limits_before,
        wanted_limits = %changes.limits,
        "repair: endpoints or limits of nm-mptcp's changed without an event"
    );
    true
}
