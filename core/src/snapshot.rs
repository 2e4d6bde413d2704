//! Combine NetworkManager's view with the kernel's address facts into the planner's input.
//! This is where NetworkManager's address order and default-route rule are rebuilt from what
//! D-Bus shows (`nm-l3cfg.c`, `nm-ip-config.c`: addresses in profile, DHCP, SLAAC order; the
//! default route of NetworkManager's own configuration, main table only).

use std::net::IpAddr;

use crate::model::{
    is_ipv6_link_local, AddressSource, CandidateAddress, DeviceState, FamilyState, HostSnapshot,
    Ineligible, KernelAddress,
};
use crate::nm_conf::NmConf;
use crate::nm_version::NmVersion;
use crate::nm_view::{Method, NmDevice, NmFamily, NmView};

/// The kernel's main routing table.
const RT_TABLE_MAIN: u32 = 254;

/// Facts gathered outside NetworkManager for one event.
pub struct HostFacts<'a> {
    pub kernel_addresses: &'a [KernelAddress],
    /// The kernel's ifindex for an interface name; `None` once it has vanished.
    pub ifindex_of: &'a dyn Fn(&str) -> Option<u32>,
    pub sysctl_enabled: Option<bool>,
    /// NetworkManager.conf's `[connection*]` sections.
    pub nm_conf: &'a NmConf,
    /// The interface the event takes down (pre-down, down), if any.
    pub going_down: Option<&'a str>,
    /// `[profiles] metered_as_backup`.
    pub metered_as_backup: bool,
}

/// NetworkManager 1.42 when it does not say (older ones lack nothing this tool relies on).
pub const FALLBACK_VERSION: NmVersion = NmVersion::new(1, 42, 0);

pub fn assemble(view: &NmView, facts: &HostFacts) -> HostSnapshot {
    HostSnapshot {
        nm_version: view.version.unwrap_or(FALLBACK_VERSION),
        sysctl_enabled: facts.sysctl_enabled,
        metered_as_backup: facts.metered_as_backup,
        devices: view
            .devices
            .iter()
            .filter_map(|d| device_state(d, facts))
            .collect(),
    }
}

/// `None` when the interface vanished since NetworkManager listed it.
fn device_state(device: &NmDevice, facts: &HostFacts) -> Option<DeviceState> {
    let ifindex = (facts.ifindex_of)(&device.interface)?;
    let ineligible = if facts.going_down == Some(device.interface.as_str()) {
        Some(Ineligible::GoingDown)
    } else if device.external {
        Some(Ineligible::External)
    } else if device.port {
        Some(Ineligible::Port)
    } else {
        None
    };
    let kernel: Vec<&KernelAddress> = facts
        .kernel_addresses
        .iter()
        .filter(|a| a.ifindex == ifindex)
        .collect();
    if device.activating && !static_address_committed(device, &kernel) {
        return None;
    }
    Some(DeviceState {
        interface: device.interface.clone(),
        ifindex,
        profile: device.profile.clone(),
        mptcp_flags: device.mptcp_flags,
        conf_default: facts.nm_conf.mptcp_default(&device.matched_as),
        ineligible,
        metered: device.metered,
        ipv4: family_state(&device.ipv4, &kernel, false),
        ipv6: family_state(&device.ipv6, &kernel, true),
    })
}

/// One of the profile's static addresses is on the interface: NetworkManager is committing
/// the IP configuration.
fn static_address_committed(device: &NmDevice, kernel: &[&KernelAddress]) -> bool {
    [&device.ipv4, &device.ipv6]
        .iter()
        .flat_map(|f| &f.static_addresses)
        .any(|s| kernel.iter().any(|k| k.address == *s))
}

fn family_state(family: &NmFamily, kernel: &[&KernelAddress], v6: bool) -> FamilyState {
    if family.method.configures_nothing() {
        return FamilyState::default();
    }
    let mut addresses: Vec<CandidateAddress> = Vec::new();
    let mut push = |address: IpAddr, source: AddressSource| {
        if address.is_ipv6() == v6 && !addresses.iter().any(|c| c.address == address) {
            let held = kernel.iter().find(|k| k.address == address);
            addresses.push(CandidateAddress {
                address,
                source,
                ready: held.is_some_and(|k| !k.tentative && !k.dad_failed),
            });
        }
    };
    for &address in &family.static_addresses {
        push(address, AddressSource::Profile);
    }
    for &address in &family.dhcp_addresses {
        push(address, AddressSource::Dhcp);
    }
    if v6 {
        // NetworkManager does SLAAC itself and adds its addresses with `noprefixroute`; they
        // are never the kernel's temporary (privacy) addresses. With privacy on, the stable
        // address is `mngtmpaddr`, and a router's infinite lifetime makes it permanent, so
        // neither a lifetime nor its absence tells it from a hand-added address: the flag
        // does (an address with a lifetime still counts, as before). Link-local comes last.
        let auto = family.method == Method::Auto;
        let mut slaac: Vec<&&KernelAddress> = kernel
            .iter()
            .filter(|k| k.address.is_ipv6() && !k.temporary)
            .filter(|k| {
                let link_local = is_ipv6_link_local(k.address);
                link_local || (auto && (k.no_prefix_route || !k.permanent))
            })
            .collect();
        slaac.sort_by_key(|k| is_ipv6_link_local(k.address));
        for k in slaac {
            let source = if is_ipv6_link_local(k.address) {
                AddressSource::LinkLocal
            } else {
                AddressSource::Slaac
            };
            push(k.address, source);
        }
    }
    // SLAAC and DHCPv6 come after `up` without an event of their own; so does DAD's end.
    let dynamic_v6 = v6 && family.method.takes_automatic_configuration(true);
    // Waiting: not in the kernel yet, or DAD still running (an address whose DAD failed
    // never becomes usable: nothing to wait for).
    let waiting = |a: &CandidateAddress| {
        kernel
            .iter()
            .find(|k| k.address == a.address)
            .is_none_or(|k| k.tentative)
    };
    let settling = addresses.iter().any(waiting)
        || (dynamic_v6 && addresses.iter().all(|a| is_ipv6_link_local(a.address)));
    FamilyState {
        addresses,
        default_route: has_default_route(family, v6),
        settling,
        gateway: family.gateway.or(family.offered_gateway),
    }
}

/// NetworkManager's own configuration has a unicast default route in the main table:
/// from the profile's gateway or routes, or from DHCP / router advertisements.
pub fn has_default_route(family: &NmFamily, v6: bool) -> bool {
    let in_main = |table: u32| {
        let table = if table == 0 {
            family.route_table
        } else {
            table
        };
        table == 0 || table == RT_TABLE_MAIN
    };
    let auto_method = family.method.takes_automatic_configuration(v6);
    let from_gateway = family.gateway.is_some() && !family.never_default;
    let from_auto =
        auto_method && family.auto_gateway && !family.never_default && !family.ignore_auto_routes;
    let from_routes = family.routes.iter().any(|r| {
        r.prefix == 0
            && r.dest.is_unspecified()
            && in_main(r.table)
            && r.kind.as_deref().is_none_or(|k| k == "unicast")
    });
    ((from_gateway || from_auto) && in_main(0)) || from_routes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ProfileRef;
    use crate::nm_view::StaticRoute;

    fn v4(method: Method, addresses: &[&str]) -> NmFamily {
        NmFamily {
            method,
            static_addresses: addresses.iter().map(|s| s.parse().unwrap()).collect(),
            ..NmFamily::default()
        }
    }

    fn kaddr(ifindex: u32, address: &str, permanent: bool) -> KernelAddress {
        KernelAddress {
            ifindex,
            address: address.parse().unwrap(),
            temporary: false,
            tentative: false,
            dad_failed: false,
            permanent,
            no_prefix_route: false,
        }
    }

    fn view(devices: Vec<NmDevice>) -> NmView {
        NmView {
            devices,
            ..NmView::default()
        }
    }

    /// The addresses of e0's family as (address, source).
    fn listed(family: &FamilyState) -> Vec<(String, AddressSource)> {
        family
            .addresses
            .iter()
            .map(|a| (a.address.to_string(), a.source))
            .collect()
    }

    static NO_CONF: std::sync::LazyLock<NmConf> = std::sync::LazyLock::new(NmConf::default);

    fn device(ipv4: NmFamily, ipv6: NmFamily) -> NmDevice {
        NmDevice {
            interface: "e0".into(),
            matched_as: Default::default(),
            profile: ProfileRef {
                id: "p0".into(),
                uuid: "u0".into(),
            },
            mptcp_flags: 0,
            external: false,
            port: false,
            activating: false,
            metered: false,
            ipv4,
            ipv6,
        }
    }

    fn e0_is_2(name: &str) -> Option<u32> {
        (name == "e0").then_some(2)
    }

    fn facts(kernel: &[KernelAddress]) -> HostFacts<'_> {
        HostFacts {
            kernel_addresses: kernel,
            ifindex_of: &e0_is_2,
            sysctl_enabled: Some(true),
            nm_conf: &NO_CONF,
            going_down: None,
            metered_as_backup: false,
        }
    }

    #[test]
    fn an_activating_device_counts_once_its_static_address_is_in_the_kernel() {
        let mut activating = device(
            v4(Method::Manual, &["192.0.2.2"]),
            v4(Method::Disabled, &[]),
        );
        activating.activating = true;
        let view = view(vec![activating]);
        assert!(
            assemble(&view, &facts(&[])).devices.is_empty(),
            "nothing committed yet"
        );
        let other = [kaddr(2, "192.0.2.9", false)];
        assert!(
            assemble(&view, &facts(&other)).devices.is_empty(),
            "not its address"
        );
        let committed = [kaddr(2, "192.0.2.2", false)];
        assert_eq!(assemble(&view, &facts(&committed)).devices.len(), 1);
    }

    #[test]
    fn gateway_counts_only_in_the_main_table_and_without_never_default() {
        let mut f = v4(Method::Manual, &["192.0.2.2"]);
        assert!(!has_default_route(&f, false));
        f.gateway = Some("192.0.2.1".parse().unwrap());
        assert!(has_default_route(&f, false));
        f.route_table = 100;
        assert!(!has_default_route(&f, false));
        f.route_table = 254;
        assert!(has_default_route(&f, false));
        f.never_default = true;
        assert!(!has_default_route(&f, false));
    }

    #[test]
    fn static_default_route_counts_unless_in_another_table_or_not_unicast() {
        let mut f = v4(Method::Manual, &[]);
        f.routes.push(StaticRoute {
            dest: "0.0.0.0".parse().unwrap(),
            prefix: 0,
            table: 0,
            kind: None,
        });
        assert!(has_default_route(&f, false));
        f.routes[0].kind = Some("blackhole".into());
        assert!(!has_default_route(&f, false));
        f.routes[0].kind = None;
        f.routes[0].table = 7;
        assert!(!has_default_route(&f, false));
    }

    #[test]
    fn dhcp_router_counts_unless_ignored() {
        let mut f = v4(Method::Auto, &[]);
        f.auto_gateway = true;
        assert!(has_default_route(&f, false));
        f.ignore_auto_routes = true;
        assert!(!has_default_route(&f, false));
    }

    #[test]
    fn addresses_keep_profile_then_dhcp_order_and_readiness() {
        let mut ipv4 = v4(Method::Auto, &["192.0.2.2", "192.0.2.3"]);
        ipv4.dhcp_addresses = vec![
            "198.51.100.7".parse().unwrap(),
            "192.0.2.2".parse().unwrap(),
        ];
        let kernel = [kaddr(2, "192.0.2.2", true), kaddr(9, "192.0.2.3", true)];
        let view = view(vec![device(ipv4, v4(Method::Disabled, &[]))]);
        let host = assemble(&view, &facts(&kernel));
        let got: Vec<_> = host.devices[0]
            .ipv4
            .addresses
            .iter()
            .map(|a| (a.address.to_string(), a.source, a.ready))
            .collect();
        assert_eq!(
            got,
            vec![
                ("192.0.2.2".into(), AddressSource::Profile, true),
                ("192.0.2.3".into(), AddressSource::Profile, false),
                ("198.51.100.7".into(), AddressSource::Dhcp, false),
            ]
        );
        assert_eq!(host.nm_version, FALLBACK_VERSION);
    }

    #[test]
    fn ipv6_slaac_excludes_temporary_and_hand_added_addresses() {
        let mut temporary = kaddr(2, "2001:db8::aaaa", false);
        temporary.temporary = true;
        let kernel = [
            kaddr(2, "fe80::1", true),
            kaddr(2, "2001:db8::1", false),
            temporary,
            kaddr(2, "2001:db8::99", true),
        ];
        let view = view(vec![device(
            v4(Method::Disabled, &[]),
            v4(Method::Auto, &[]),
        )]);
        let host = assemble(&view, &facts(&kernel));
        assert_eq!(
            listed(&host.devices[0].ipv6),
            vec![
                ("2001:db8::1".into(), AddressSource::Slaac),
                ("fe80::1".into(), AddressSource::LinkLocal)
            ]
        );
        assert!(!host.devices[0].ipv6.settling);
    }

    #[test]
    fn slaac_with_privacy_or_an_infinite_lifetime_is_networkmanagers_by_its_flag() {
        // ip6-privacy 2 under a router with infinite lifetimes: the stable address is
        // `mngtmpaddr noprefixroute` and permanent; the temporary one beside it is not ours.
        let mut stable = kaddr(2, "2001:db8:5::c569", true);
        stable.no_prefix_route = true;
        let mut temporary = kaddr(2, "2001:db8:5::20f5", false);
        temporary.temporary = true;
        let hand_added = kaddr(2, "2001:db8:5::99", true);
        let kernel = [stable, temporary, hand_added];
        let view = view(vec![device(
            v4(Method::Disabled, &[]),
            v4(Method::Auto, &[]),
        )]);
        let host = assemble(&view, &facts(&kernel));
        assert_eq!(
            listed(&host.devices[0].ipv6),
            vec![("2001:db8:5::c569".into(), AddressSource::Slaac)]
        );
        assert!(!host.devices[0].ipv6.settling, "not waiting for ever");
    }

    #[test]
    fn an_address_whose_dad_failed_is_not_waited_for() {
        let mut failed = kaddr(2, "192.0.2.2", true);
        failed.dad_failed = true;
        let view = view(vec![device(
            v4(Method::Manual, &["192.0.2.2"]),
            v4(Method::Disabled, &[]),
        )]);
        let host = assemble(&view, &facts(&[failed]));
        assert!(!host.devices[0].ipv4.addresses[0].ready);
        assert!(!host.devices[0].ipv4.settling);
    }

    #[test]
    fn settling_until_slaac_arrives_and_dad_ends() {
        let view = view(vec![device(
            v4(Method::Manual, &["192.0.2.2"]),
            v4(Method::Auto, &[]),
        )]);
        let link_local_only = [kaddr(2, "fe80::1", true), kaddr(2, "192.0.2.2", true)];
        let host = assemble(&view, &facts(&link_local_only));
        assert!(host.devices[0].ipv6.settling);
        assert!(!host.devices[0].ipv4.settling);
        let mut tentative = kaddr(2, "192.0.2.2", true);
        tentative.tentative = true;
        assert!(
            assemble(&view, &facts(&[tentative])).devices[0]
                .ipv4
                .settling
        );
    }

    #[test]
    fn a_vanished_interface_is_left_out() {
        let mut view = view(vec![device(
            v4(Method::Manual, &["192.0.2.2"]),
            v4(Method::Disabled, &[]),
        )]);
        view.devices[0].interface = "gone0".into();
        assert!(assemble(&view, &facts(&[])).devices.is_empty());
    }

    #[test]
    fn going_down_external_and_ports_are_marked() {
        let mut view = view(vec![device(
            v4(Method::Manual, &[]),
            v4(Method::Disabled, &[]),
        )]);
        let mut f = facts(&[]);
        f.going_down = Some("e0");
        assert_eq!(
            assemble(&view, &f).devices[0].ineligible,
            Some(Ineligible::GoingDown)
        );
        view.devices[0].external = true;
        assert_eq!(
            assemble(&view, &facts(&[])).devices[0].ineligible,
            Some(Ineligible::External)
        );
        view.devices[0].external = false;
        view.devices[0].port = true;
        assert_eq!(
            assemble(&view, &facts(&[])).devices[0].ineligible,
            Some(Ineligible::Port)
        );
    }
}
