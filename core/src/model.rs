//! Plain data shared by the planner, the diff and the adapters: the planner's input (each
//! active device as NetworkManager configured it), what the kernel holds, and the endpoints
//! nm-mptcp wants.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::flags::EndpointFlags;
use crate::nm_version::NmVersion;

/// The stable kebab-case code serde gives a variant, for text output: a unit variant's name
/// (reasons, sources, owners), or the `code` tag of an internally tagged one (warnings).
pub fn code<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(code)) => code,
        Ok(serde_json::Value::Object(fields)) => fields
            .get("code")
            .and_then(|c| c.as_str())
            .unwrap_or_default()
            .to_owned(),
        _ => String::new(),
    }
}

/// The kernel's `MPTCP_PM_ADDR_MAX`: at most this many endpoints per network namespace, and
/// the highest value of either limit.
pub const MPTCP_PM_ADDR_MAX: usize = 8;

/// fe80::/10, which NetworkManager never makes an endpoint of (it checks the value, not the
/// kernel's scope).
pub fn is_ipv6_link_local(address: IpAddr) -> bool {
    matches!(address, IpAddr::V6(a) if a.segments()[0] & 0xffc0 == 0xfe80)
}

/// The kernel's rules for interface names (`dev_valid_name`): 1 to 15 bytes, not `.` or
/// `..`, no `/`, `:`, whitespace or NUL.
pub fn is_valid_interface_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() < 16
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0x0b || b == 0)
}

/// Everything the planner needs, gathered once per event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostSnapshot {
    pub nm_version: NmVersion,
    /// `/proc/sys/net/mptcp/enabled`: `None` when the file is missing.
    pub sysctl_enabled: Option<bool>,
    /// `[profiles] metered_as_backup`: endpoints of metered devices get `backup`.
    pub metered_as_backup: bool,
    /// Active devices, in the order NetworkManager activated them.
    pub devices: Vec<DeviceState>,
}

/// Why NetworkManager gives a device no MPTCP configuration at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ineligible {
    /// The activation is external (NetworkManager only watches the device).
    External,
    /// A port of a bond, bridge or team: it has no IP configuration.
    Port,
    /// The device is being taken down by the event at hand.
    GoingDown,
}

/// One active device and its applied profile, as NetworkManager sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceState {
    pub interface: String,
    pub ifindex: u32,
    pub profile: ProfileRef,
    /// The applied profile's raw `connection.mptcp-flags` (0 when the key is absent).
    pub mptcp_flags: u32,
    /// `connection.mptcp-flags` from NetworkManager.conf for this device, if set there.
    pub conf_default: Option<i64>,
    pub ineligible: Option<Ineligible>,
    /// NetworkManager reports the device metered.
    pub metered: bool,
    pub ipv4: FamilyState,
    pub ipv6: FamilyState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileRef {
    pub id: String,
    pub uuid: String,
}

/// One address family of a device in NetworkManager's own configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FamilyState {
    /// NetworkManager's addresses in its own order (profile, DHCP, SLAAC, ...).
    pub addresses: Vec<CandidateAddress>,
    /// NetworkManager's own configuration has a default route in the main table.
    pub default_route: bool,
    /// Addresses are still on their way: router advertisement or DHCPv6 not answered yet,
    /// or duplicate address detection running. No dispatcher event announces their arrival.
    pub settling: bool,
    /// A router NetworkManager knows on the link, default route or not: the profile's
    /// `ipvX.gateway`, else the one DHCP or a router advertisement offered. What a route to
    /// a peer can go through (`no-route-to-peer`).
    pub gateway: Option<IpAddr>,
}

/// Where an address in NetworkManager's configuration came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AddressSource {
    Profile,
    Dhcp,
    Slaac,
    /// IPv6 link-local, which NetworkManager lists last and never uses.
    LinkLocal,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CandidateAddress {
    pub address: IpAddr,
    pub source: AddressSource,
    /// The kernel holds the address and it is not tentative (DAD done).
    pub ready: bool,
}

/// One address as the kernel holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelAddress {
    pub ifindex: u32,
    pub address: IpAddr,
    /// IPv6 privacy address made by the kernel (never in NetworkManager's configuration).
    pub temporary: bool,
    /// Duplicate address detection has not finished (or failed).
    pub tentative: bool,
    /// Duplicate address detection failed: the address is never usable.
    pub dad_failed: bool,
    /// No lifetime (`ip addr add`, static profile addresses, and SLAAC or DHCP ones whose
    /// router gave an infinite lifetime).
    pub permanent: bool,
    /// `noprefixroute`: NetworkManager adds every address of its own so (it sets the prefix
    /// routes itself); `ip addr add` does not unless asked.
    pub no_prefix_route: bool,
}

/// An endpoint as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelEndpoint {
    pub id: u8,
    pub address: IpAddr,
    pub ifindex: Option<u32>,
    pub port: u16,
    pub flags: EndpointFlags,
}

#[cfg(any(test, feature = "testing"))]
impl KernelEndpoint {
    /// A port-less endpoint on a device, as most are (test fixtures).
    pub fn on_device(id: u8, address: &str, ifindex: u32, flags: EndpointFlags) -> KernelEndpoint {
        KernelEndpoint {
            id,
            address: address.parse().expect("test address"),
            ifindex: Some(ifindex),
            port: 0,
            flags,
        }
    }
}

/// An endpoint nm-mptcp wants in the kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredEndpoint {
    pub address: IpAddr,
    pub ifindex: u32,
    pub interface: String,
    pub flags: EndpointFlags,
    pub profile: ProfileRef,
}

impl DesiredEndpoint {
    /// The kernel endpoint is this one: same address, device and flags.
    pub fn is_held_by(&self, kernel: &KernelEndpoint) -> bool {
        kernel.address == self.address
            && kernel.ifindex == Some(self.ifindex)
            && kernel.flags == self.flags
            && kernel.port == 0
    }
}

/// The kernel's MPTCP path manager (`net.mptcp.path_manager`, or `pm_type` before 6.15). In
/// JSON and on D-Bus its name, as the sysctl says it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum PathManager {
    /// The in-kernel path manager: it uses the endpoints.
    Kernel,
    /// A userspace daemon decides (mptcpd): the kernel ignores the endpoints.
    Userspace,
    /// A name this version does not know.
    Other(String),
}

impl PathManager {
    pub fn name(&self) -> &str {
        match self {
            PathManager::Kernel => "kernel",
            PathManager::Userspace => "userspace",
            PathManager::Other(name) => name,
        }
    }
}

impl From<String> for PathManager {
    fn from(name: String) -> PathManager {
        match name.as_str() {
            "kernel" => PathManager::Kernel,
            "userspace" => PathManager::Userspace,
            _ => PathManager::Other(name),
        }
    }
}

impl From<PathManager> for String {
    fn from(path_manager: PathManager) -> String {
        path_manager.name().to_owned()
    }
}
