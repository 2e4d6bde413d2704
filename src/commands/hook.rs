//! `nm-mptcp IFACE ACTION`: what nm-dispatcher runs on every event. A running daemon takes
//! the event over the control socket; without one the hook does the work itself.

use crate::control;
use crate::dispatcher::{self, Action};
use crate::error::Error;
use crate::ledger::run_dir;
use crate::nm::Detail;
use crate::reconcile::{self, Backing, NmSource};

/// Before any runtime or logging starts: `Some` verdict when the event needs no work or a
/// daemon handled it, `None` when the hook must do the work itself.
pub fn answer_without_runtime(args: &[String]) -> Option<Result<(), Error>> {
    let event = match dispatcher::parse(args) {
        Ok(event) => event,
        Err(e) => return Some(Err(e)),
    };
    if let Action::Ignored(_) = event.action {
        return Some(Ok(()));
    }
    // Events without a device come with an empty interface; "none" keeps the line two words.
    control::forward(&run_dir(), event.interface_name(), &args[1])
}

pub async fn run(args: &[String]) -> Result<(), Error> {
    let event = dispatcher::parse(args)?;
    let span = super::event_span(&event, &args[1]);
    let _entered = span.enter();
    let outcome = reconcile::apply(
        event.going_down(),
        NmSource::Read(Detail::Planning),
        Backing::Event,
    )
    .await?;
    tracing::info!(
        endpoints = outcome.plan.endpoints.len(),
        changes = outcome.operations.len(),
        "reconciled"
    );
    if outcome.plan.awaiting_addresses {
        super::watch::spawn();
    }
    super::verdict(&outcome)
}
