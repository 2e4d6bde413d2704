//! `nm-mptcp release`: give back what nm-mptcp changed (see `app::release`).

use crate::adapters::kernel::netlink::NetlinkKernel;
use crate::app::context::Context;
use crate::app::release::release;
use crate::app::{event_span, verdict};
use nm_mptcp_core::error::Error;
use nm_mptcp_core::report::change_lines;

pub(crate) async fn run(context: &Context) -> Result<(), Error> {
    let span = event_span("none", "release");
    let _entered = span.enter();
    let mut kernel = NetlinkKernel::connect()?;
    let released = release(context, &mut kernel).await?;
    let mut text = String::new();
    if let Some(pid) = released.daemon_stopped {
        text.push_str(&format!("daemon (pid {pid}) stopped\n"));
    }
    if released.ledger_rebuilt {
        text.push_str("the ledger was corrupt: nm-mptcp's endpoints were found again from NetworkManager's profiles; the limits' original values were lost with it and are left as they are\n");
    }
    for line in change_lines(&released.changes) {
        text.push_str(&format!("{line}\n"));
    }
    for endpoint in &released.left_to_nm {
        text.push_str(&format!(
            "left to NetworkManager: endpoint {} id {} ({}; its own MPTCP support holds it for an active profile)\n",
            endpoint.address, endpoint.id, endpoint.flags
        ));
    }
    text.push_str(&format!(
        "{} change(s) made; endpoints, limits and rp_filter of others untouched; `nm-mptcp resume` lets nm-mptcp act again\n",
        released.applied
    ));
    super::emit(&text)?;
    verdict(&released.refused)
}
