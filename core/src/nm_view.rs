//! What NetworkManager says about its active devices, as plain data: the applied profile of
//! each device and what DHCP and router advertisements added. The D-Bus adapter fills it in
//! (addresses already parsed); `snapshot` combines it with the kernel's facts.

use std::net::IpAddr;

use crate::model::ProfileRef;
use crate::nm_conf::DeviceMatch;
use crate::nm_version::NmVersion;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct NmView {
    pub version: Option<NmVersion>,
    /// NetworkManager is still starting (its `Startup` property): devices are not back yet.
    pub starting: bool,
    /// NetworkManager's process, whose command line says where its configuration is.
    pub pid: Option<u32>,
    /// Devices of active connections, in activation order.
    pub devices: Vec<NmDevice>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NmDevice {
    /// The IP interface (NetworkManager 1.42 does not publish its ifindex on D-Bus).
    pub interface: String,
    /// What NetworkManager.conf's `match-device` specs compare with.
    pub matched_as: DeviceMatch,
    pub profile: ProfileRef,
    /// The applied profile's raw `connection.mptcp-flags` (0 when the key is absent).
    pub mptcp_flags: u32,
    /// The activation is external: NetworkManager only watches the device.
    pub external: bool,
    /// A port of a bond, bridge or team (`connection.controller`/`master` set).
    pub port: bool,
    /// Still activating (prepare .. need-auth): the profile is applied but NetworkManager
    /// has not committed its IP configuration. Planned for only once its static addresses
    /// are in the kernel, which NetworkManager puts there as it enters ip-config: so a
    /// daemon that read the view earlier acts on the address at once.
    pub activating: bool,
    /// NetworkManager reports the device metered (`Metered` yes or guess-yes: phone
    /// tethering, WWAN).
    pub metered: bool,
    pub ipv4: NmFamily,
    pub ipv6: NmFamily,
}

/// `ipvX.method`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Method {
    #[default]
    Auto,
    /// IPv6 only: DHCPv6 without router advertisements.
    Dhcp,
    Manual,
    LinkLocal,
    Shared,
    /// IPv6 only: NetworkManager leaves the family alone.
    Ignore,
    Disabled,
}

impl Method {
    /// NetworkManager's name for the method; `None` for a name it does not define.
    pub fn from_name(name: &str) -> Option<Method> {
        Some(match name {
            "auto" => Method::Auto,
            "dhcp" => Method::Dhcp,
            "manual" => Method::Manual,
            "link-local" => Method::LinkLocal,
            "shared" => Method::Shared,
            "ignore" => Method::Ignore,
            "disabled" => Method::Disabled,
            _ => return None,
        })
    }

    /// NetworkManager configures no address of this family.
    pub fn configures_nothing(self) -> bool {
        matches!(self, Method::Disabled | Method::Ignore)
    }

    /// Leases and router advertisements count: DHCPv4 for IPv4 `auto`; router
    /// advertisements and DHCPv6 for IPv6 `auto` and `dhcp`.
    pub fn takes_automatic_configuration(self, v6: bool) -> bool {
        match self {
            Method::Auto => true,
            Method::Dhcp => v6,
            _ => false,
        }
    }
}

/// One family of the applied profile plus what DHCP or router advertisements added.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NmFamily {
    pub method: Method,
    /// `ipvX.address-data`, in profile order.
    pub static_addresses: Vec<IpAddr>,
    /// Addresses leased by DHCP.
    pub dhcp_addresses: Vec<IpAddr>,
    /// `ipvX.gateway`.
    pub gateway: Option<IpAddr>,
    pub never_default: bool,
    pub ignore_auto_routes: bool,
    /// `ipvX.route-table` (0 = main).
    pub route_table: u32,
    /// `ipvX.route-data`.
    pub routes: Vec<StaticRoute>,
    /// A router DHCP (IPv4 `routers`) or a router advertisement (IPv6) offered.
    pub auto_gateway: bool,
    /// That router's address, where it parses.
    pub offered_gateway: Option<IpAddr>,
}

impl NmFamily {
    /// The family of a profile without that setting group: NetworkManager configures nothing.
    pub fn disabled() -> NmFamily {
        NmFamily {
            method: Method::Disabled,
            ..NmFamily::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StaticRoute {
    pub dest: IpAddr,
    pub prefix: u32,
    /// 0: the profile's `route-table`.
    pub table: u32,
    /// `type`: `None` for unicast (the default).
    pub kind: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_parse_and_tell_what_counts() {
        assert_eq!(Method::from_name("link-local"), Some(Method::LinkLocal));
        assert_eq!(Method::from_name("carrier-pigeon"), None);
        assert!(Method::Ignore.configures_nothing() && Method::Disabled.configures_nothing());
        assert!(Method::Auto.takes_automatic_configuration(false));
        assert!(!Method::Dhcp.takes_automatic_configuration(false));
        assert!(Method::Dhcp.takes_automatic_configuration(true));
        assert!(!Method::Manual.takes_automatic_configuration(true));
    }
}
