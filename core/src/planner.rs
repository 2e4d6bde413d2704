//! The pure planner: NetworkManager's view of the host -> the endpoints it wants, each address
//! with a decision and a reason. It follows NetworkManager's own rules (`_l3_commit_mptcp_af`
//! and `nmp_global_tracker_sync_mptcp_addrs`), except that it reaches the best 8 even where
//! endpoints others own take some of the kernel's slots.

use std::collections::HashSet;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::flags::{EndpointFlags, FlagsSource, MptcpFlags};
use crate::model::{
    is_ipv6_link_local, AddressSource, CandidateAddress, DesiredEndpoint, DeviceState, FamilyState,
    HostSnapshot, Ineligible, KernelEndpoint, ProfileRef, MPTCP_PM_ADDR_MAX,
};
use crate::nm_version::NmVersion;

/// What the planner decided for the whole host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub nm_version: NmVersion,
    pub sysctl_enabled: Option<bool>,
    pub devices: Vec<DevicePlan>,
    /// The endpoints wanted in the kernel, best first.
    pub endpoints: Vec<DesiredEndpoint>,
    /// A device that may get endpoints still waits for addresses (SLAAC, DHCPv6, DAD).
    pub awaiting_addresses: bool,
    /// Others' endpoints exactly as NetworkManager's rules make them (its own support's),
    /// which a policy of nm-mptcp's (`metered_as_backup`) changes: adopted, then replaced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub superseded: Vec<KernelEndpoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DevicePlan {
    pub interface: String,
    pub ifindex: u32,
    pub profile: ProfileRef,
    /// The effective flags after resolution, normalisation and the sysctl gate.
    pub flags: MptcpFlags,
    pub flags_source: FlagsSource,
    pub endpoint_flags: EndpointFlags,
    /// `backup` was added to the endpoint flags because NetworkManager reports the device
    /// metered (`[profiles] metered_as_backup`): the reason `status` names.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub metered_as_backup: bool,
    pub addresses: Vec<AddressDecision>,
    /// The routers NetworkManager knows on the link (`FamilyState::gateway`), IPv4 first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<IpAddr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    Endpoint,
    Skipped,
}

/// Why an address did or did not become an endpoint. The codes are stable (kebab-case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// Became an endpoint.
    Selected,
    /// The profile (or its default) says `disabled`.
    Disabled,
    /// `net.mptcp.enabled` is off and the profile lacks `also-without-sysctl`.
    SysctlOff,
    /// NetworkManager has no default route for this family and the profile lacks
    /// `also-without-default-route`.
    NoDefaultRoute,
    LinkLocal,
    Ula,
    HostScope,
    /// Not yet usable (IPv6 duplicate address detection); only NetworkManager >= 1.52 waits.
    Tentative,
    /// The same address already became an endpoint on a device that ranks higher.
    Duplicate,
    /// The kernel's 8 endpoints are taken, counting endpoints others own.
    EndpointCap,
    /// Another manager (or a person) holds an endpoint for this address; it is left alone.
    ForeignEndpoint,
    /// The device's activation is external; NetworkManager configures nothing on it.
    External,
    /// A port of a controller: no IP configuration of its own.
    Port,
    /// The device is going down in the event at hand.
    GoingDown,
}

impl Reason {
    pub const ALL: [Reason; 14] = [
        Reason::Selected,
        Reason::Disabled,
        Reason::SysctlOff,
        Reason::NoDefaultRoute,
        Reason::LinkLocal,
        Reason::Ula,
        Reason::HostScope,
        Reason::Tentative,
        Reason::Duplicate,
        Reason::EndpointCap,
        Reason::ForeignEndpoint,
        Reason::External,
        Reason::Port,
        Reason::GoingDown,
    ];

    /// For people (the man page).
    pub fn meaning(self) -> &'static str {
        match self {
            Reason::Selected => "became an endpoint",
            Reason::Disabled => "the profile (or its default) says disabled",
            Reason::SysctlOff => "net.mptcp.enabled is 0 and the profile lacks also-without-sysctl",
            Reason::NoDefaultRoute => {
                "no default route for this family and the profile lacks also-without-default-route"
            }
            Reason::LinkLocal => "an IPv6 link-local address (fe80::/10) never becomes one",
            Reason::Ula => "an IPv6 unique local address (fc00::/7) never becomes one",
            Reason::HostScope => "a host-scope address never becomes one",
            Reason::Tentative => {
                "not yet usable (IPv6 duplicate address detection); NetworkManager >= 1.52 waits"
            }
            Reason::Duplicate => "the same address became an endpoint on a device ranked higher",
            Reason::EndpointCap => {
                "the kernel's 8 endpoints are taken, counting endpoints others own"
            }
            Reason::ForeignEndpoint => {
                "someone else holds an endpoint for this address; it is left alone"
            }
            Reason::External => "an externally activated device: NetworkManager configures nothing",
            Reason::Port => "a port of a controller: no IP configuration of its own",
            Reason::GoingDown => "the device is going down in the event at hand",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddressDecision {
    pub address: IpAddr,
    pub source: AddressSource,
    pub decision: Decision,
    pub reason: Reason,
    /// NetworkManager's priority for the address (99 for a device's first, down to 10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
}

/// Compute the endpoints NetworkManager's rules ask for. `foreign` are the kernel endpoints
/// that nm-mptcp does not own; they are never touched, but they do take kernel slots.
pub fn plan(host: &HostSnapshot, foreign: &[KernelEndpoint]) -> Plan {
    let mut devices: Vec<DevicePlan> = host.devices.iter().map(|d| plan_device(host, d)).collect();
    let (endpoints, superseded) = select(&mut devices, foreign);
    let awaiting_addresses = host.devices.iter().zip(&devices).any(|(state, plan)| {
        !plan.flags.contains(MptcpFlags::DISABLED)
            && state.ineligible.is_none()
            && (state.ipv4.settling || state.ipv6.settling)
    });
    Plan {
        nm_version: host.nm_version,
        sysctl_enabled: host.sysctl_enabled,
        devices,
        endpoints,
        awaiting_addresses,
        superseded,
    }
}

/// Flags, gates and per-address exclusions of one device; every kept address is left as
/// `Selected` with its priority until `select` ranks the whole host.
fn plan_device(host: &HostSnapshot, device: &DeviceState) -> DevicePlan {
    let (mut flags, mut flags_source) =
        MptcpFlags::resolve(device.mptcp_flags, device.conf_default, host.nm_version);
    let mut off_reason = None;
    if let Some(ineligible) = device.ineligible {
        off_reason = Some(match ineligible {
            Ineligible::External => Reason::External,
            Ineligible::Port => Reason::Port,
            Ineligible::GoingDown => Reason::GoingDown,
        });
    } else if flags.contains(MptcpFlags::DISABLED) {
        off_reason = Some(Reason::Disabled);
    } else if !flags.contains(MptcpFlags::ALSO_WITHOUT_SYSCTL) && !sysctl_allows(host) {
        flags = MptcpFlags::DISABLED;
        flags_source = FlagsSource::Sysctl;
        off_reason = Some(Reason::SysctlOff);
    }

    let mut addresses = Vec::new();
    for family in [&device.ipv4, &device.ipv6] {
        let family_off = off_reason.or_else(|| {
            let gated = !flags.contains(MptcpFlags::ALSO_WITHOUT_DEFAULT_ROUTE);
            (gated && !family.default_route).then_some(Reason::NoDefaultRoute)
        });
        addresses.extend(decide_family(family, family_off, host.nm_version));
    }

    let networkmanagers_flags = flags.endpoint_flags();
    let metered_as_backup = host.metered_as_backup
        && device.metered
        && !networkmanagers_flags.is_empty()
        && !networkmanagers_flags.contains(EndpointFlags::BACKUP);
    DevicePlan {
        interface: device.interface.clone(),
        ifindex: device.ifindex,
        profile: device.profile.clone(),
        flags,
        flags_source,
        endpoint_flags: if metered_as_backup {
            networkmanagers_flags | EndpointFlags::BACKUP
        } else {
            networkmanagers_flags
        },
        metered_as_backup,
        addresses,
        gateways: [device.ipv4.gateway, device.ipv6.gateway]
            .into_iter()
            .flatten()
            .collect(),
    }
}

fn sysctl_allows(host: &HostSnapshot) -> bool {
    match host.sysctl_enabled {
        Some(enabled) => enabled,
        // NetworkManager before the fix read a missing file as enabled.
        None => !host.nm_version.missing_sysctl_disables(),
    }
}

/// One family's addresses in NetworkManager's order; the n-th kept address gets priority
/// max(100 - n, 10).
fn decide_family(
    family: &FamilyState,
    family_off: Option<Reason>,
    nm: NmVersion,
) -> Vec<AddressDecision> {
    let mut kept = 0u32;
    family
        .addresses
        .iter()
        .map(|candidate| {
            let excluded = family_off
                .or_else(|| scope_exclusion(candidate.address))
                .or_else(|| readiness_exclusion(candidate, nm));
            let priority = excluded.is_none().then(|| {
                kept += 1;
                100u32.saturating_sub(kept).max(10)
            });
            AddressDecision {
                address: candidate.address,
                source: candidate.source,
                decision: if excluded.is_some() {
                    Decision::Skipped
                } else {
                    Decision::Endpoint
                },
                reason: excluded.unwrap_or(Reason::Selected),
                priority,
            }
        })
        .collect()
}

/// NetworkManager excludes by the address value, not by the kernel's scope field.
pub fn scope_exclusion(address: IpAddr) -> Option<Reason> {
    match address {
        IpAddr::V4(v4) if v4.is_loopback() => Some(Reason::HostScope),
        IpAddr::V4(v4) if v4.is_link_local() => Some(Reason::LinkLocal),
        IpAddr::V4(_) => None,
        IpAddr::V6(v6) if v6.is_loopback() => Some(Reason::HostScope),
        IpAddr::V6(_) if is_ipv6_link_local(address) => Some(Reason::LinkLocal),
        IpAddr::V6(v6) if v6.segments()[0] & 0xfe00 == 0xfc00 => Some(Reason::Ula),
        IpAddr::V6(_) => None,
    }
}

fn readiness_exclusion(candidate: &CandidateAddress, nm: NmVersion) -> Option<Reason> {
    (nm.skips_unready_addresses() && !candidate.ready).then_some(Reason::Tentative)
}

/// Rank every kept address of the host, deduplicate by address, respect foreign endpoints
/// and the kernel's cap. Marks the losers in `devices` and returns the winners, best first.
fn select(
    devices: &mut [DevicePlan],
    foreign: &[KernelEndpoint],
) -> (Vec<DesiredEndpoint>, Vec<KernelEndpoint>) {
    // NetworkManager's stable sort by priority over entries tracked in activation order,
    // IPv4 before IPv6: (priority, device order, index of the decision in its device).
    let mut ranked: Vec<(u32, usize, usize)> = devices
        .iter()
        .enumerate()
        .flat_map(|(order, device)| {
            device
                .addresses
                .iter()
                .enumerate()
                .filter_map(move |(slot, a)| a.priority.map(|p| (p, order, slot)))
        })
        .collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let candidates: Vec<Candidate> = ranked
        .into_iter()
        .map(|(_, order, slot)| {
            let device = &devices[order];
            Candidate {
                order,
                slot,
                address: device.addresses[slot].address,
                ifindex: device.ifindex,
                flags: device.endpoint_flags,
                networkmanagers_flags: device.endpoint_flags
                    - if device.metered_as_backup {
                        EndpointFlags::BACKUP
                    } else {
                        EndpointFlags::empty()
                    },
            }
        })
        .collect();

    // Foreign endpoints stay in the kernel (nm-mptcp never deletes them) and so hold slots,
    // except that one exactly as wanted is adopted (its slot becomes ours) and an implicit one
    // the kernel made is replaced in place. Only new endpoints need a free slot.
    let mut seen = HashSet::new();
    let mut endpoints = Vec::new();
    let mut superseded = Vec::new();
    let mut new_endpoints = 0;
    for c in candidates {
        let held = foreign.iter().find(|k| k.address == c.address);
        let as_networkmanager_makes_it = |k: &&KernelEndpoint| {
            c.flags != c.networkmanagers_flags
                && k.ifindex == Some(c.ifindex)
                && k.flags == c.networkmanagers_flags
                && k.port == 0
        };
        let in_place = held.is_some_and(|k| {
            k.flags.contains(EndpointFlags::IMPLICIT)
                || (k.ifindex == Some(c.ifindex) && k.flags == c.flags && k.port == 0)
                || as_networkmanager_makes_it(&k)
        });
        let verdict = if !seen.insert(c.address) {
            Some(Reason::Duplicate)
        } else if held.is_some() && !in_place {
            Some(Reason::ForeignEndpoint)
        } else if in_place {
            None
        } else if foreign.len() + new_endpoints >= MPTCP_PM_ADDR_MAX {
            Some(Reason::EndpointCap)
        } else {
            new_endpoints += 1;
            None
        };
        let device = &mut devices[c.order];
        match verdict {
            Some(reason) => {
                let decision = &mut device.addresses[c.slot];
                decision.decision = Decision::Skipped;
                decision.reason = reason;
            }
            None => {
                superseded.extend(held.filter(as_networkmanager_makes_it).cloned());
                endpoints.push(DesiredEndpoint {
                    address: c.address,
                    ifindex: c.ifindex,
                    interface: device.interface.clone(),
                    flags: c.flags,
                    profile: device.profile.clone(),
                })
            }
        }
    }
    (endpoints, superseded)
}

/// A kept address waiting for its rank.
struct Candidate {
    order: usize,
    slot: usize,
    address: IpAddr,
    ifindex: u32,
    flags: EndpointFlags,
    /// The flags without nm-mptcp's policies: what NetworkManager's own support adds.
    networkmanagers_flags: EndpointFlags,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FamilyState;
    use proptest::prelude::*;

    const NM: NmVersion = NmVersion::new(1, 42, 4);
    const SEED_FLAGS: u32 = 0x10 | 0x20 | 0x8;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn addresses(list: &[&str]) -> Vec<CandidateAddress> {
        list.iter()
            .map(|a| CandidateAddress {
                address: ip(a),
                source: AddressSource::Profile,
                ready: true,
            })
            .collect()
    }

    fn device(name: &str, ifindex: u32, flags: u32, gw: bool, v4: &[&str]) -> DeviceState {
        DeviceState {
            interface: name.into(),
            ifindex,
            profile: ProfileRef {
                id: format!("p-{name}"),
                uuid: format!("uuid-{name}"),
            },
            mptcp_flags: flags,
            conf_default: None,
            ineligible: None,
            metered: false,
            ipv4: FamilyState {
                addresses: addresses(v4),
                default_route: gw,
                settling: false,
                gateway: None,
            },
            ipv6: FamilyState::default(),
        }
    }

    fn host(devices: Vec<DeviceState>) -> HostSnapshot {
        HostSnapshot {
            nm_version: NM,
            sysctl_enabled: Some(true),
            metered_as_backup: false,
            devices,
        }
    }

    fn seed() -> HostSnapshot {
        host(vec![
            device("enp4s0f0", 2, SEED_FLAGS, true, &["192.0.2.2"]),
            device("enp4s0f1", 3, SEED_FLAGS, false, &["198.51.100.2"]),
            device("enp6s0", 4, SEED_FLAGS, false, &["192.0.2.5"]),
        ])
    }

    fn summary(plan: &Plan) -> Vec<(String, String, String)> {
        plan.endpoints
            .iter()
            .map(|e| {
                (
                    e.address.to_string(),
                    e.interface.clone(),
                    e.flags.to_string(),
                )
            })
            .collect()
    }

    fn reasons(plan: &Plan) -> Vec<(String, Reason)> {
        plan.devices
            .iter()
            .flat_map(|d| {
                d.addresses
                    .iter()
                    .map(|a| (a.address.to_string(), a.reason))
            })
            .collect()
    }

    #[test]
    fn seed_profiles_give_three_signal_subflow_endpoints() {
        let plan = plan(&seed(), &[]);
        assert_eq!(
            summary(&plan),
            vec![
                (
                    "192.0.2.2".into(),
                    "enp4s0f0".into(),
                    "signal subflow".into()
                ),
                (
                    "198.51.100.2".into(),
                    "enp4s0f1".into(),
                    "signal subflow".into()
                ),
                ("192.0.2.5".into(), "enp6s0".into(), "signal subflow".into()),
            ]
        );
    }

    #[test]
    fn without_also_without_default_route_only_the_gateway_device_counts() {
        let mut host = seed();
        for d in &mut host.devices {
            d.mptcp_flags = 0x10 | 0x20;
        }
        let plan = plan(&host, &[]);
        assert_eq!(plan.endpoints.len(), 1);
        assert_eq!(plan.endpoints[0].interface, "enp4s0f0");
        assert_eq!(
            reasons(&plan)[1],
            ("198.51.100.2".into(), Reason::NoDefaultRoute)
        );
    }

    #[test]
    fn sysctl_off_disables_unless_also_without_sysctl() {
        let mut host = seed();
        host.sysctl_enabled = Some(false);
        host.devices[0].mptcp_flags |= 0x4;
        let plan = plan(&host, &[]);
        assert_eq!(summary(&plan).len(), 1);
        assert_eq!(plan.devices[1].flags, MptcpFlags::DISABLED);
        assert_eq!(plan.devices[1].flags_source, FlagsSource::Sysctl);
        assert_eq!(reasons(&plan)[2].1, Reason::SysctlOff);
    }

    #[test]
    fn missing_sysctl_counts_as_enabled_on_1_42_only() {
        let mut host = seed();
        host.sysctl_enabled = None;
        assert_eq!(plan(&host, &[]).endpoints.len(), 3);
        host.nm_version = NmVersion::new(1, 52, 0);
        assert_eq!(plan(&host, &[]).endpoints.len(), 0);
    }

    #[test]
    fn disabled_profile_gets_nothing() {
        let mut host = seed();
        host.devices[1].mptcp_flags = 0x1;
        let plan = plan(&host, &[]);
        assert_eq!(plan.endpoints.len(), 2);
        assert_eq!(reasons(&plan)[1].1, Reason::Disabled);
    }

    #[test]
    fn default_flags_give_subflow_with_a_gateway() {
        let host = host(vec![device("e0", 2, 0, true, &["192.0.2.2"])]);
        let plan = plan(&host, &[]);
        assert_eq!(summary(&plan)[0].2, "subflow");
        assert_eq!(plan.devices[0].flags_source, FlagsSource::BuiltIn);
    }

    #[test]
    fn scope_exclusions_follow_address_values() {
        for (text, reason) in [
            ("127.0.0.5", Some(Reason::HostScope)),
            ("169.254.3.4", Some(Reason::LinkLocal)),
            ("10.1.2.3", None),
            ("100.64.0.1", None),
            ("::1", Some(Reason::HostScope)),
            ("fe80::1", Some(Reason::LinkLocal)),
            ("febf::1", Some(Reason::LinkLocal)),
            ("fd00::1", Some(Reason::Ula)),
            ("fc00::1", Some(Reason::Ula)),
            ("fec0::1", None),
            ("2001:db8::1", None),
        ] {
            assert_eq!(scope_exclusion(ip(text)), reason, "{text}");
        }
    }

    #[test]
    fn excluded_addresses_do_not_use_up_priorities() {
        let host = host(vec![device(
            "e0",
            2,
            0x22,
            true,
            &["169.254.1.1", "192.0.2.2", "192.0.2.3"],
        )]);
        let plan = plan(&host, &[]);
        let priorities: Vec<_> = plan.devices[0]
            .addresses
            .iter()
            .map(|a| a.priority)
            .collect();
        assert_eq!(priorities, vec![None, Some(99), Some(98)]);
    }

    #[test]
    fn same_address_goes_to_the_device_activated_first() {
        let host = host(vec![
            device("e0", 2, 0x22, true, &["192.0.2.9"]),
            device("e1", 3, 0x12, true, &["192.0.2.9"]),
        ]);
        let plan = plan(&host, &[]);
        assert_eq!(
            summary(&plan),
            vec![("192.0.2.9".into(), "e0".into(), "subflow".into())]
        );
        assert_eq!(reasons(&plan)[1].1, Reason::Duplicate);
    }

    #[test]
    fn cap_keeps_the_best_eight_by_priority() {
        let e0: Vec<String> = (1..=6).map(|i| format!("192.0.2.{i}")).collect();
        let e1: Vec<String> = (1..=4).map(|i| format!("198.51.100.{i}")).collect();
        let e0: Vec<&str> = e0.iter().map(String::as_str).collect();
        let e1: Vec<&str> = e1.iter().map(String::as_str).collect();
        let host = host(vec![
            device("e0", 2, 0x22, true, &e0),
            device("e1", 3, 0x22, true, &e1),
        ]);
        let plan = plan(&host, &[]);
        let got: Vec<String> = plan
            .endpoints
            .iter()
            .map(|e| e.address.to_string())
            .collect();
        assert_eq!(
            got,
            [
                "192.0.2.1",
                "198.51.100.1",
                "192.0.2.2",
                "198.51.100.2",
                "192.0.2.3",
                "198.51.100.3",
                "192.0.2.4",
                "198.51.100.4"
            ]
        );
        let capped: Vec<_> = reasons(&plan)
            .into_iter()
            .filter(|(_, r)| *r == Reason::EndpointCap)
            .map(|(a, _)| a)
            .collect();
        assert_eq!(capped, ["192.0.2.5", "192.0.2.6"]);
    }

    fn foreign(id: u8, address: &str, ifindex: u32, flags: EndpointFlags) -> KernelEndpoint {
        KernelEndpoint::on_device(id, address, ifindex, flags)
    }

    #[test]
    fn foreign_endpoints_take_slots_and_block_their_address() {
        let list: Vec<String> = (1..=8).map(|i| format!("192.0.2.{i}")).collect();
        let list: Vec<&str> = list.iter().map(String::as_str).collect();
        let host = host(vec![device("e0", 2, 0x22, true, &list)]);
        let others = [
            foreign(1, "203.0.113.1", 9, EndpointFlags::SIGNAL),
            foreign(2, "192.0.2.1", 2, EndpointFlags::BACKUP),
        ];
        let plan = plan(&host, &others);
        assert_eq!(plan.endpoints.len(), 6);
        let r = reasons(&plan);
        assert_eq!(r[0].1, Reason::ForeignEndpoint);
        assert_eq!(r[7].1, Reason::EndpointCap);
    }

    #[test]
    fn a_kernel_full_of_lower_ranked_foreign_endpoints_is_not_overfilled() {
        // NetworkManager's own support left e0's first 8 addresses; the best 8 would take the
        // first address of each device, but those are not ours to delete.
        let e0: Vec<String> = (1..=8).map(|i| format!("10.0.0.{i}")).collect();
        let e0: Vec<&str> = e0.iter().map(String::as_str).collect();
        let host = host(vec![
            device("e0", 2, 0x22, true, &e0),
            device("e1", 3, 0x22, true, &["10.1.0.1"]),
        ]);
        let others: Vec<KernelEndpoint> = e0
            .iter()
            .enumerate()
            .map(|(i, a)| foreign(i as u8 + 1, a, 2, EndpointFlags::SUBFLOW))
            .collect();
        let plan = plan(&host, &others);
        assert_eq!(plan.endpoints.len(), 8);
        assert!(plan.endpoints.iter().all(|e| e.interface == "e0"));
        assert_eq!(reasons(&plan)[8], ("10.1.0.1".into(), Reason::EndpointCap));
    }

    #[test]
    fn metered_devices_get_backup_only_when_asked_and_networkmanagers_endpoint_is_superseded() {
        let mut host = seed();
        host.devices[1].metered = true;
        // Off (the default): NetworkManager's rules alone.
        let off = plan(&host, &[]);
        assert!(off
            .endpoints
            .iter()
            .all(|e| !e.flags.contains(EndpointFlags::BACKUP)));
        assert!(!off.devices[1].metered_as_backup);
        // On: the metered device's endpoint gets backup, and says why.
        host.metered_as_backup = true;
        let on = plan(&host, &[]);
        let flags_of = |plan: &Plan, ifindex: u32| {
            plan.endpoints
                .iter()
                .find(|e| e.ifindex == ifindex)
                .map(|e| e.flags)
        };
        let metered = host.devices[1].ifindex;
        assert!(flags_of(&on, metered)
            .unwrap()
            .contains(EndpointFlags::BACKUP));
        assert!(on.devices[1].metered_as_backup && !on.devices[0].metered_as_backup);
        assert_eq!(
            flags_of(&on, host.devices[0].ifindex),
            flags_of(&off, host.devices[0].ifindex)
        );
        // NetworkManager's own endpoint for it (its rules' flags) is taken over, not skipped.
        let address = on
            .endpoints
            .iter()
            .find(|e| e.ifindex == metered)
            .unwrap()
            .address;
        let networkmanagers = KernelEndpoint {
            id: 1,
            address,
            ifindex: Some(metered),
            port: 0,
            flags: flags_of(&off, metered).unwrap(),
        };
        let taken = plan(&host, std::slice::from_ref(&networkmanagers));
        assert_eq!(taken.superseded, vec![networkmanagers.clone()]);
        assert_eq!(flags_of(&taken, metered), flags_of(&on, metered));
        // Anything else at that address is someone else's and stays so.
        let other = KernelEndpoint {
            flags: EndpointFlags::FULLMESH,
            ..networkmanagers
        };
        let left = plan(&host, &[other]);
        assert!(left.superseded.is_empty() && flags_of(&left, metered).is_none());
    }

    #[test]
    fn identical_foreign_endpoint_is_adopted_not_fought() {
        let host = host(vec![device("e0", 2, 0x22, true, &["192.0.2.1"])]);
        let others = [foreign(1, "192.0.2.1", 2, EndpointFlags::SUBFLOW)];
        let plan = plan(&host, &others);
        assert_eq!(plan.endpoints.len(), 1);
    }

    #[test]
    fn an_implicit_endpoint_for_a_wanted_address_is_replaced_in_place_without_a_new_slot() {
        // The kernel made an implicit endpoint for 192.0.2.1 (a subflow used the address
        // before any endpoint existed); seven others fill the rest of the kernel.
        let mut implicit = foreign(1, "192.0.2.1", 0, EndpointFlags::IMPLICIT);
        implicit.ifindex = None;
        let mut others = vec![implicit];
        others.extend(
            (2..=8).map(|i| foreign(i, &format!("203.0.113.{i}"), 9, EndpointFlags::SIGNAL)),
        );
        let host = host(vec![device(
            "e0",
            2,
            0x22,
            true,
            &["192.0.2.1", "192.0.2.2"],
        )]);
        let plan = plan(&host, &others);
        // The implicit one's slot becomes the wanted endpoint's; there is no room for more.
        assert_eq!(
            summary(&plan),
            vec![("192.0.2.1".into(), "e0".into(), "subflow".into())]
        );
        assert_eq!(reasons(&plan)[1], ("192.0.2.2".into(), Reason::EndpointCap));
    }

    #[test]
    fn ineligible_devices_get_nothing() {
        let mut host = seed();
        host.devices[0].ineligible = Some(Ineligible::GoingDown);
        host.devices[1].ineligible = Some(Ineligible::External);
        let plan = plan(&host, &[]);
        assert_eq!(summary(&plan).len(), 1);
        assert_eq!(reasons(&plan)[0].1, Reason::GoingDown);
        assert_eq!(reasons(&plan)[1].1, Reason::External);
    }

    #[test]
    fn tentative_addresses_wait_only_on_new_networkmanager() {
        let mut host = host(vec![device("e0", 2, 0x22, true, &["192.0.2.1"])]);
        host.devices[0].ipv4.addresses[0].ready = false;
        assert_eq!(plan(&host, &[]).endpoints.len(), 1);
        host.nm_version = NmVersion::new(1, 52, 0);
        let plan = plan(&host, &[]);
        assert!(plan.endpoints.is_empty());
        assert_eq!(reasons(&plan)[0].1, Reason::Tentative);
    }

    #[test]
    fn settling_addresses_matter_only_where_endpoints_may_come() {
        let mut host = host(vec![device("e0", 2, 0x22, true, &["192.0.2.1"])]);
        host.devices[0].ipv6.settling = true;
        assert!(plan(&host, &[]).awaiting_addresses);
        host.devices[0].mptcp_flags = 0x1;
        assert!(!plan(&host, &[]).awaiting_addresses);
        host.devices[0].mptcp_flags = 0x22;
        host.devices[0].ineligible = Some(Ineligible::GoingDown);
        assert!(!plan(&host, &[]).awaiting_addresses);
    }

    #[test]
    fn default_route_gate_is_per_family() {
        let mut host = host(vec![device("e0", 2, 0x22, true, &["192.0.2.1"])]);
        host.devices[0].ipv6 = FamilyState {
            addresses: addresses(&["2001:db8::1"]),
            default_route: false,
            settling: false,
            gateway: None,
        };
        let plan = plan(&host, &[]);
        assert_eq!(summary(&plan).len(), 1);
        assert_eq!(
            reasons(&plan)[1],
            ("2001:db8::1".into(), Reason::NoDefaultRoute)
        );
    }

    const V4_NETS: [[u8; 3]; 4] = [[192, 0, 2], [198, 51, 100], [169, 254, 1], [10, 0, 0]];
    const V6_NETS: [u16; 3] = [0x2001, 0xfd00, 0xfe80];

    fn arb_device(index: u32) -> impl Strategy<Value = DeviceState> {
        let flags = prop_oneof![
            Just(0u32),
            Just(0x1),
            Just(0x2),
            Just(0x22),
            Just(0x32),
            Just(0x3a),
            Just(0x42),
            Just(0xa2),
            Just(0x90),
            any::<u32>()
        ];
        let v4 = prop::collection::vec((0u8..4, 1u8..12), 0..6);
        let v6 = prop::collection::vec((0u8..3, 1u16..12), 0..4);
        (flags, any::<bool>(), any::<bool>(), v4, v6).prop_map(move |(f, gw4, gw6, v4, v6)| {
            let candidate = |address: IpAddr| CandidateAddress {
                address,
                source: AddressSource::Profile,
                ready: true,
            };
            let v4 = v4
                .into_iter()
                .map(|(net, host)| {
                    let [a, b, c] = V4_NETS[net as usize];
                    candidate(IpAddr::from([a, b, c, host]))
                })
                .collect();
            let v6 = v6
                .into_iter()
                .map(|(net, host)| {
                    candidate(IpAddr::from([
                        V6_NETS[net as usize],
                        0xdb8,
                        0,
                        0,
                        0,
                        0,
                        0,
                        host,
                    ]))
                })
                .collect();
            let mut d = device(&format!("e{index}"), index + 2, f, gw4, &[]);
            d.ipv4.addresses = v4;
            d.ipv6 = FamilyState {
                addresses: v6,
                default_route: gw6,
                settling: false,
                gateway: None,
            };
            d
        })
    }

    fn arb_host() -> impl Strategy<Value = HostSnapshot> {
        (0u32..5)
            .prop_flat_map(|n| (0..n).map(arb_device).collect::<Vec<_>>())
            .prop_flat_map(|devices| {
                (Just(devices), prop::option::of(any::<bool>())).prop_map(|(devices, sysctl)| {
                    let mut h = host(devices);
                    h.sysctl_enabled = sysctl;
                    h
                })
            })
    }

    proptest! {
        #[test]
        fn plan_invariants(host in arb_host()) {
            let plan = plan(&host, &[]);
            prop_assert!(plan.endpoints.len() <= MPTCP_PM_ADDR_MAX);
            let unique: HashSet<_> = plan.endpoints.iter().map(|e| e.address).collect();
            prop_assert_eq!(unique.len(), plan.endpoints.len());
            let selected = plan.devices.iter().flat_map(|d| &d.addresses)
                .filter(|a| a.decision == Decision::Endpoint).count();
            prop_assert_eq!(selected, plan.endpoints.len());
            for e in &plan.endpoints {
                prop_assert!(scope_exclusion(e.address).is_none());
                prop_assert!(!e.flags.contains(EndpointFlags::IMPLICIT));
                prop_assert!(!e.flags.contains(EndpointFlags::SIGNAL | EndpointFlags::FULLMESH));
            }
            for d in &plan.devices {
                if d.flags.contains(MptcpFlags::DISABLED) {
                    prop_assert!(d.addresses.iter().all(|a| a.decision == Decision::Skipped));
                }
            }
        }

        #[test]
        fn the_kernel_never_needs_more_than_8_slots(
            host in arb_host(),
            others in prop::collection::vec((0u8..4, 1u8..12, 0u32..6, 0u32..4), 0..10),
        ) {
            let mut seen = HashSet::new();
            let foreign: Vec<KernelEndpoint> = others
                .into_iter()
                .filter(|(net, h, ..)| seen.insert((*net, *h)))
                .enumerate()
                .map(|(i, (net, h, ifindex, flags))| {
                    let [a, b, c] = V4_NETS[net as usize];
                    KernelEndpoint {
                        id: i as u8 + 1,
                        address: IpAddr::from([a, b, c, h]),
                        ifindex: Some(ifindex),
                        port: 0,
                        flags: EndpointFlags::from_bits_retain(flags),
                    }
                })
                .take(MPTCP_PM_ADDR_MAX)
                .collect();
            let plan = plan(&host, &foreign);
            let adopted = foreign
                .iter()
                .filter(|k| plan.endpoints.iter().any(|d| d.is_held_by(k)))
                .count();
            prop_assert!(plan.endpoints.len() + foreign.len() - adopted <= MPTCP_PM_ADDR_MAX);
            for d in &plan.endpoints {
                let held = foreign.iter().find(|k| k.address == d.address);
                prop_assert!(held.is_none_or(|k| d.is_held_by(k)), "{:?} would fight a foreign endpoint", d);
            }
        }

        #[test]
        fn plan_is_deterministic_and_cap_fills_when_possible(host in arb_host()) {
            let a = plan(&host, &[]);
            prop_assert_eq!(&a, &plan(&host, &[]));
            let capped = a.devices.iter().flat_map(|d| &d.addresses)
                .any(|x| x.reason == Reason::EndpointCap);
            if capped {
                prop_assert_eq!(a.endpoints.len(), MPTCP_PM_ADDR_MAX);
            }
        }
    }
}
