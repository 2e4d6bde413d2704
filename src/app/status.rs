//! The host's status (`nm-mptcp status`, the daemon's D-Bus properties): the core's report
//! from a plan and what the kernel holds, with the host facts it needs.

use std::time::{Duration, Instant};

use crate::adapters::kernel::{interfaces, netstat, routes, sock_diag, sysctl};
use crate::adapters::nm;
use crate::adapters::processes::running;
use crate::app::context::Context;
use crate::app::reconcile::NM_TIMEOUT;
use nm_mptcp_core::config::Config;
use nm_mptcp_core::counters::{Counters, History};
use nm_mptcp_core::diagnose::{route_questions, RouteAnswer, RouteQuestion};
use nm_mptcp_core::limits::Limits;
use nm_mptcp_core::model::KernelEndpoint;
use nm_mptcp_core::modified::{ComparedProfile, ModifiedProfile};
use nm_mptcp_core::ownership::Ledger;
use nm_mptcp_core::planner::Plan;
use nm_mptcp_core::report::{status, CounterFacts, HostFacts, Status};
use nm_mptcp_core::usage::{connections, Connection};

/// Whether MPTCP carries traffic now: the connections (sock_diag), the kernel's answers to
/// the route lookups that matter for them, and its MPTCP counters.
#[derive(Clone)]
pub(crate) struct Traffic {
    /// `None` when sock_diag could not be read.
    pub connections: Option<Vec<Connection>>,
    pub routes: Vec<(RouteQuestion, RouteAnswer)>,
    pub counters: Option<Counters>,
    /// What rose since the daemon started, what rose lately and over how long.
    pub history: Option<(Counters, Counters, Duration)>,
}

impl Traffic {
    /// One sock_diag dump, the lookups it calls for, and the counters.
    pub(crate) async fn read(endpoints: &[KernelEndpoint]) -> Traffic {
        let connections = connections_now();
        let questions = connections
            .as_deref()
            .map(|c| route_questions(c, endpoints))
            .unwrap_or_default();
        let routes = routes::answers(questions).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot look routes up");
            Vec::new()
        });
        Traffic {
            connections,
            routes,
            counters: netstat::mptcp_counters(),
            history: None,
        }
    }

    /// Keep the counters in the daemon's history, and compare with it.
    pub(crate) fn recorded(mut self, history: &mut Option<History>, at: Instant) -> Traffic {
        if let Some(now) = &self.counters {
            let history = history.get_or_insert_with(|| History::new(at, now.clone()));
            self.history = Some(history.record(at, now.clone()));
        }
        self
    }
}

/// The MPTCP connections now (one sock_diag dump); `None`, logged, where it cannot be read.
pub(crate) fn connections_now() -> Option<Vec<Connection>> {
    match sock_diag::subflows() {
        Ok(subflows) => Some(connections(&subflows)),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the MPTCP subflows");
            None
        }
    }
}

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
/// `config` is the context's, as read.
pub(crate) fn report(
    plan: &Plan,
    kernel: &[KernelEndpoint],
    limits: Limits,
    ledger: Option<&Ledger>,
    (context, config): (&Context, &Config),
    modified: &[ModifiedProfile],
    traffic: &Traffic,
) -> Status {
    let (run_dir, config_path) = (&context.run_dir, &context.config_path);
    let facts = HostFacts {
        path_manager: sysctl::path_manager(),
        kernel_release: sysctl::kernel_release(),
        mptcpd_running: running("mptcpd"),
        interface_name: &interfaces::name,
        rp_filter: &sysctl::rp_filter,
        modified,
        run_dir: run_dir.display().to_string(),
        config,
        config_path: config_path.display().to_string(),
        connections: traffic.connections.as_deref(),
        routes: &traffic.routes,
        counters: traffic.counters.as_ref().map(|now| CounterFacts {
            now,
            since_start: traffic.history.as_ref().map(|(start, ..)| start),
            lately: traffic
                .history
                .as_ref()
                .map(|(_, lately, over)| (lately, *over)),
        }),
    };
    status(plan, kernel, limits, ledger, &facts)
}
