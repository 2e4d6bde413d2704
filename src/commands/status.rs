//! `nm-mptcp status [--json]`: what the kernel holds and who owns it, the limits, and for
//! every profile why each address is or is not an endpoint. Changes nothing; works for any
//! user that can read the system bus and netlink (ownership is then inferred from the plan).

use crate::adapters::kernel::netlink::NetlinkKernel;
use crate::adapters::ledger_store::{ledger_readable, read_ledger};
use crate::adapters::nm::{self, Detail};
use crate::app::context::Context;
use crate::app::reconcile::{survey, NmSource, NM_TIMEOUT};
use crate::app::status::{modified_profiles, report, Traffic};
use nm_mptcp_core::error::Error;
use nm_mptcp_core::report::render_status;

pub(crate) async fn run(context: &Context, json: bool) -> Result<(), Error> {
    // A broken configuration is reported here too, as by every command that reads it.
    let config = context.config()?;
    if let Some(printed) = super::print_from_daemon("Describe", json, render_status).await {
        return printed;
    }
    let dir = &context.run_dir;
    let ledger = ledger_readable(dir).then(|| read_ledger(dir));
    let mut kernel = NetlinkKernel::connect()?;
    let survey = survey(
        &mut kernel,
        ledger.as_ref().unwrap_or(&Default::default()),
        None,
        NmSource::Read(Detail::Full),
        config.metered_as_backup,
    )
    .await?;
    let modified = match nm::within(NM_TIMEOUT, nm::system_bus()).await {
        Ok(bus) => modified_profiles(&bus).await,
        Err(_) => Vec::new(),
    };
    let traffic = Traffic::read(&survey.kernel).await;
    let status = report(
        &survey.plan,
        &survey.kernel,
        survey.limits,
        ledger.as_ref(),
        dir,
        (&config, &context.config_path),
        &modified,
        &traffic,
    );
    super::print(&status, json, render_status)
}
