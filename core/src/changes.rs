//! The one pure step from a plan to everything a reconciliation will do: the endpoint
//! operations, the limits to hold while endpoints are added and after, and the rp_filter
//! changes. `plan` shows it, `reconcile` (and the hook and the daemon) carry it out.

use std::collections::HashSet;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::diff::{as_kept_by_kernel, diff, hold_back_doubtful, DeleteReason, Operation};
use crate::limits::{self, Limits};
use crate::model::{DesiredEndpoint, KernelEndpoint};
use crate::ownership::Ledger;
use crate::planner::Plan;
use crate::rp_filter::{self, RpFilterChange, LOOSE};

/// How far a reconciliation may trust its plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backing {
    /// A dispatcher event or a command: the plan is carried out.
    Event,
    /// Only NetworkManager's signals (the daemon between events, `watch`), or a
    /// NetworkManager still starting: see `diff::hold_back_doubtful`.
    Signals,
}

/// What the kernel and the ledger hold now, beside the plan.
pub struct Current<'a> {
    pub kernel: &'a [KernelEndpoint],
    pub limits: Limits,
    pub ledger: &'a Ledger,
    /// Every address the kernel holds (only `Backing::Signals` looks at them).
    pub addresses: &'a HashSet<IpAddr>,
    /// An interface's rp_filter, where it can be read.
    pub rp_filter: &'a dyn Fn(&str) -> Option<u8>,
}

/// Everything one reconciliation will do, in this order: raise the limits to
/// `limits_during`, run the operations (deletions, then additions in rank order), set the
/// limits to `limits`, write the rp_filter changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    pub operations: Vec<Operation>,
    /// The limits the kernel holds before.
    pub limits_before: Limits,
    /// Each limit at the higher of before and after: the kernel gives running connections a
    /// subflow for a new endpoint only within the limits of the moment it is added (raising
    /// them later starts nothing), so limits go up before additions and down only after.
    pub limits_during: Limits,
    /// The limits the kernel holds after.
    pub limits: Limits,
    pub rp_filter: Vec<RpFilterChange>,
    /// Operations left for a dispatcher event to decide (`Backing::Signals` only).
    pub held_back: usize,
}

impl Changes {
    /// Nothing to do: the kernel already matches.
    pub fn is_empty(&self) -> bool {
        self.operations.is_empty() && self.limits == self.limits_before && self.rp_filter.is_empty()
    }
}

pub fn changes(plan: &Plan, current: &Current, config: &Config, backing: Backing) -> Changes {
    let kept = as_kept_by_kernel(&plan.endpoints, current.ledger.kernel_drops);
    let mut operations = diff(&kept, current.kernel, current.ledger);
    let mut limits = limits::desired(config, plan.endpoints.len(), current.limits);
    let mut rp_filter = rp_filter::changes(
        &ipv4_interfaces(plan),
        current.rp_filter,
        &current.ledger.rp_filter_relaxed,
        config.relax_rp_filter,
    );
    let mut held_back = 0;
    if backing == Backing::Signals {
        (operations, held_back) =
            hold_back_doubtful(operations, current.addresses, current.kernel.len());
        if held_back > 0 {
            // Endpoints kept for the next dispatcher event keep their limits and rp_filter.
            limits = limits.at_least(current.limits);
            rp_filter.retain(|change| change.to == LOOSE);
        }
    }
    Changes {
        operations,
        limits_before: current.limits,
        limits_during: limits.at_least(current.limits),
        limits,
        rp_filter,
        held_back,
    }
}

/// Give back everything nm-mptcp changed (`nm-mptcp release`, a package's removal): delete
/// the endpoints it manages, put back the limits it set (if nobody has changed them since)
/// and the rp_filter it relaxed (if still 2). Nothing of anyone else's is touched, and an
/// endpoint NetworkManager's own support holds for an active profile (`kept_by_nm`: what it
/// would add now) stays: it is handed back to NetworkManager, not taken away.
pub fn release(current: &Current, kept_by_nm: &[DesiredEndpoint]) -> Changes {
    let kept_by_nm = as_kept_by_kernel(kept_by_nm, current.ledger.kernel_drops);
    let operations = current
        .kernel
        .iter()
        .filter(|k| current.ledger.owns(k) && !kept_by_nm.iter().any(|d| d.is_held_by(k)))
        .map(|k| Operation::Delete {
            id: k.id,
            address: k.address,
            why: DeleteReason::Released,
        })
        .collect();
    let limits = current
        .ledger
        .limits_to_restore(current.limits)
        .unwrap_or(current.limits);
    Changes {
        operations,
        limits_before: current.limits,
        // Endpoints go first, then the limits: never lower limits under live endpoints.
        limits_during: current.limits,
        limits,
        rp_filter: rp_filter::changes(
            &[],
            current.rp_filter,
            &current.ledger.rp_filter_relaxed,
            true,
        ),
        held_back: 0,
    }
}

/// nm-mptcp's endpoints that `release` leaves to NetworkManager's own support.
pub fn left_to_networkmanager<'a>(
    current: &Current<'a>,
    kept_by_nm: &[DesiredEndpoint],
) -> Vec<&'a KernelEndpoint> {
    let kept_by_nm = as_kept_by_kernel(kept_by_nm, current.ledger.kernel_drops);
    current
        .kernel
        .iter()
        .filter(|k| current.ledger.owns(k) && kept_by_nm.iter().any(|d| d.is_held_by(k)))
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::EndpointFlags;
    use crate::ownership::LedgerEntry;
    use crate::rp_filter::STRICT;
    use crate::testing::{desired, plan_of};

    const fn limits(subflows: u32, add_addr_accepted: u32) -> Limits {
        Limits {
            subflows,
            add_addr_accepted,
        }
    }

    fn strict(_: &str) -> Option<u8> {
        Some(STRICT)
    }

    #[test]
    fn additions_raise_the_limits_first_and_relax_rp_filter_once_per_interface() {
        let plan = plan_of(vec![
            desired("192.0.2.2", 2, "e0", EndpointFlags::SUBFLOW),
            desired("192.0.2.3", 2, "e0", EndpointFlags::SUBFLOW),
            desired("2001:db8::2", 2, "e1", EndpointFlags::SUBFLOW),
        ]);
        let ledger = Ledger::default();
        let current = Current {
            kernel: &[],
            limits: limits(2, 0),
            ledger: &ledger,
            addresses: &HashSet::new(),
            rp_filter: &strict,
        };
        let c = changes(&plan, &current, &Config::default(), Backing::Event);
        assert_eq!(c.operations.len(), 3);
        assert_eq!(c.limits, limits(3, 2));
        assert_eq!(c.limits_during, limits(3, 2));
        assert_eq!(c.rp_filter.len(), 1, "IPv4 interfaces only, once: {c:?}");
        assert_eq!(c.rp_filter[0].interface, "e0");
        assert!(!c.is_empty());
    }

    #[test]
    fn limits_come_down_only_after_deletions() {
        let kernel = [
            KernelEndpoint::on_device(1, "192.0.2.2", 2, EndpointFlags::SUBFLOW),
            KernelEndpoint::on_device(2, "192.0.2.3", 2, EndpointFlags::SUBFLOW),
            KernelEndpoint::on_device(3, "192.0.2.4", 2, EndpointFlags::SUBFLOW),
        ];
        let ledger = Ledger {
            entries: kernel
                .iter()
                .map(|k| LedgerEntry::from_kernel(k, "e0", None, true))
                .collect(),
            ..Ledger::default()
        };
        let current = Current {
            kernel: &kernel,
            limits: limits(3, 2),
            ledger: &ledger,
            addresses: &HashSet::new(),
            rp_filter: &|_| None,
        };
        let c = changes(
            &plan_of(vec![desired("192.0.2.2", 2, "e0", EndpointFlags::SUBFLOW)]),
            &current,
            &Config::default(),
            Backing::Event,
        );
        assert_eq!(c.operations.len(), 2);
        assert_eq!(c.limits_during, limits(3, 2));
        assert_eq!(c.limits, limits(2, 0));
    }

    #[test]
    fn signals_alone_keep_what_a_configured_address_would_lose_with_its_limits() {
        let kernel = [
            KernelEndpoint::on_device(1, "192.0.2.2", 2, EndpointFlags::SUBFLOW),
            KernelEndpoint::on_device(2, "192.0.2.3", 2, EndpointFlags::SUBFLOW),
        ];
        let ledger = Ledger {
            entries: kernel
                .iter()
                .map(|k| LedgerEntry::from_kernel(k, "e0", None, true))
                .collect(),
            rp_filter_relaxed: vec!["e0".into()],
            ..Ledger::default()
        };
        let configured: HashSet<IpAddr> = [kernel[1].address].into();
        let current = Current {
            kernel: &kernel,
            limits: limits(2, 1),
            ledger: &ledger,
            addresses: &configured,
            rp_filter: &|_| Some(LOOSE),
        };
        let signals = changes(
            &plan_of(vec![]),
            &current,
            &Config::default(),
            Backing::Signals,
        );
        assert_eq!(
            signals.operations,
            vec![Operation::Delete {
                id: 1,
                address: kernel[0].address,
                why: DeleteReason::NoLongerWanted
            }]
        );
        assert_eq!(signals.held_back, 1);
        assert_eq!(
            signals.limits,
            limits(2, 1),
            "limits stay for the kept endpoint"
        );
        assert!(signals.rp_filter.is_empty(), "rp_filter stays relaxed");
        // A dispatcher event carries the whole plan out.
        let event = changes(
            &plan_of(vec![]),
            &current,
            &Config::default(),
            Backing::Event,
        );
        assert_eq!((event.operations.len(), event.held_back), (2, 0));
        assert_eq!(event.rp_filter.len(), 1);
    }

    #[test]
    fn a_kernel_that_matches_needs_nothing() {
        let kernel = [KernelEndpoint::on_device(
            1,
            "192.0.2.2",
            2,
            EndpointFlags::SUBFLOW,
        )];
        let ledger = Ledger::default();
        let current = Current {
            kernel: &kernel,
            limits: limits(2, 0),
            ledger: &ledger,
            addresses: &HashSet::new(),
            rp_filter: &|_| Some(LOOSE),
        };
        let c = changes(
            &plan_of(vec![desired("192.0.2.2", 2, "e0", EndpointFlags::SUBFLOW)]),
            &current,
            &Config::default(),
            Backing::Event,
        );
        assert!(c.is_empty(), "{c:?}");
    }

    #[test]
    fn release_gives_back_only_what_nm_mptcp_changed() {
        let ours = KernelEndpoint::on_device(1, "192.0.2.2", 2, EndpointFlags::SUBFLOW);
        let hand_made = KernelEndpoint::on_device(2, "192.0.2.3", 2, EndpointFlags::SIGNAL);
        // The kernel reused an id nm-mptcp once had for someone else's address.
        let reused = KernelEndpoint::on_device(3, "192.0.2.4", 2, EndpointFlags::SUBFLOW);
        let ledger = Ledger {
            entries: vec![
                LedgerEntry::from_kernel(&ours, "e0", None, true),
                LedgerEntry::from_kernel(
                    &KernelEndpoint::on_device(3, "192.0.2.9", 2, EndpointFlags::SUBFLOW),
                    "e0",
                    None,
                    true,
                ),
            ],
            rp_filter_relaxed: vec!["e0".into(), "e1".into(), "e2".into()],
            limits: Some(crate::ownership::LimitsRecord {
                original: limits(0, 0),
                set: limits(3, 2),
            }),
            ..Ledger::default()
        };
        let rp_filter = |interface: &str| match interface {
            "e0" => Some(LOOSE),
            "e1" => Some(STRICT), // someone put it back already
            _ => None,            // gone
        };
        let kernel = [ours.clone(), hand_made, reused];
        let current = Current {
            kernel: &kernel,
            limits: limits(3, 2),
            ledger: &ledger,
            addresses: &HashSet::new(),
            rp_filter: &rp_filter,
        };
        let c = release(&current, &[]);
        assert_eq!(
            c.operations,
            vec![Operation::Delete {
                id: 1,
                address: ours.address,
                why: DeleteReason::Released
            }]
        );
        assert_eq!(
            c.limits_during,
            limits(3, 2),
            "lowered only after deletions"
        );
        assert_eq!(c.limits, limits(0, 0), "put back");
        let restored: Vec<_> = c
            .rp_filter
            .iter()
            .map(|r| (r.interface.as_str(), r.to))
            .collect();
        assert_eq!(restored, vec![("e0", STRICT)]);

        // Limits an administrator changed since nm-mptcp set them stay as they are.
        let current = Current {
            limits: limits(8, 8),
            ..current
        };
        assert_eq!(release(&current, &[]).limits, limits(8, 8));
    }

    #[test]
    fn release_hands_networkmanagers_endpoints_back_instead_of_deleting_them() {
        let kept = KernelEndpoint::on_device(1, "192.0.2.2", 2, EndpointFlags::SUBFLOW);
        let not_kept = KernelEndpoint::on_device(2, "198.51.100.2", 3, EndpointFlags::SIGNAL);
        // NetworkManager would hold the first one's address with other flags: not the same.
        let other_flags = KernelEndpoint::on_device(3, "203.0.113.2", 4, EndpointFlags::BACKUP);
        let kernel = [kept.clone(), not_kept.clone(), other_flags.clone()];
        let ledger = Ledger {
            entries: kernel
                .iter()
                .map(|k| LedgerEntry::from_kernel(k, "e", None, false))
                .collect(),
            ..Ledger::default()
        };
        let rp_filter = |_: &str| None;
        let current = Current {
            kernel: &kernel,
            limits: limits(3, 2),
            ledger: &ledger,
            addresses: &HashSet::new(),
            rp_filter: &rp_filter,
        };
        let nm = [
            desired("192.0.2.2", 2, "e0", EndpointFlags::SUBFLOW),
            desired("203.0.113.2", 4, "e2", EndpointFlags::SIGNAL),
        ];
        let deleted: Vec<u8> = release(&current, &nm)
            .operations
            .iter()
            .map(|op| match op {
                Operation::Delete { id, .. } => *id,
                Operation::Add(_) => panic!("{op}"),
            })
            .collect();
        assert_eq!(deleted, [2, 3]);
        assert_eq!(left_to_networkmanager(&current, &nm), [&kept]);
    }
}
