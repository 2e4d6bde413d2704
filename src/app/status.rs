//! The host's status (`nm-mptcp status`, the daemon's D-Bus properties): the core's report
//! from a plan and what the kernel holds, with the host facts it needs.

use std::path::Path;

use crate::adapters::kernel::{interfaces, sysctl};
use crate::adapters::nm;
use crate::adapters::processes::running;
use crate::app::reconcile::NM_TIMEOUT;
use nm_mptcp_core::config::Config;
use nm_mptcp_core::limits::Limits;
use nm_mptcp_core::model::KernelEndpoint;
use nm_mptcp_core::modified::{ComparedProfile, ModifiedProfile};
use nm_mptcp_core::ownership::Ledger;
use nm_mptcp_core::planner::Plan;
use nm_mptcp_core::report::{status, HostFacts, Status};

/// Active profiles modified since NetworkManager applied them; none (with a warning in the
/// log) when NetworkManager cannot say: the status goes on without them.
pub(crate) async fn modified_profiles(bus: &zbus::Connection) -> Vec<ModifiedProfile> {
    match nm::within(NM_TIMEOUT, nm::compare_profiles(bus)).await {
        Ok(compared) => compared
            .into_iter()
            .filter(ComparedProfile::modified)
            .map(|p| p.profile)
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot compare saved and applied profiles");
            Vec::new()
        }
    }
}

/// `ledger` is `None` where it cannot be read (not root): owners are then inferred.
pub(crate) fn report(
    plan: &Plan,
    kernel: &[KernelEndpoint],
    limits: Limits,
    ledger: Option<&Ledger>,
    run_dir: &Path,
    config: &Config,
    modified: &[ModifiedProfile],
) -> Status {
    let facts = HostFacts {
        path_manager: sysctl::path_manager(),
        kernel_release: sysctl::kernel_release(),
        mptcpd_running: running("mptcpd"),
        interface_name: &interfaces::name,
        rp_filter: &sysctl::rp_filter,
        modified,
        run_dir: run_dir.display().to_string(),
        config,
    };
    status(plan, kernel, limits, ledger, &facts)
}
