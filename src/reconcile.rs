//! The imperative shell: gather NetworkManager's and the kernel's state, plan, diff, apply,
//! record ownership. Everything that decides lives in `planner` and `diff`.

use std::collections::HashSet;
use std::net::IpAddr;
use std::time::Duration;

use nix::errno::Errno;
use serde::Serialize;

use crate::diff::{diff, Operation};
use crate::error::Error;
use crate::kernel::mptcp::{MptcpHandle, Refusal};
use crate::kernel::{addresses, sysctl};
use crate::ledger::{read_ledger, run_dir, Ledger, LedgerStore};
use crate::model::KernelEndpoint;
use crate::nm;
use crate::nm_conf::{self, ConfPaths};
use crate::planner::{plan, Plan};
use crate::snapshot::{assemble, HostFacts};

/// How long NetworkManager may take to answer before the hook gives up.
const NM_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a racing event may hold the lock.
const LOCK_WAIT: Duration = Duration::from_secs(5);

/// What one reconciliation decided and did.
#[derive(Debug, Serialize)]
pub struct Outcome {
    pub plan: Plan,
    pub operations: Vec<Operation>,
    /// Operations the kernel refused, with its reason.
    pub refused: Vec<RefusedOperation>,
}

#[derive(Debug, Serialize)]
pub struct RefusedOperation {
    pub operation: Operation,
    pub error: String,
}

/// The state an event starts from.
struct Gathered {
    plan: Plan,
    kernel: Vec<KernelEndpoint>,
}

async fn gather(
    mptcp: &mut MptcpHandle,
    ledger: &Ledger,
    going_down: Option<&str>,
) -> Result<Gathered, Error> {
    let (view, kernel_addresses, kernel) =
        futures_util::try_join!(nm::read(NM_TIMEOUT), addresses::dump(), mptcp.endpoints())?;
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
    Ok(Gathered {
        plan: plan(&host, &foreign),
        kernel,
    })
}

/// Plan and diff without changing anything (and without waiting for the lock).
pub async fn dry_run(going_down: Option<&str>) -> Result<Outcome, Error> {
    let ledger = read_ledger(&run_dir());
    let mut mptcp = MptcpHandle::connect()?;
    let Gathered { plan, kernel } = gather(&mut mptcp, &ledger, going_down).await?;
    let operations = diff(&plan.endpoints, &kernel, &ledger);
    Ok(Outcome {
        plan,
        operations,
        refused: Vec::new(),
    })
}

/// Make the kernel hold what the plan asks for, under the lock.
pub async fn apply(going_down: Option<&str>) -> Result<Outcome, Error> {
    let store = LedgerStore::lock(&run_dir(), LOCK_WAIT)?;
    let ledger = store.load();
    let mut mptcp = MptcpHandle::connect()?;
    let Gathered { plan, kernel } = gather(&mut mptcp, &ledger, going_down).await?;
    let operations = diff(&plan.endpoints, &kernel, &ledger);

    let mut added: HashSet<IpAddr> = HashSet::new();
    let mut refused = Vec::new();
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
            Err(refusal) => refused.push((operation, refusal)),
        }
    }

    let kernel_after = if operations.is_empty() {
        kernel
    } else {
        mptcp.endpoints().await?
    };
    let new_ledger = ledger.after_apply(&plan.endpoints, &kernel_after, &added);
    if new_ledger != ledger {
        store.save(&new_ledger)?;
    }

    // A refusal matters only if the kernel still differs from the plan: an EEXIST because
    // NetworkManager added the same endpoint a moment earlier is convergence, not failure.
    let remaining = diff(&plan.endpoints, &kernel_after, &new_ledger);
    let refused: Vec<RefusedOperation> = refused
        .into_iter()
        .filter(|(op, _)| remaining.contains(op))
        .map(|(op, refusal)| {
            tracing::warn!(operation = %describe(op), error = %refusal, "kernel refused");
            RefusedOperation {
                operation: op.clone(),
                error: refusal.to_string(),
            }
        })
        .collect();
    Ok(Outcome {
        plan,
        operations,
        refused,
    })
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
