//! `nm-mptcp plan [--json]`: what nm-mptcp would do and why, for every address; changes
//! nothing. Asks the running daemon over D-Bus when there is one, else reads itself (all of
//! NetworkManager's devices, as the daemon does, so both print the same).

use crate::adapters::dbus_service;
use crate::adapters::kernel::netlink::NetlinkKernel;
use crate::adapters::nm::Detail;
use crate::app::reconcile::{self, NmSource, Outcome};
use crate::error::{Error, ErrorKind};
use crate::report::render_plan;

pub(crate) async fn run(json: bool) -> Result<(), Error> {
    if let Some(outcome) = dbus_service::ask("Plan").await {
        return if json {
            super::emit(&format!("{outcome}\n"))
        } else {
            let outcome: Outcome = serde_json::from_str(&outcome)
                .map_err(|e| Error::new(ErrorKind::Daemon, format!("the daemon planned {e}")))?;
            super::emit(&render_plan(&outcome.plan, &outcome.changes))
        };
    }
    let mut kernel = NetlinkKernel::connect()?;
    let outcome = reconcile::dry_run(&mut kernel, NmSource::Read(Detail::Full)).await?;
    super::print(&outcome, json, |o| render_plan(&o.plan, &o.changes))
}
