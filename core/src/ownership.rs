//! Ownership: which kernel endpoints nm-mptcp created or adopted (its ledger), and which
//! interfaces' rp_filter it relaxed. Plain data and pure rules; the store in /run that keeps it
//! between events is an adapter (`ledger_store`).

use std::collections::HashSet;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::flags::EndpointFlags;
use crate::limits::Limits;
use crate::model::{DesiredEndpoint, KernelEndpoint, ProfileRef};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    pub entries: Vec<LedgerEntry>,
    /// Interfaces whose rp_filter nm-mptcp changed from 1 to 2 (to put back later).
    #[serde(default)]
    pub rp_filter_relaxed: Vec<String>,
    /// The limits nm-mptcp moved the kernel's from, and to (to put back later).
    #[serde(default)]
    pub limits: Option<LimitsRecord>,
    /// Endpoint flags the running kernel drops, learned from its answer to an add (kernels
    /// with "mptcp: pm: ignore unknown endpoint flags" read `laminar` back as absent where
    /// they lack it): endpoints are compared over the flags it keeps.
    #[serde(default, skip_serializing_if = "EndpointFlags::is_empty")]
    pub kernel_drops: EndpointFlags,
}

/// nm-mptcp changed the kernel's limits from `original` (what someone else set, or the
/// kernel's default) and last set them to `set`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitsRecord {
    pub original: Limits,
    pub set: Limits,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub id: u8,
    pub address: IpAddr,
    pub ifindex: Option<u32>,
    pub interface: String,
    /// Kernel flag bits, as added.
    pub flags: u32,
    pub profile: Option<ProfileRef>,
    /// nm-mptcp added it (true) or adopted it: found it already exactly as wanted, made by
    /// NetworkManager's own MPTCP support for the same profile, or by nm-mptcp before its
    /// ledger was lost (false). Both are managed alike: replaced when the plan changes,
    /// deleted when it no longer wants them; this only records where it came from.
    pub created: bool,
}

impl LedgerEntry {
    pub fn from_kernel(
        k: &KernelEndpoint,
        interface: &str,
        profile: Option<ProfileRef>,
        created: bool,
    ) -> LedgerEntry {
        LedgerEntry {
            id: k.id,
            address: k.address,
            ifindex: k.ifindex,
            interface: interface.to_owned(),
            flags: k.flags.bits(),
            profile,
            created,
        }
    }

    /// The very endpoint recorded: the kernel reuses a freed id, so a hand-made endpoint for
    /// the same address can get nm-mptcp's old id; its flags or device tell it apart.
    fn is(&self, k: &KernelEndpoint) -> bool {
        self.id == k.id
            && self.address == k.address
            && self.flags == k.flags.bits()
            && self.ifindex == k.ifindex
    }
}

impl Ledger {
    fn entry(&self, k: &KernelEndpoint) -> Option<&LedgerEntry> {
        self.entries.iter().find(|e| e.is(k))
    }

    /// nm-mptcp manages this kernel endpoint (created or adopted). Matched by id, address,
    /// flags and device, so an id the kernel hands to someone else later is not mistaken for
    /// ours.
    pub fn owns(&self, k: &KernelEndpoint) -> bool {
        self.entry(k).is_some()
    }

    /// The ledger with these others' endpoints adopted (`Plan::superseded`: NetworkManager's
    /// own, exactly as its rules make them, which a policy of nm-mptcp's changes), each for
    /// the wanted endpoint of its address.
    pub fn adopting(&self, endpoints: &[KernelEndpoint], wanted: &[DesiredEndpoint]) -> Ledger {
        let mut ledger = self.clone();
        for k in endpoints {
            if let Some(d) = wanted.iter().find(|d| d.address == k.address) {
                ledger.entries.push(LedgerEntry::from_kernel(
                    k,
                    &d.interface,
                    Some(d.profile.clone()),
                    false,
                ));
            }
        }
        ledger
    }

    /// The ledger without these endpoints: nm-mptcp no longer manages them (`release` handed
    /// them to NetworkManager).
    pub fn without(&self, given_away: &[KernelEndpoint]) -> Ledger {
        Ledger {
            entries: self
                .entries
                .iter()
                .filter(|e| !given_away.iter().any(|k| e.is(k)))
                .cloned()
                .collect(),
            ..self.clone()
        }
    }

    /// The profile nm-mptcp recorded for this kernel endpoint.
    pub fn profile_of(&self, k: &KernelEndpoint) -> Option<&ProfileRef> {
        self.entry(k).and_then(|e| e.profile.as_ref())
    }

    /// nm-mptcp itself added this kernel endpoint.
    pub fn created(&self, k: &KernelEndpoint) -> bool {
        self.entry(k).is_some_and(|e| e.created)
    }

    /// The ledger after an apply: every kernel endpoint that is now exactly as planned is ours
    /// (created if we added its address in this run or earlier, else adopted), and endpoints
    /// we managed that could not be deleted stay recorded so a later event retries (a
    /// refused run must not turn them into someone else's).
    pub fn after_apply(
        &self,
        desired: &[DesiredEndpoint],
        kernel: &[KernelEndpoint],
        added: &HashSet<IpAddr>,
    ) -> Ledger {
        let entries = kernel
            .iter()
            .filter_map(|k| match desired.iter().find(|d| d.is_held_by(k)) {
                Some(d) => Some(LedgerEntry::from_kernel(
                    k,
                    &d.interface,
                    Some(d.profile.clone()),
                    self.created(k) || added.contains(&k.address),
                )),
                None => self.entry(k).cloned(),
            })
            .collect();
        Ledger {
            entries,
            ..self.clone()
        }
    }

    /// The limits record once nm-mptcp has moved the kernel's limits from `before` to `now`.
    /// Limits someone else changed since nm-mptcp last set them are the new original; limits
    /// back at their original are nm-mptcp's no longer.
    pub fn limits_after(&self, before: Limits, now: Limits) -> Option<LimitsRecord> {
        if before == now {
            return self.limits;
        }
        let original = match self.limits {
            Some(record) if record.set == before => record.original,
            _ => before,
        };
        (original != now).then_some(LimitsRecord { original, set: now })
    }

    /// The limits to put back on release: the original, if the kernel still holds what
    /// nm-mptcp set (otherwise someone else has changed them since, and they stay).
    pub fn limits_to_restore(&self, now: Limits) -> Option<Limits> {
        self.limits
            .filter(|record| record.set == now)
            .map(|record| record.original)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::desired;

    #[test]
    fn after_apply_records_created_adopted_and_undeleted() {
        let undeleted_created =
            KernelEndpoint::on_device(3, "192.0.2.9", 2, EndpointFlags::SUBFLOW);
        let undeleted_adopted =
            KernelEndpoint::on_device(5, "192.0.2.8", 2, EndpointFlags::SUBFLOW);
        let old = Ledger {
            entries: vec![
                LedgerEntry::from_kernel(&undeleted_created, "e0", None, true),
                LedgerEntry::from_kernel(&undeleted_adopted, "e0", None, false),
            ],
            ..Ledger::default()
        };
        let kernel = [
            KernelEndpoint::on_device(1, "192.0.2.1", 2, EndpointFlags::SUBFLOW),
            KernelEndpoint::on_device(2, "192.0.2.2", 2, EndpointFlags::SUBFLOW),
            undeleted_created,
            KernelEndpoint::on_device(4, "203.0.113.1", 2, EndpointFlags::SUBFLOW),
            undeleted_adopted,
        ];
        let added: HashSet<IpAddr> = ["192.0.2.1".parse().unwrap()].into();
        let new = old.after_apply(
            &[
                desired("192.0.2.1", 2, "e0", EndpointFlags::SUBFLOW),
                desired("192.0.2.2", 2, "e0", EndpointFlags::SUBFLOW),
            ],
            &kernel,
            &added,
        );
        let summary: Vec<_> = new.entries.iter().map(|e| (e.id, e.created)).collect();
        assert_eq!(summary, vec![(1, true), (2, false), (3, true), (5, false)]);
    }

    #[test]
    fn a_hand_made_endpoint_that_got_an_old_id_of_ours_is_not_ours() {
        let ours = KernelEndpoint::on_device(3, "192.0.2.2", 2, EndpointFlags::SUBFLOW);
        let ledger = Ledger {
            entries: vec![LedgerEntry::from_kernel(&ours, "e0", None, true)],
            ..Ledger::default()
        };
        assert!(ledger.owns(&ours));
        // Deleted, then added by hand with other flags, or on another device: id 3 again.
        let other_flags = KernelEndpoint::on_device(3, "192.0.2.2", 2, EndpointFlags::SIGNAL);
        let other_device = KernelEndpoint::on_device(3, "192.0.2.2", 7, EndpointFlags::SUBFLOW);
        assert!(!ledger.owns(&other_flags));
        assert!(!ledger.owns(&other_device));
    }

    const fn limits(subflows: u32, add_addr_accepted: u32) -> Limits {
        Limits {
            subflows,
            add_addr_accepted,
        }
    }

    #[test]
    fn limits_record_keeps_the_first_original_and_the_last_value_set() {
        let kernel_default = limits(2, 0);
        let mut ledger = Ledger::default();
        assert_eq!(ledger.limits_after(kernel_default, kernel_default), None);
        ledger.limits = ledger.limits_after(kernel_default, limits(3, 2));
        ledger.limits = ledger.limits_after(limits(3, 2), limits(4, 3));
        assert_eq!(
            ledger.limits,
            Some(LimitsRecord {
                original: kernel_default,
                set: limits(4, 3)
            })
        );
        assert_eq!(ledger.limits_to_restore(limits(4, 3)), Some(kernel_default));
        // Back where they started: nothing left to put back.
        assert_eq!(ledger.limits_after(limits(4, 3), kernel_default), None);
    }

    #[test]
    fn limits_someone_else_set_become_the_original_and_are_not_overwritten_on_release() {
        let ledger = Ledger {
            limits: Some(LimitsRecord {
                original: limits(2, 0),
                set: limits(3, 2),
            }),
            ..Ledger::default()
        };
        // An administrator set 8 8; nm-mptcp then set 4 3: 8 8 is what goes back.
        assert_eq!(
            ledger.limits_after(limits(8, 8), limits(4, 3)),
            Some(LimitsRecord {
                original: limits(8, 8),
                set: limits(4, 3)
            })
        );
        // An administrator set 8 8 and nm-mptcp has not touched them since: they stay.
        assert_eq!(ledger.limits_to_restore(limits(8, 8)), None);
    }
}
