//! `nm-mptcp status [--json]`: what the kernel holds and who owns it, the limits, for every
//! profile why each address is or is not an endpoint, and whether MPTCP carries traffic (the
//! connections on each endpoint, the kernel's counters, and what to fix). Changes nothing;
//! works for any user that can read the system bus and netlink (ownership is then inferred
//! from the plan, and without the daemon the connections are unknown where the kernel shows
//! subflows only to root).

use crate::adapters::dbus_service;
use crate::adapters::kernel::netlink::NetlinkKernel;
use crate::adapters::ledger_store::{ledger_readable, read_ledger};
use crate::adapters::nm::{self, Detail};
use crate::app::context::Context;
use crate::app::reconcile::{survey, NmSource, NM_TIMEOUT};
use crate::app::status::{modified_profiles, report, Traffic};
use nm_mptcp_core::config::Config;
use nm_mptcp_core::error::Error;
use nm_mptcp_core::report::{render_status, Status};

pub(crate) async fn run(context: &Context, json: bool) -> Result<(), Error> {
    // A broken configuration is reported here too, as by every command that reads it.
    let config = context.config()?;
    if let Some(printed) = super::print_from_daemon("Describe", json, render_status).await {
        return printed;
    }
    super::print(&read(context, &config).await?, json, render_status)
}

/// The status from the running daemon (its counters then say what rose since it started),
/// else read here.
pub(crate) async fn current(context: &Context) -> Result<Status, Error> {
    let config = context.config()?;
    match dbus_service::ask("Describe").await {
        Some(answer) => super::daemon_answer("Describe", &answer),
        None => read(context, &config).await,
    }
}

async fn read(context: &Context, config: &Config) -> Result<Status, Error> {
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
    Ok(report(
        &survey.plan,
        &survey.kernel,
        survey.limits,
        ledger.as_ref(),
        (context, config),
        &modified,
        &traffic,
    ))
}
