//! `nm-mptcp IFACE ACTION`: what nm-dispatcher runs on every event. A running daemon takes
//! the event over the control socket; without one the hook does the work itself.

use crate::adapters::control::{self, Forwarded};
use crate::adapters::dispatcher::{Action, Event};
use crate::adapters::kernel::netlink::NetlinkKernel;
use crate::adapters::nm;
use crate::adapters::nm::Detail;
use crate::app::context::Context;
use crate::app::reconcile::{self, NmSource};
use crate::app::{event_span, verdict, watch};
use nm_mptcp_core::changes::Backing;
use nm_mptcp_core::error::{Error, ErrorKind};

/// Whether NetworkManager owns its name; `true` when the bus cannot say (the error stands).
async fn nm_on_the_bus() -> bool {
    let bus = nm::within(std::time::Duration::from_secs(1), async {
        let bus = nm::system_bus().await?;
        nm::present(&bus).await
    });
    bus.await.unwrap_or(true)
}

/// Before any runtime or logging starts: answered when the event needs no work or a daemon
/// handled it, else the hook must do the work itself.
pub(crate) fn answer_without_runtime(context: &Context, event: &Event) -> Forwarded {
    // Released: nothing to do until `nm-mptcp resume` (the package's hook may still be
    // installed for a moment after its removal gave everything back).
    if matches!(event.action, Action::Ignored(_)) || context.released() {
        return Forwarded::Answered(Ok(()));
    }
    control::forward(
        &context.run_dir,
        event.interface_name(),
        event.action.name(),
    )
}

/// `from_dispatcher`: nm-dispatcher ran the hook, so NetworkManager absent from the bus is
/// NetworkManager starting or stopping (1.52 sends an event then), not a failure.
pub(crate) async fn run(
    context: &Context,
    event: &Event,
    from_dispatcher: bool,
) -> Result<(), Error> {
    let span = event_span(event.interface_name(), event.action.name());
    let _entered = span.enter();
    let mut kernel = NetlinkKernel::connect()?;
    let applied = reconcile::apply(
        context,
        &mut kernel,
        event.going_down(),
        NmSource::Read(Detail::Planning),
        Backing::Event,
    )
    .await;
    let outcome = match applied {
        // Released while this event waited for the lock: nothing to do.
        Err(_) if context.released() => return Ok(()),
        Err(e)
            if from_dispatcher && e.kind == ErrorKind::NetworkManager && !nm_on_the_bus().await =>
        {
            tracing::info!(
                "NetworkManager is not on the bus (starting or stopping): nothing to do"
            );
            return Ok(());
        }
        applied => applied?,
    };
    tracing::info!(
        endpoints = outcome.plan.endpoints.len(),
        changes = outcome.applied,
        "reconciled"
    );
    if outcome.plan.awaiting_addresses {
        watch::spawn();
    }
    verdict(&outcome.refused)
}
