//! The imperative shell: gather NetworkManager's and the kernel's state, plan, diff, apply,
//! record ownership. Everything that decides lives in `planner`, `diff`, `limits` and
//! `rp_filter`.

use std::borrow::Cow;
use std::collections::HashSet;
use std::net::IpAddr;
use std::time::Duration;

use nix::errno::Errno;
use serde::Serialize;

use crate::config::{self, Config};
use crate::diff::{diff, hold_back_doubtful, Operation};
use crate::error::Error;
use crate::kernel::addresses::{self, KernelAddress};
use crate::kernel::mptcp::{MptcpHandle, Refusal};
use crate::kernel::sysctl;
use crate::ledger::{read_ledger, run_dir, Ledger, LedgerStore};
use crate::limits::{self, Limits};
use crate::model::KernelEndpoint;
use crate::nm::{self, NmView};
use crate::nm_conf::{self, ConfPaths};
use crate::planner::{plan, Plan};
use crate::rp_filter::{self, RpFilterChange, LOOSE};
use crate::snapshot::{assemble, HostFacts};

/// How long NetworkManager may take to answer before the hook gives up.
pub const NM_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a racing event may hold the lock.
const LOCK_WAIT: Duration = Duration::from_secs(5);

/// What one reconciliation decided and did.
#[derive(Debug, Serialize)]
pub struct Outcome {
    pub plan: Plan,
    pub operations: Vec<Operation>,
    /// The limits the kernel should hold (and, after `apply`, holds).
    pub limits: Limits,
    pub limits_before: Limits,
    pub rp_filter: Vec<RpFilterChange>,
    /// Changes the kernel refused, with its reason.
    pub refused: Vec<Refused>,
}

#[derive(Debug, Serialize)]
pub struct Refused {
    pub change: String,
    pub error: String,
}

/// Everything an event starts from.
pub struct Survey {
    pub config: Config,
    pub plan: Plan,
    pub kernel: Vec<KernelEndpoint>,
    pub limits: Limits,
    /// Every address the kernel holds.
    pub addresses: Vec<KernelAddress>,
}

/// How far a reconciliation may trust its plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backing {
    /// A dispatcher event or a command: the plan is carried out.
    Event,
    /// Only NetworkManager's signals (the daemon between events, `watch`): see
    /// `diff::hold_back_doubtful`.
    Signals,
}

/// Where a reconciliation gets NetworkManager's view from.
#[derive(Debug, Clone, Copy)]
pub enum NmSource<'a> {
    /// Connect and read it now (the hook on its own, the commands).
    Read(nm::Detail),
    /// The view the daemon keeps up to date.
    Held(&'a NmView),
}

/// Read NetworkManager and the kernel, and plan; changes nothing.
pub async fn survey(
    config: Config,
    mptcp: &mut MptcpHandle,
    ledger: &Ledger,
    going_down: Option<&str>,
    source: NmSource<'_>,
) -> Result<Survey, Error> {
    let kernel_state = async {
        let endpoints = mptcp.endpoints().await?;
        Ok::<_, Error>((endpoints, mptcp.limits().await?))
    };
    let view = async {
        match source {
            NmSource::Read(detail) => nm::read(NM_TIMEOUT, detail).await.map(Cow::Owned),
            NmSource::Held(view) => Ok(Cow::Borrowed(view)),
        }
    };
    let (view, kernel_addresses, (kernel, limits)) =
        futures_util::try_join!(view, addresses::dump(), kernel_state)?;
    let ifindex_of = |name: &str| nix::net::if_::if_nametoindex(name).ok();
    let facts = HostFacts {
        kernel_addresses: &kernel_addresses,
        ifindex_of: &ifindex_of,
        sysctl_enabled: sysctl::mptcp_enabled(),
        global_default: nm_conf::global_mptcp_flags(&ConfPaths::default()),
        going_down,
    };
    let host = assemble(&view, &facts);
    let foreign: Vec<KernelEndpoint> = kernel.iter().filter(|k| !ledger.owns(k)).cloned().collect();
    Ok(Survey {
        config,
        plan: plan(&host, &foreign),
        kernel,
        limits,
        addresses: kernel_addresses,
    })
}

/// Interfaces with IPv4 endpoints: where rp_filter matters.
fn ipv4_interfaces(plan: &Plan) -> Vec<String> {
    let mut interfaces: Vec<String> = plan
        .endpoints
        .iter()
        .filter(|e| e.address.is_ipv4())
        .map(|e| e.interface.clone())
        .collect();
    interfaces.sort();
    interfaces.dedup();
    interfaces
}

/// The limits and the rp_filter changes the plan asks for, beside its endpoints.
fn settings(
    config: &Config,
    plan: &Plan,
    limits_before: Limits,
    ledger: &Ledger,
) -> (Limits, Vec<RpFilterChange>) {
    let limits = limits::desired(config, plan.endpoints.len(), limits_before);
    let rp_filter = rp_filter::changes(
        &ipv4_interfaces(plan),
        &sysctl::rp_filter,
        &ledger.rp_filter_relaxed,
        config.relax_rp_filter,
    );
    (limits, rp_filter)
}

/// Plan and diff without changing anything (and without waiting for the lock).
pub async fn dry_run(going_down: Option<&str>) -> Result<Outcome, Error> {
    let config = config::load(&config::path())?;
    let ledger = read_ledger(&run_dir());
    let mut mptcp = MptcpHandle::connect()?;
    let survey = survey(
        config,
        &mut mptcp,
        &ledger,
        going_down,
        NmSource::Read(nm::Detail::Planning),
    )
    .await?;
    let operations = diff(&survey.plan.endpoints, &survey.kernel, &ledger);
    let (limits, rp_filter) = settings(&survey.config, &survey.plan, survey.limits, &ledger);
    Ok(Outcome {
        plan: survey.plan,
        operations,
        limits,
        limits_before: survey.limits,
        rp_filter,
        refused: Vec::new(),
    })
}

/// Make the kernel hold what the plan asks for, under the lock. A broken configuration file
/// stops everything before anything is touched.
pub async fn apply(
    going_down: Option<&str>,
    source: NmSource<'_>,
    backing: Backing,
) -> Result<Outcome, Error> {
    let config = config::load(&config::path())?;
    let store = LedgerStore::lock_async(&run_dir(), LOCK_WAIT).await?;
    let ledger = store.load();
    if config.enable_mptcp && sysctl::mptcp_enabled() == Some(false) {
        sysctl::enable_mptcp()
            .map_err(|e| Error::kernel(format!("cannot set net.mptcp.enabled = 1: {e}")))?;
        tracing::info!("net.mptcp.enabled set to 1");
    }
    let mut mptcp = MptcpHandle::connect()?;
    let Survey {
        config,
        plan,
        kernel,
        limits: limits_before,
        addresses,
    } = survey(config, &mut mptcp, &ledger, going_down, source).await?;
    let mut operations = diff(&plan.endpoints, &kernel, &ledger);
    let (mut limits, mut rp_filter) = settings(&config, &plan, limits_before, &ledger);
    if backing == Backing::Signals {
        let configured = addresses.iter().map(|a| a.address).collect();
        let (run, held) = hold_back_doubtful(operations, &configured, kernel.len());
        operations = run;
        if held > 0 {
            tracing::info!(
                held,
                "changes wait for a dispatcher event: endpoints no longer wanted whose addresses are still configured are kept"
            );
            limits = limits.at_least(limits_before);
            rp_filter.retain(|change| change.to == LOOSE);
        }
    }
    let mut refused = Vec::new();

    // The kernel gives existing connections subflows for an endpoint only when it is added
    // and only within the limits of that moment (raising them later starts nothing), so
    // limits go up before endpoints are added and down only after endpoints are deleted.
    let raised = limits.at_least(limits_before);
    let mut limits_now = limits_before;
    set_limits(&mut mptcp, &mut limits_now, raised, &mut refused).await;

    let mut added: HashSet<IpAddr> = HashSet::new();
    let mut refusals = Vec::new();
    for operation in &operations {
        match execute(&mut mptcp, operation).await {
            Ok(()) => {
                tracing::info!(operation = %describe(operation), "applied");
                if let Operation::Add(d) = operation {
                    added.insert(d.address);
                }
            }
            // Already gone: the goal of a delete.
            Err(Refusal {
                errno: Errno::ENOENT,
            }) if matches!(operation, Operation::Delete { .. }) => {}
            Err(refusal) => refusals.push((operation, refusal)),
        }
    }
    let kernel_after = if operations.is_empty() {
        kernel
    } else {
        mptcp.endpoints().await?
    };

    let mut new_ledger = ledger.after_apply(&plan.endpoints, &kernel_after, &added);
    // A refusal matters only if the kernel still differs from the plan: an EEXIST because
    // NetworkManager added the same endpoint a moment earlier is convergence, not failure.
    let remaining = diff(&plan.endpoints, &kernel_after, &new_ledger);
    refused.extend(
        refusals
            .into_iter()
            .filter(|(op, _)| remaining.contains(op))
            .map(|(op, refusal)| refused_change(describe(op), &refusal)),
    );
    set_limits(&mut mptcp, &mut limits_now, limits, &mut refused).await;

    new_ledger.rp_filter_relaxed =
        apply_rp_filter(&rp_filter, &ledger.rp_filter_relaxed, &mut refused);

    if new_ledger != ledger {
        store.save(&new_ledger)?;
    }
    Ok(Outcome {
        plan,
        operations,
        limits,
        limits_before,
        rp_filter,
        refused,
    })
}

/// Set the limits to `to` unless the kernel already holds them (`now`).
async fn set_limits(
    mptcp: &mut MptcpHandle,
    now: &mut Limits,
    to: Limits,
    refused: &mut Vec<Refused>,
) {
    if *now == to {
        return;
    }
    match mptcp.set_limits(to).await {
        Ok(()) => {
            tracing::info!(
                subflows = to.subflows,
                add_addr_accepted = to.add_addr_accepted,
                "limits set"
            );
            *now = to;
        }
        Err(refusal) => refused.push(refused_change(describe_limits(to), &refusal)),
    }
}

/// Write the rp_filter changes; returns the interfaces nm-mptcp has relaxed afterwards
/// (forgetting interfaces that are gone).
fn apply_rp_filter(
    changes: &[RpFilterChange],
    relaxed: &[String],
    refused: &mut Vec<Refused>,
) -> Vec<String> {
    let mut now: Vec<String> = relaxed.to_vec();
    for change in changes {
        match sysctl::set_rp_filter(&change.interface, change.to) {
            Ok(()) => {
                tracing::info!(interface = %change.interface, from = change.from, to = change.to, "rp_filter set");
                now.retain(|i| *i != change.interface);
                if change.to == LOOSE {
                    now.push(change.interface.clone());
                }
            }
            Err(e) => refused.push(Refused {
                change: change.to_string(),
                error: e.to_string(),
            }),
        }
    }
    now.retain(|i| sysctl::rp_filter(i).is_some());
    now
}

fn refused_change(change: String, refusal: &Refusal) -> Refused {
    tracing::warn!(change = %change, error = %refusal, "kernel refused");
    Refused {
        change,
        error: refusal.to_string(),
    }
}

async fn execute(mptcp: &mut MptcpHandle, operation: &Operation) -> Result<(), Refusal> {
    match operation {
        Operation::Add(d) => mptcp.add(d).await,
        Operation::Delete { id, address, .. } => mptcp.delete(*id, *address).await,
    }
}

/// One line in `ip mptcp endpoint` words.
pub fn describe(operation: &Operation) -> String {
    match operation {
        Operation::Add(d) => format!("add {} dev {} {}", d.address, d.interface, d.flags)
            .trim_end()
            .to_owned(),
        Operation::Delete { id, address, why } => {
            format!("delete id {id} {address} ({})", why.code())
        }
    }
}

/// In `ip mptcp limits` words.
pub fn describe_limits(limits: Limits) -> String {
    format!(
        "limits set subflows {} add_addr_accepted {}",
        limits.subflows, limits.add_addr_accepted
    )
}
