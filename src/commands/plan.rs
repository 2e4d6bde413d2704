//! `nm-mptcp plan [--json]`: what nm-mptcp would do and why, for every address; changes
//! nothing. Asks the running daemon over D-Bus when there is one, else reads itself (all of
//! NetworkManager's devices, as the daemon does, so both print the same).

use crate::adapters::kernel::netlink::NetlinkKernel;
use crate::adapters::nm::Detail;
use crate::app::context::Context;
use crate::app::reconcile::{self, NmSource, Outcome};
use crate::app::status::connections_now;
use nm_mptcp_core::error::Error;
use nm_mptcp_core::report::render_plan;
use nm_mptcp_core::usage::Usage;

pub(crate) async fn run(context: &Context, json: bool) -> Result<(), Error> {
    let render = |o: &Outcome| render_plan(&o.plan, &o.changes, o.usage.as_ref());
    if let Some(printed) = super::print_from_daemon("Plan", json, render).await {
        return printed;
    }
    let mut kernel = NetlinkKernel::connect()?;
    let mut outcome =
        reconcile::dry_run(context, &mut kernel, NmSource::Read(Detail::Full)).await?;
    // Only the connections: plan shows no counters or diagnostics.
    outcome.usage = connections_now().as_deref().map(Usage::of);
    super::print(&outcome, json, render)
}
