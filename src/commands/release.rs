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
    for line in change_lines(&released.changes) {
        text.push_str(&format!("{line}\n"));
    }
    text.push_str(&format!(
        "{} change(s) made; endpoints, limits and rp_filter of others untouched\n",
        released.applied
    ));
    super::emit(&text)?;
    verdict(&released.refused)
}
