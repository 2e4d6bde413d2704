//! `nm-mptcp IFACE ACTION`: what nm-dispatcher runs on every event. A running daemon takes
//! the event over the control socket; without one the hook does the work itself.

use crate::adapters::control;
use crate::adapters::dispatcher::{Action, Event};
use crate::adapters::kernel::netlink::NetlinkKernel;
use crate::adapters::ledger_store::run_dir;
use crate::adapters::nm::Detail;
use crate::app::reconcile::{self, NmSource};
use crate::app::{event_span, verdict, watch};
use crate::changes::Backing;
use crate::error::Error;

/// Before any runtime or logging starts: `Some` verdict when the event needs no work or a
/// daemon handled it, `None` when the hook must do the work itself.
pub(crate) fn answer_without_runtime(event: &Event) -> Option<Result<(), Error>> {
    if let Action::Ignored(_) = event.action {
        return Some(Ok(()));
    }
    control::forward(&run_dir(), event.interface_name(), event.action.name())
}

pub(crate) async fn run(event: &Event) -> Result<(), Error> {
    let span = event_span(event.interface_name(), event.action.name());
    let _entered = span.enter();
    let mut kernel = NetlinkKernel::connect()?;
    let outcome = reconcile::apply(
        &mut kernel,
        event.going_down(),
        NmSource::Read(Detail::Planning),
        Backing::Event,
    )
    .await?;
    tracing::info!(
        endpoints = outcome.plan.endpoints.len(),
        changes = outcome.applied,
        "reconciled"
    );
    if outcome.plan.awaiting_addresses {
        watch::spawn();
    }
    verdict(&outcome)
}
