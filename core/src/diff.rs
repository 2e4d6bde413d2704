//! The pure diff: desired endpoints vs what the kernel holds vs what nm-mptcp owns ->
//! the operations that make the kernel match, never touching an endpoint it does not own.

use std::collections::HashSet;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::flags::EndpointFlags;
use crate::model::{code, DesiredEndpoint, KernelEndpoint, MPTCP_PM_ADDR_MAX};
use crate::ownership::Ledger;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Operation {
    /// Delete an endpoint by its kernel id.
    Delete {
        id: u8,
        address: IpAddr,
        why: DeleteReason,
    },
    /// Add an endpoint; the kernel picks the id.
    Add(DesiredEndpoint),
}

/// In `ip mptcp endpoint` words: `add 192.0.2.2 dev e0 signal subflow`, `delete id 3
/// 192.0.2.2 (replaced)`.
impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Operation::Add(d) => {
                let line = format!(
                    "add {} dev {} {}",
                    d.address,
                    crate::escape::escaped(&d.interface),
                    d.flags
                );
                f.write_str(line.trim_end())
            }
            Operation::Delete { id, address, why } => {
                write!(f, "delete id {id} {address} ({})", code(why))
            }
        }
    }
}

/// Why nm-mptcp deletes an endpoint; the codes are stable (kebab-case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeleteReason {
    /// nm-mptcp manages it (created or adopted) and the plan no longer wants it.
    NoLongerWanted,
    /// nm-mptcp manages it, but the device or flags changed: deleted, then added anew
    /// (as NetworkManager does; the id changes).
    Replaced,
    /// The kernel made an implicit endpoint for an address the plan wants.
    ImplicitReplaced,
    /// `nm-mptcp release`: everything nm-mptcp manages goes.
    Released,
}

impl DeleteReason {
    pub const ALL: [DeleteReason; 4] = [
        DeleteReason::NoLongerWanted,
        DeleteReason::Replaced,
        DeleteReason::ImplicitReplaced,
        DeleteReason::Released,
    ];

    /// For people (the man page).
    pub fn meaning(self) -> &'static str {
        match self {
            DeleteReason::NoLongerWanted => "nm-mptcp's endpoint, no longer wanted by the plan",
            DeleteReason::Replaced => {
                "nm-mptcp's endpoint whose device or flags changed: deleted and added anew"
            }
            DeleteReason::ImplicitReplaced => {
                "an implicit endpoint the kernel made for an address the plan wants"
            }
            DeleteReason::Released => "nm-mptcp release gives back everything nm-mptcp manages",
        }
    }
}

/// The endpoints as a kernel that drops `drops` holds them once added: what the kernel is
/// compared with.
pub fn as_kept_by_kernel(
    desired: &[DesiredEndpoint],
    drops: EndpointFlags,
) -> Vec<DesiredEndpoint> {
    desired
        .iter()
        .map(|d| DesiredEndpoint {
            flags: d.flags - drops,
            ..d.clone()
        })
        .collect()
}

/// Flags the kernel dropped from endpoints just added (`added`, as asked; `kernel`, as it
/// holds them now).
pub fn dropped_flags(added: &[&DesiredEndpoint], kernel: &[KernelEndpoint]) -> EndpointFlags {
    added
        .iter()
        .filter_map(|d| {
            kernel
                .iter()
                .find(|k| {
                    k.address == d.address
                        && k.ifindex == Some(d.ifindex)
                        && k.port == 0
                        && d.flags.contains(k.flags)
                })
                .map(|k| d.flags - k.flags)
        })
        .fold(EndpointFlags::empty(), |all, dropped| all | dropped)
}

/// Deletions first (they free slots), then additions in plan order.
pub fn diff(
    desired: &[DesiredEndpoint],
    kernel: &[KernelEndpoint],
    ledger: &Ledger,
) -> Vec<Operation> {
    let mut deletes = Vec::new();
    let mut adds = Vec::new();
    for k in kernel {
        let wanted = desired.iter().find(|d| d.address == k.address);
        let why = match wanted {
            Some(d) if d.is_held_by(k) => None,
            Some(_) if ledger.owns(k) => Some(DeleteReason::Replaced),
            Some(_) if k.flags.contains(EndpointFlags::IMPLICIT) => {
                Some(DeleteReason::ImplicitReplaced)
            }
            // Created or adopted: nm-mptcp manages it either way (see `ownership`).
            None if ledger.owns(k) => Some(DeleteReason::NoLongerWanted),
            // Foreign: not ours to delete.
            _ => None,
        };
        if let Some(why) = why {
            deletes.push(Operation::Delete {
                id: k.id,
                address: k.address,
                why,
            });
        }
    }
    for d in desired {
        let present = kernel.iter().find(|k| k.address == d.address);
        let replaced = deletes
            .iter()
            .any(|op| matches!(op, Operation::Delete { address, .. } if *address == d.address));
        if present.is_none() || replaced {
            adds.push(Operation::Add(d.clone()));
        }
    }
    deletes.extend(adds);
    deletes
}

/// For a plan that only NetworkManager's signals back (no dispatcher event): endpoints no
/// longer wanted whose addresses are still configured are kept. NetworkManager drops its
/// devices from D-Bus when it quits (or unmanages one) but leaves them configured, and that
/// must not cost the host its endpoints; the next dispatcher event decides. Replacements
/// (the address is still wanted) go ahead. Additions are cut to the room the kept endpoints
/// leave among the kernel's `MPTCP_PM_ADDR_MAX` (they come in rank order). Returns the
/// operations to run and how many were held back.
pub fn hold_back_doubtful(
    operations: Vec<Operation>,
    configured: &HashSet<IpAddr>,
    kernel_endpoints: usize,
) -> (Vec<Operation>, usize) {
    let doubtful = |op: &Operation| {
        matches!(op, Operation::Delete { address, why: DeleteReason::NoLongerWanted, .. }
            if configured.contains(address))
    };
    let kept = operations.iter().filter(|op| doubtful(op)).count();
    if kept == 0 {
        return (operations, 0);
    }
    let deletions = operations
        .iter()
        .filter(|op| matches!(op, Operation::Delete { .. }) && !doubtful(op))
        .count();
    let mut room = MPTCP_PM_ADDR_MAX.saturating_sub(kernel_endpoints - deletions);
    let total = operations.len();
    let run: Vec<Operation> = operations
        .into_iter()
        .filter(|op| match op {
            Operation::Delete { .. } => !doubtful(op),
            Operation::Add(_) if room > 0 => {
                room -= 1;
                true
            }
            Operation::Add(_) => false,
        })
        .collect();
    let held = total - run.len();
    (run, held)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ownership::LedgerEntry;
    use crate::testing::desired;
    use proptest::prelude::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn want(address: &str, ifindex: u32, flags: EndpointFlags) -> DesiredEndpoint {
        desired(address, ifindex, &format!("e{ifindex}"), flags)
    }

    fn held(id: u8, address: &str, ifindex: u32, flags: EndpointFlags) -> KernelEndpoint {
        KernelEndpoint::on_device(id, address, ifindex, flags)
    }

    fn ledger_of(entries: &[(&KernelEndpoint, bool)]) -> Ledger {
        Ledger {
            entries: entries
                .iter()
                .map(|(k, created)| LedgerEntry::from_kernel(k, "e", None, *created))
                .collect(),
            ..Ledger::default()
        }
    }

    const SUB: EndpointFlags = EndpointFlags::SUBFLOW;
    const SIG: EndpointFlags = EndpointFlags::SIGNAL;

    #[test]
    fn empty_kernel_gets_every_desired_endpoint() {
        let desired = [want("192.0.2.2", 2, SUB), want("192.0.2.3", 3, SUB)];
        let ops = diff(&desired, &[], &Ledger::default());
        assert_eq!(
            ops,
            vec![
                Operation::Add(desired[0].clone()),
                Operation::Add(desired[1].clone())
            ]
        );
    }

    #[test]
    fn matching_kernel_needs_nothing() {
        let desired = [want("192.0.2.2", 2, SUB)];
        let kernel = [held(1, "192.0.2.2", 2, SUB)];
        assert!(diff(&desired, &kernel, &ledger_of(&[(&kernel[0], true)])).is_empty());
        // Identical but not ours (NetworkManager made it): adopted, nothing to do.
        assert!(diff(&desired, &kernel, &Ledger::default()).is_empty());
    }

    #[test]
    fn owned_endpoint_with_new_flags_is_deleted_then_readded() {
        let desired = [want("192.0.2.2", 2, SIG)];
        let kernel = [held(1, "192.0.2.2", 2, SUB)];
        let ops = diff(&desired, &kernel, &ledger_of(&[(&kernel[0], true)]));
        assert_eq!(
            ops,
            vec![
                Operation::Delete {
                    id: 1,
                    address: ip("192.0.2.2"),
                    why: DeleteReason::Replaced
                },
                Operation::Add(desired[0].clone())
            ]
        );
    }

    #[test]
    fn foreign_endpoints_are_never_touched() {
        let kernel = [held(7, "203.0.113.9", 9, SIG), held(8, "192.0.2.2", 2, SUB)];
        assert!(diff(&[], &kernel, &Ledger::default()).is_empty());
        // Same address wanted with other flags: still not ours to change.
        let desired = [want("192.0.2.2", 2, SIG)];
        assert!(diff(&desired, &kernel, &Ledger::default()).is_empty());
    }

    #[test]
    fn managed_endpoints_no_longer_wanted_are_deleted_created_or_adopted() {
        // An adopted endpoint is exactly what nm-mptcp wanted (NetworkManager's own support
        // made it first, or a lost ledger was rebuilt): managed like one nm-mptcp added, so
        // it leaves with its profile and never blocks a better address at the cap.
        let kernel = [
            held(1, "192.0.2.2", 2, SUB),
            held(2, "192.0.2.3", 2, SUB),
            held(3, "203.0.113.9", 9, SIG),
        ];
        let ledger = ledger_of(&[(&kernel[0], true), (&kernel[1], false)]);
        let deleted: Vec<u8> = diff(&[], &kernel, &ledger)
            .iter()
            .map(|op| match op {
                Operation::Delete { id, why, .. } => {
                    assert_eq!(*why, DeleteReason::NoLongerWanted);
                    *id
                }
                Operation::Add(_) => panic!("nothing to add"),
            })
            .collect();
        assert_eq!(deleted, vec![1, 2], "the foreign one stays");
    }

    #[test]
    fn id_reused_by_someone_else_is_not_ours() {
        let ours = held(1, "192.0.2.2", 2, SUB);
        let theirs = held(1, "203.0.113.1", 2, SUB);
        assert!(diff(&[], &[theirs], &ledger_of(&[(&ours, true)])).is_empty());
    }

    #[test]
    fn implicit_endpoint_for_a_wanted_address_is_replaced() {
        let desired = [want("192.0.2.2", 2, SUB)];
        let mut implicit = held(4, "192.0.2.2", 0, EndpointFlags::IMPLICIT);
        implicit.ifindex = None;
        let ops = diff(&desired, &[implicit], &Ledger::default());
        assert_eq!(ops.len(), 2);
        assert!(matches!(
            ops[0],
            Operation::Delete {
                why: DeleteReason::ImplicitReplaced,
                ..
            }
        ));
    }

    fn arb_flags() -> impl Strategy<Value = EndpointFlags> {
        (0u32..16).prop_map(EndpointFlags::from_bits_retain)
    }

    proptest! {
        /// Applying the operations to a model kernel converges to the plan for every address
        /// the plan may take, and leaves everything else that is not ours exactly as it was.
        #[test]
        fn applying_the_diff_converges_and_spares_foreign(
            kernel in prop::collection::vec((1u8..6, 1u32..4, arb_flags(), any::<bool>(), any::<bool>()), 0..6),
            desired in prop::collection::vec((1u8..6, 1u32..4, arb_flags()), 0..6),
        ) {
            let mut seen = std::collections::HashSet::new();
            let kernel: Vec<(KernelEndpoint, bool, bool)> = kernel.into_iter().enumerate()
                .filter(|(_, (host, ..))| seen.insert(*host))
                .map(|(i, (host, ifx, flags, owned, created))| {
                    (held(i as u8 + 1, &format!("192.0.2.{host}"), ifx, flags - EndpointFlags::IMPLICIT), owned, created)
                })
                .collect();
            let mut seen = std::collections::HashSet::new();
            let desired: Vec<DesiredEndpoint> = desired.into_iter()
                .filter(|(host, ..)| seen.insert(*host))
                .map(|(host, ifx, flags)| want(&format!("192.0.2.{host}"), ifx, flags))
                .collect();
            let ledger = ledger_of(&kernel.iter().filter(|(_, owned, _)| *owned).map(|(k, _, c)| (k, *c)).collect::<Vec<_>>());
            let current: Vec<KernelEndpoint> = kernel.iter().map(|(k, ..)| k.clone()).collect();
            let ops = diff(&desired, &current, &ledger);

            let mut after = current.clone();
            let mut next_id = 100u8;
            for op in &ops {
                match op {
                    Operation::Delete { id, .. } => after.retain(|k| k.id != *id),
                    Operation::Add(d) => {
                        prop_assert!(after.iter().all(|k| k.address != d.address), "add would hit EEXIST");
                        next_id += 1;
                        after.push(KernelEndpoint { id: next_id, address: d.address, ifindex: Some(d.ifindex), port: 0, flags: d.flags });
                    }
                }
            }
            for k in &current {
                if !ledger.owns(k) {
                    prop_assert!(after.contains(k), "foreign endpoint {:?} was touched", k);
                }
            }
            for d in &desired {
                let blocked = current.iter().any(|k| k.address == d.address && !ledger.owns(k) && !d.is_held_by(k));
                if !blocked {
                    prop_assert!(after.iter().any(|k| d.is_held_by(k)), "{:?} missing", d);
                }
            }
            // Idempotent: a second diff against the result (with the adds now owned) is empty.
            let ledger2 = Ledger { entries: after.iter()
                .filter(|k| k.id > 100 || ledger.owns(k))
                .map(|k| LedgerEntry::from_kernel(k, "e", None, k.id > 100 || ledger.created(k)))
                .collect(), ..Ledger::default() };
            let again = diff(&desired, &after, &ledger2);
            prop_assert!(again.is_empty(), "second pass not idempotent: {:?}", again);
        }
    }

    #[test]
    fn signals_alone_never_take_away_an_endpoint_whose_address_is_configured() {
        let delete = |id: u8, address: &str, why| Operation::Delete {
            id,
            address: ip(address),
            why,
        };
        let gone = delete(1, "192.0.2.2", DeleteReason::NoLongerWanted);
        let still_configured = delete(2, "198.51.100.2", DeleteReason::NoLongerWanted);
        let replace = delete(3, "203.0.113.2", DeleteReason::Replaced);
        let re_add = Operation::Add(want("203.0.113.2", 3, EndpointFlags::SIGNAL));
        let new = Operation::Add(want("10.0.0.2", 4, EndpointFlags::SUBFLOW));
        let configured: HashSet<IpAddr> =
            [ip("198.51.100.2"), ip("203.0.113.2"), ip("10.0.0.2")].into();

        // Only vanished addresses lose endpoints: trusted as it is.
        let ops = vec![gone.clone(), replace.clone(), re_add.clone(), new.clone()];
        assert_eq!(hold_back_doubtful(ops.clone(), &configured, 3), (ops, 0));
        // A configured address would lose its endpoint: that deletion alone waits.
        let ops = vec![
            gone.clone(),
            still_configured,
            replace.clone(),
            re_add.clone(),
            new.clone(),
        ];
        assert_eq!(
            hold_back_doubtful(ops, &configured, 3),
            (vec![gone, replace, re_add, new], 1)
        );
    }

    #[test]
    fn additions_fit_the_room_held_back_endpoints_leave() {
        let kept = Operation::Delete {
            id: 1,
            address: ip("198.51.100.2"),
            why: DeleteReason::NoLongerWanted,
        };
        let configured: HashSet<IpAddr> = [ip("198.51.100.2")].into();
        let adds: Vec<Operation> = (1..=3)
            .map(|i| Operation::Add(want(&format!("10.0.0.{i}"), 1, EndpointFlags::SUBFLOW)))
            .collect();
        let mut ops = vec![kept];
        ops.extend(adds.clone());
        // 6 endpoints in the kernel, one of them kept: room for the first 2 additions only.
        let (run, held) = hold_back_doubtful(ops, &configured, 6);
        assert_eq!(run, adds[..2].to_vec());
        assert_eq!(held, 2);
    }
}
