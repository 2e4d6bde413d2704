//! `nm-mptcp reconcile`: apply the whole host once (at boot, or by hand).

use crate::adapters::kernel::netlink::NetlinkKernel;
use crate::adapters::nm::Detail;
use crate::app::context::Context;
use crate::app::reconcile::{self, NmSource};
use crate::app::{event_span, verdict};
use nm_mptcp_core::changes::Backing;
use nm_mptcp_core::error::Error;
use nm_mptcp_core::report::change_lines;

pub(crate) async fn run(context: &Context) -> Result<(), Error> {
    if context.released() {
        return Err(crate::app::context::released());
    }
    let span = event_span("none", "reconcile");
    let _entered = span.enter();
    let mut kernel = NetlinkKernel::connect()?;
    let outcome = reconcile::apply(
        context,
        &mut kernel,
        None,
        NmSource::Read(Detail::Planning),
        Backing::Event,
    )
    .await?;
    let mut text: String = change_lines(&outcome.changes)
        .iter()
        .map(|line| format!("{line}\n"))
        .collect();
    text.push_str(&format!(
        "{} endpoint(s) planned, {} change(s) made\n",
        outcome.plan.endpoints.len(),
        outcome.applied
    ));
    super::emit(&text)?;
    verdict(&outcome.refused)
}
