//! The executor: gather NetworkManager's and the kernel's state, plan, work out the changes,
//! carry them out in the order the core gives, record ownership. Everything that decides
//! lives in the core (`planner`, `changes`, `ownership`); this only does what they say.

use std::borrow::Cow;
use std::collections::HashSet;
use std::net::IpAddr;
use std::time::Duration;

use nix::errno::Errno;
use serde::{Deserialize, Serialize};

use super::context::Context;
use super::kernel::{Kernel, KernelState};
use crate::adapters::kernel::mptcp::Refusal;
use crate::adapters::ledger_store::{read_ledger, LedgerStore};
use crate::adapters::nm::{self, Detail};
use crate::adapters::nm_conf_files;
use nm_mptcp_core::changes::{changes, Backing, Changes, Current};
use nm_mptcp_core::diff::{as_kept_by_kernel, diff, dropped_flags, Operation};
use nm_mptcp_core::error::{Error, ErrorKind};
use nm_mptcp_core::flags::EndpointFlags;
use nm_mptcp_core::limits::Limits;
use nm_mptcp_core::model::{DesiredEndpoint, KernelAddress, KernelEndpoint};
use nm_mptcp_core::nm_conf::NmConf;
use nm_mptcp_core::nm_view::NmView;
use nm_mptcp_core::ownership::Ledger;
use nm_mptcp_core::planner::{plan, Plan};
use nm_mptcp_core::rp_filter::LOOSE;
use nm_mptcp_core::snapshot::{assemble, HostFacts};
use nm_mptcp_core::usage::Usage;

/// How long NetworkManager may take to answer before the hook gives up.
pub(crate) const NM_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a racing event may hold the lock.
pub(crate) const LOCK_WAIT: Duration = Duration::from_secs(5);

/// What one reconciliation decided and did.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Outcome {
    pub plan: Plan,
    #[serde(flatten)]
    pub changes: Changes,
    /// Operations the kernel carried out.
    pub applied: usize,
    /// Changes the kernel refused, with its reason.
    pub refused: Vec<Refused>,
    /// The connections now, for `plan` (a reconciliation does not read them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Refused {
    pub change: String,
    pub error: String,
    #[serde(default)]
    pub by: RefusedBy,
}

/// Who refused a change: the kernel, answering (an errno: the sockets are fine), or the
/// way to it (the netlink socket failed: it is opened anew), or a sysctl file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum RefusedBy {
    #[default]
    Kernel,
    Transport,
    Sysctl,
}

/// Everything an event starts from.
pub(crate) struct Survey {
    pub plan: Plan,
    pub kernel: Vec<KernelEndpoint>,
    pub limits: Limits,
    /// Every address the kernel holds.
    pub addresses: Vec<KernelAddress>,
    /// NetworkManager is still starting (`Startup`): its devices are not all back yet.
    pub nm_starting: bool,
    /// NetworkManager's process, as the view says.
    pub nm_pid: Option<u32>,
}

/// Where a reconciliation gets NetworkManager's view from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum NmSource<'a> {
    /// Connect and read it now (the hook on its own, the commands).
    Read(Detail),
    /// A view in hand (the daemon's, kept up to date, or one it has just read), with
    /// NetworkManager's configuration files as read with it (NetworkManager itself reads
    /// them only when it starts or reloads, and reading them costs as much as the kernel's
    /// dumps, on the path from an address to its endpoint).
    Held(&'a NmView, &'a NmConf),
}

/// Read NetworkManager and the kernel, and plan; changes nothing.
pub(crate) async fn survey(
    kernel: &mut impl Kernel,
    ledger: &Ledger,
    going_down: Option<&str>,
    source: NmSource<'_>,
    metered_as_backup: bool,
) -> Result<Survey, Error> {
    let kernel_state = kernel.state();
    let view = async {
        match source {
            NmSource::Read(detail) => nm::read(NM_TIMEOUT, detail).await.map(Cow::Owned),
            NmSource::Held(view, _) => Ok(Cow::Borrowed(view)),
        }
    };
    let (view, state) = futures_util::try_join!(view, kernel_state)?;
    let KernelState {
        endpoints,
        limits,
        addresses,
    } = state;
    let ifindex_of = |name: &str| kernel.ifindex(name);
    let read_conf;
    let nm_conf = match source {
        NmSource::Held(_, conf) => conf,
        NmSource::Read(_) => {
            read_conf = nm_conf_files::read_of_process(view.pid);
            &read_conf
        }
    };
    let facts = HostFacts {
        kernel_addresses: &addresses,
        ifindex_of: &ifindex_of,
        sysctl_enabled: kernel.mptcp_enabled(),
        nm_conf,
        going_down,
        metered_as_backup,
    };
    let host = assemble(&view, &facts);
    let foreign: Vec<KernelEndpoint> = endpoints
        .iter()
        .filter(|k| !ledger.owns(k))
        .cloned()
        .collect();
    Ok(Survey {
        plan: plan(&host, &foreign),
        kernel: endpoints,
        limits,
        addresses,
        nm_starting: view.starting,
        nm_pid: view.pid,
    })
}

/// The changes a survey asks for.
fn changes_for(
    survey: &Survey,
    ledger: &Ledger,
    config: &nm_mptcp_core::config::Config,
    kernel: &impl Kernel,
    backing: Backing,
) -> Changes {
    let configured: HashSet<IpAddr> = survey.addresses.iter().map(|a| a.address).collect();
    let rp_filter = |interface: &str| kernel.rp_filter(interface);
    let current = Current {
        kernel: &survey.kernel,
        limits: survey.limits,
        ledger,
        addresses: &configured,
        rp_filter: &rp_filter,
    };
    changes(&survey.plan, &current, config, backing)
}

/// What a dispatcher event would do now, without changing anything (and without waiting
/// for the lock).
pub(crate) async fn dry_run(
    context: &Context,
    kernel: &mut impl Kernel,
    source: NmSource<'_>,
) -> Result<Outcome, Error> {
    let config = context.config()?;
    let ledger = read_ledger(&context.run_dir);
    let survey = survey(kernel, &ledger, None, source, config.metered_as_backup).await?;
    let ledger = ledger.adopting(&survey.plan.superseded, &survey.plan.endpoints);
    let changes = changes_for(&survey, &ledger, &config, kernel, Backing::Event);
    Ok(Outcome {
        plan: survey.plan,
        changes,
        applied: 0,
        refused: Vec::new(),
        usage: None,
    })
}

/// Make the kernel hold what the plan asks for, under the lock. A broken configuration file
/// stops everything before anything is touched.
pub(crate) async fn apply(
    context: &Context,
    kernel: &mut impl Kernel,
    going_down: Option<&str>,
    source: NmSource<'_>,
    backing: Backing,
) -> Result<Outcome, Error> {
    let config = context.config()?;
    let store = LedgerStore::lock_async(&context.run_dir, LOCK_WAIT).await?;
    // `release` marks the host under this lock: whoever waited for it behind a release
    // changes nothing.
    if context.released() {
        return Err(super::context::released());
    }
    let ledger = store.load();
    if config.enable_mptcp && kernel.mptcp_enabled() == Some(false) {
        kernel
            .enable_mptcp()
            .map_err(|e| Error::kernel(format!("cannot set net.mptcp.enabled = 1: {e}")))?;
        tracing::info!("net.mptcp.enabled set to 1");
    }
    let survey = survey(
        kernel,
        &ledger,
        going_down,
        source,
        config.metered_as_backup,
    )
    .await?;
    let before = ledger;
    let ledger = before.adopting(&survey.plan.superseded, &survey.plan.endpoints);
    // While NetworkManager starts, its devices come back one by one: a plan then would take
    // the others' endpoints away and put them back with new ids. Additions go ahead (at
    // boot every `up` comes while it starts); what a plan would take away from an address
    // still configured waits, as for what only signals back.
    let backing = if survey.nm_starting {
        Backing::Signals
    } else {
        backing
    };
    let changes = changes_for(&survey, &ledger, &config, kernel, backing);
    if changes.held_back > 0 {
        tracing::info!(
            held = changes.held_back,
            "changes wait for a dispatcher event: endpoints no longer wanted whose addresses are still configured are kept"
        );
    }
    let executed = execute(
        kernel,
        &survey.plan.endpoints,
        &changes,
        survey.kernel,
        &ledger,
    )
    .await?;
    if executed.ledger != before {
        store.save(&executed.ledger)?;
    }
    Ok(Outcome {
        plan: survey.plan,
        changes,
        applied: executed.applied,
        refused: executed.refused,
        usage: None,
    })
}

/// The way to the kernel failed (a netlink socket, not a refusal the kernel answered): a
/// long-lived holder of the sockets opens fresh ones (`NetlinkKernel::reconnect`) before the
/// next reconciliation.
pub(crate) fn kernel_failed(applied: &Result<Outcome, Error>) -> bool {
    match applied {
        Ok(outcome) => outcome.refused.iter().any(|r| r.by == RefusedBy::Transport),
        Err(e) => e.kind == ErrorKind::Kernel,
    }
}

/// What carrying out the changes left behind.
pub(crate) struct Executed {
    pub ledger: Ledger,
    pub applied: usize,
    pub refused: Vec<Refused>,
}

/// Carry out `changes` in their order: limits up, operations, limits to their final value,
/// rp_filter. A refusal counts only if the kernel still differs from the plan afterwards: an
/// EEXIST because NetworkManager added the same endpoint a moment earlier is convergence.
pub(crate) async fn execute(
    kernel: &mut impl Kernel,
    desired: &[DesiredEndpoint],
    changes: &Changes,
    kernel_before: Vec<KernelEndpoint>,
    ledger: &Ledger,
) -> Result<Executed, Error> {
    let mut refused = Vec::new();
    let mut limits_now = changes.limits_before;
    set_limits(kernel, &mut limits_now, changes.limits_during, &mut refused).await;

    let mut added: HashSet<IpAddr> = HashSet::new();
    let mut refusals = Vec::new();
    let mut applied = 0;
    for operation in &changes.operations {
        match run(kernel, operation).await {
            Ok(()) => {
                tracing::info!(%operation, "applied");
                applied += 1;
                if let Operation::Add(d) = operation {
                    added.insert(d.address);
                }
            }
            // Already gone: the goal of a delete.
            Err(Refusal::Refused(Errno::ENOENT))
                if matches!(operation, Operation::Delete { .. }) => {}
            Err(refusal) => refusals.push((operation, refusal)),
        }
    }
    let kernel_after = if changes.operations.is_empty() {
        kernel_before
    } else {
        kernel.endpoints().await?
    };
    let just_added: Vec<&DesiredEndpoint> = desired
        .iter()
        .filter(|d| added.contains(&d.address))
        .collect();
    // Only flags newer than the kernels that drop what they do not know can be dropped: a
    // flag missing for another reason (someone changed the endpoint meanwhile) is not learned.
    let kernel_drops =
        ledger.kernel_drops | (dropped_flags(&just_added, &kernel_after) & EndpointFlags::LAMINAR);
    if kernel_drops != ledger.kernel_drops {
        tracing::warn!(
            flags = %(kernel_drops - ledger.kernel_drops),
            "the kernel dropped endpoint flags it does not know; they are left out from now on"
        );
    }
    let desired = as_kept_by_kernel(desired, kernel_drops);

    let mut new_ledger = ledger.after_apply(&desired, &kernel_after, &added);
    new_ledger.kernel_drops = kernel_drops;
    let remaining = diff(&desired, &kernel_after, &new_ledger);
    refused.extend(
        refusals
            .into_iter()
            .filter(|(op, _)| remaining.contains(op))
            .map(|(op, refusal)| refused_change(op.to_string(), &refusal)),
    );
    set_limits(kernel, &mut limits_now, changes.limits, &mut refused).await;
    new_ledger.limits = ledger.limits_after(changes.limits_before, limits_now);
    new_ledger.rp_filter_relaxed = apply_rp_filter(kernel, changes, ledger, &mut refused);
    Ok(Executed {
        ledger: new_ledger,
        applied,
        refused,
    })
}

/// Set the limits to `to` unless the kernel already holds them (`now`).
async fn set_limits(
    kernel: &mut impl Kernel,
    now: &mut Limits,
    to: Limits,
    refused: &mut Vec<Refused>,
) {
    if *now == to {
        return;
    }
    match kernel.set_limits(to).await {
        Ok(()) => {
            tracing::info!(limits = %to, "limits set");
            *now = to;
        }
        Err(refusal) => refused.push(refused_change(format!("limits set {to}"), &refusal)),
    }
}

/// Write the rp_filter changes; returns the interfaces nm-mptcp has relaxed afterwards
/// (forgetting interfaces that are gone).
fn apply_rp_filter(
    kernel: &mut impl Kernel,
    changes: &Changes,
    ledger: &Ledger,
    refused: &mut Vec<Refused>,
) -> Vec<String> {
    let mut relaxed: Vec<String> = ledger.rp_filter_relaxed.clone();
    for change in &changes.rp_filter {
        match kernel.set_rp_filter(&change.interface, change.to) {
            Ok(()) => {
                tracing::info!(%change, "rp_filter set");
                relaxed.retain(|i| *i != change.interface);
                if change.to == LOOSE {
                    relaxed.push(change.interface.clone());
                }
            }
            Err(e) => refused.push(Refused {
                change: change.to_string(),
                error: e.to_string(),
                by: RefusedBy::Sysctl,
            }),
        }
    }
    relaxed.retain(|i| kernel.rp_filter(i).is_some());
    relaxed
}

fn refused_change(change: String, refusal: &Refusal) -> Refused {
    tracing::warn!(change = %change, error = %refusal, "kernel refused");
    Refused {
        change,
        error: refusal.to_string(),
        by: match refusal {
            Refusal::Refused(_) => RefusedBy::Kernel,
            Refusal::Transport(_) => RefusedBy::Transport,
        },
    }
}

async fn run(kernel: &mut impl Kernel, operation: &Operation) -> Result<(), Refusal> {
    match operation {
        Operation::Add(d) => kernel.add(d).await,
        Operation::Delete { id, address, .. } => kernel.delete(*id, *address).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::kernel::model::ModelKernel;
    use nm_mptcp_core::config::Config;
    use nm_mptcp_core::flags::EndpointFlags;
    use nm_mptcp_core::ownership::LedgerEntry;
    use nm_mptcp_core::rp_filter::STRICT;
    use nm_mptcp_core::testing::{desired, plan_of};

    const DEFAULT_LIMITS: Limits = Limits {
        subflows: 2,
        add_addr_accepted: 0,
    };

    /// Plan the changes against the model kernel as `apply` does, then execute them.
    fn reconcile(kernel: &mut ModelKernel, plan: &Plan, ledger: &Ledger) -> (Changes, Executed) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let state = kernel.state().await.unwrap();
            let survey = Survey {
                plan: plan.clone(),
                kernel: state.endpoints,
                limits: state.limits,
                addresses: state.addresses,
                nm_starting: false,
                nm_pid: None,
            };
            let changes = changes_for(&survey, ledger, &Config::default(), kernel, Backing::Event);
            let executed = execute(
                kernel,
                &plan.endpoints,
                &changes,
                survey.kernel.clone(),
                ledger,
            )
            .await
            .unwrap();
            (changes, executed)
        })
    }

    #[test]
    fn limits_go_up_before_endpoints_are_added_and_down_only_after_deletions() {
        let mut kernel = ModelKernel {
            limits: DEFAULT_LIMITS,
            ..ModelKernel::default()
        };
        let three = plan_of(
            ["192.0.2.2", "198.51.100.2", "203.0.113.2"]
                .iter()
                .map(|a| desired(a, 2, "e0", EndpointFlags::SUBFLOW))
                .collect(),
        );
        let (_, done) = reconcile(&mut kernel, &three, &Ledger::default());
        assert_eq!(
            kernel.log,
            vec![
                "limits subflows 3 add_addr_accepted 2",
                "add 192.0.2.2 with limits subflows 3 add_addr_accepted 2",
                "add 198.51.100.2 with limits subflows 3 add_addr_accepted 2",
                "add 203.0.113.2 with limits subflows 3 add_addr_accepted 2",
            ]
        );
        assert_eq!((done.applied, done.refused.len()), (3, 0));
        assert!(done.ledger.entries.iter().all(|e| e.created));

        kernel.log.clear();
        let one = plan_of(vec![desired("192.0.2.2", 2, "e0", EndpointFlags::SUBFLOW)]);
        let (_, done) = reconcile(&mut kernel, &one, &done.ledger);
        assert_eq!(
            kernel.log,
            vec![
                "delete 198.51.100.2",
                "delete 203.0.113.2",
                "limits subflows 2 add_addr_accepted 0",
            ]
        );
        assert_eq!(done.ledger.entries.len(), 1);
        // Idempotent: the same event again changes nothing.
        kernel.log.clear();
        let (changes, again) = reconcile(&mut kernel, &one, &done.ledger);
        assert!(changes.is_empty() && kernel.log.is_empty());
        assert_eq!(again.ledger, done.ledger);
    }

    #[test]
    fn only_a_failed_socket_asks_for_fresh_ones() {
        let outcome = |by| Outcome {
            plan: plan_of(Vec::new()),
            changes: Changes::default(),
            applied: 0,
            refused: vec![Refused {
                change: "add 192.0.2.2 dev e0 subflow".into(),
                error: "ERANGE".into(),
                by,
            }],
            usage: None,
        };
        assert!(!kernel_failed(&Ok(outcome(RefusedBy::Kernel))));
        assert!(!kernel_failed(&Ok(outcome(RefusedBy::Sysctl))));
        assert!(kernel_failed(&Ok(outcome(RefusedBy::Transport))));
        assert!(kernel_failed(&Err(Error::kernel("the socket closed"))));
        assert!(!kernel_failed(&Err(Error::nm("NetworkManager is away"))));
    }

    #[test]
    fn flags_the_kernel_drops_are_learned_once_and_never_re_added_for() {
        let mut kernel = ModelKernel {
            limits: DEFAULT_LIMITS,
            drops: EndpointFlags::LAMINAR,
            ..ModelKernel::default()
        };
        let laminar = plan_of(vec![desired(
            "192.0.2.2",
            2,
            "e0",
            EndpointFlags::SUBFLOW | EndpointFlags::LAMINAR,
        )]);
        let (_, first) = reconcile(&mut kernel, &laminar, &Ledger::default());
        assert!(first.refused.is_empty(), "{:?}", first.refused);
        assert_eq!(first.ledger.kernel_drops, EndpointFlags::LAMINAR);
        assert_eq!(
            first.ledger.entries.len(),
            1,
            "nm-mptcp's, as the kernel keeps it"
        );
        // Every later event (and the drift check's dry run) finds it as wanted.
        kernel.log.clear();
        let (changes, again) = reconcile(&mut kernel, &laminar, &first.ledger);
        assert!(changes.is_empty(), "{changes:?}");
        assert!(kernel.log.is_empty(), "{:?}", kernel.log);
        assert_eq!(again.ledger, first.ledger);
        // A flag the kernel keeps still counts: subflow -> signal replaces the endpoint.
        let signal = plan_of(vec![desired(
            "192.0.2.2",
            2,
            "e0",
            EndpointFlags::SIGNAL | EndpointFlags::LAMINAR,
        )]);
        let (changes, _) = reconcile(&mut kernel, &signal, &again.ledger);
        assert_eq!(changes.operations.len(), 2, "{changes:?}");
    }

    #[test]
    fn an_eexist_from_a_racing_identical_add_is_convergence_and_the_endpoint_is_adopted() {
        let want = desired("192.0.2.2", 2, "e0", EndpointFlags::SUBFLOW);
        let mut kernel = ModelKernel {
            limits: DEFAULT_LIMITS,
            racing_add: Some(KernelEndpoint {
                id: 7,
                address: want.address,
                ifindex: Some(2),
                port: 0,
                flags: EndpointFlags::SUBFLOW,
            }),
            ..ModelKernel::default()
        };
        let (_, done) = reconcile(&mut kernel, &plan_of(vec![want]), &Ledger::default());
        assert!(done.refused.is_empty(), "{:?}", done.refused);
        assert_eq!(done.applied, 0);
        let entry = &done.ledger.entries[0];
        assert_eq!(
            (entry.id, entry.created),
            (7, false),
            "adopted, not created"
        );
    }

    #[test]
    fn an_eexist_from_someone_elses_other_endpoint_leaves_it_alone_and_unowned() {
        let want = desired("192.0.2.2", 2, "e0", EndpointFlags::SIGNAL);
        let theirs = KernelEndpoint {
            id: 7,
            address: want.address,
            ifindex: Some(2),
            port: 0,
            flags: EndpointFlags::BACKUP,
        };
        let mut kernel = ModelKernel {
            limits: DEFAULT_LIMITS,
            racing_add: Some(theirs.clone()),
            ..ModelKernel::default()
        };
        let (_, done) = reconcile(&mut kernel, &plan_of(vec![want]), &Ledger::default());
        // The address is now another manager's: the next plan skips it (foreign-endpoint),
        // so the kernel is as the plan will have it and the run does not fail.
        assert!(done.refused.is_empty(), "{:?}", done.refused);
        assert!(done.ledger.entries.is_empty(), "someone else's endpoint");
        assert_eq!(kernel.endpoints, vec![theirs]);
    }

    #[test]
    fn erange_at_the_cap_is_reported_and_the_rest_still_happens() {
        let foreign: Vec<KernelEndpoint> = (1..=8)
            .map(|i| KernelEndpoint::on_device(i, &format!("10.0.0.{i}"), 9, EndpointFlags::SIGNAL))
            .collect();
        let mut kernel = ModelKernel {
            endpoints: foreign,
            limits: DEFAULT_LIMITS,
            ..ModelKernel::default()
        };
        // A plan made without counting the kernel's slots (which the planner does count).
        let plan = plan_of(vec![desired("192.0.2.2", 2, "e0", EndpointFlags::SUBFLOW)]);
        let (_, done) = reconcile(&mut kernel, &plan, &Ledger::default());
        assert_eq!(done.refused.len(), 1);
        assert!(done.refused[0].error.contains("ERANGE"));
        assert_eq!(kernel.endpoints.len(), 8);
        assert_eq!(kernel.limits.subflows, 2, "limits for one endpoint");
    }

    #[test]
    fn rp_filter_is_relaxed_recorded_and_put_back() {
        let mut kernel = ModelKernel {
            limits: DEFAULT_LIMITS,
            rp_filter: [("e0".to_owned(), STRICT)].into(),
            ..ModelKernel::default()
        };
        let plan = plan_of(vec![desired("192.0.2.2", 2, "e0", EndpointFlags::SUBFLOW)]);
        let (_, done) = reconcile(&mut kernel, &plan, &Ledger::default());
        assert_eq!(done.ledger.rp_filter_relaxed, vec!["e0"]);
        assert_eq!(kernel.rp_filter["e0"], LOOSE);
        let (_, done) = reconcile(&mut kernel, &plan_of(vec![]), &done.ledger);
        assert!(done.ledger.rp_filter_relaxed.is_empty());
        assert_eq!(kernel.rp_filter["e0"], STRICT);
    }

    #[test]
    fn a_delete_of_an_endpoint_already_gone_is_no_refusal() {
        let gone = KernelEndpoint::on_device(3, "192.0.2.9", 2, EndpointFlags::SUBFLOW);
        let ledger = Ledger {
            entries: vec![LedgerEntry::from_kernel(&gone, "e0", None, true)],
            ..Ledger::default()
        };
        let mut kernel = ModelKernel {
            limits: DEFAULT_LIMITS,
            ..ModelKernel::default()
        };
        let changes = Changes {
            operations: vec![Operation::Delete {
                id: 3,
                address: gone.address,
                why: nm_mptcp_core::diff::DeleteReason::NoLongerWanted,
            }],
            limits_before: DEFAULT_LIMITS,
            limits_during: DEFAULT_LIMITS,
            limits: DEFAULT_LIMITS,
            rp_filter: Vec::new(),
            held_back: 0,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let done = runtime
            .block_on(execute(&mut kernel, &[], &changes, vec![gone], &ledger))
            .unwrap();
        assert!(done.refused.is_empty());
        assert!(done.ledger.entries.is_empty());
    }
}
