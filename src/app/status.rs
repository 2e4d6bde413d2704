//! The host's status (`nm-mptcp status`, the daemon's D-Bus properties): the core's report
//! from a plan and what the kernel holds, with the host facts it needs.

use std::path::Path;

use crate::adapters::kernel::{interfaces, sysctl};
use crate::adapters::processes::running;
use crate::config::Config;
use crate::limits::Limits;
use crate::model::KernelEndpoint;
use crate::ownership::Ledger;
use crate::planner::Plan;
use crate::report::{status, HostFacts, Status};

/// `ledger` is `None` where it cannot be read (not root): owners are then inferred.
pub(crate) fn report(
    plan: &Plan,
    kernel: &[KernelEndpoint],
    limits: Limits,
    ledger: Option<&Ledger>,
    run_dir: &Path,
    config: &Config,
) -> Status {
    let facts = HostFacts {
        path_manager: sysctl::path_manager(),
        kernel_release: sysctl::kernel_release(),
        mptcpd_running: running("mptcpd"),
        interface_name: &interfaces::name,
        rp_filter: &sysctl::rp_filter,
        run_dir: run_dir.display().to_string(),
        config,
    };
    status(plan, kernel, limits, ledger, &facts)
}
