//! `nm-mptcp IFACE ACTION`: what nm-dispatcher runs on every event.

use crate::dispatcher::{self, Action};
use crate::error::Error;
use crate::nm::Detail;
use crate::reconcile::{self, NmSource};

pub async fn run(args: &[String]) -> Result<(), Error> {
    let event = dispatcher::parse(args)?;
    if let Action::Ignored(action) = &event.action {
        tracing::debug!(action, "action needs no reconciliation");
        return Ok(());
    }
    let span = tracing::info_span!(
        "event",
        interface = event.interface.as_deref().unwrap_or("none"),
        action = args[1].as_str()
    );
    let _entered = span.enter();
    let outcome = reconcile::apply(event.going_down(), NmSource::Read(Detail::Planning)).await?;
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
