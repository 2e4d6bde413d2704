//! NetworkManager's D-Bus dictionaries as typed structs (one `GetAll` or method reply each).
//! Keys nm-mptcp does not use are ignored; a key of the wrong type makes the whole reply a
//! clear error instead of a silent default. Optional keys are `Option`: NetworkManager 1.42
//! lacks some that later versions have, and profiles omit settings at their default.

use zbus::zvariant::{DeserializeDict, OwnedObjectPath, Type};

/// `org.freedesktop.NetworkManager`.
#[derive(Debug, Default, DeserializeDict, Type)]
#[zvariant(signature = "a{sv}", crate = "zbus::zvariant")]
pub(super) struct Manager {
    #[zvariant(rename = "Version")]
    pub version: Option<String>,
    #[zvariant(rename = "Startup")]
    pub startup: Option<bool>,
    #[zvariant(rename = "ActiveConnections")]
    pub active_connections: Option<Vec<OwnedObjectPath>>,
}

/// `org.freedesktop.NetworkManager.Connection.Active`.
#[derive(Debug, Default, DeserializeDict, Type)]
#[zvariant(signature = "a{sv}", crate = "zbus::zvariant")]
pub(super) struct ActiveConnection {
    #[zvariant(rename = "Vpn")]
    pub vpn: Option<bool>,
    #[zvariant(rename = "StateFlags")]
    pub state_flags: Option<u32>,
    #[zvariant(rename = "Devices")]
    pub devices: Option<Vec<OwnedObjectPath>>,
    /// The saved profile (`Settings.Connection`) behind the activation.
    #[zvariant(rename = "Connection")]
    pub connection: Option<OwnedObjectPath>,
}

/// `org.freedesktop.NetworkManager.Device`.
#[derive(Debug, DeserializeDict, Type)]
#[zvariant(signature = "a{sv}", crate = "zbus::zvariant")]
pub(super) struct Device {
    #[zvariant(rename = "State")]
    pub state: u32,
    #[zvariant(rename = "Interface")]
    pub interface: Option<String>,
    #[zvariant(rename = "IpInterface")]
    pub ip_interface: Option<String>,
    /// `NMDeviceType`.
    #[zvariant(rename = "DeviceType")]
    pub device_type: Option<u32>,
    #[zvariant(rename = "Driver")]
    pub driver: Option<String>,
    #[zvariant(rename = "DriverVersion")]
    pub driver_version: Option<String>,
    #[zvariant(rename = "HwAddress")]
    pub hw_address: Option<String>,
    #[zvariant(rename = "Dhcp4Config")]
    pub dhcp4_config: Option<OwnedObjectPath>,
    #[zvariant(rename = "Dhcp6Config")]
    pub dhcp6_config: Option<OwnedObjectPath>,
    #[zvariant(rename = "Ip6Config")]
    pub ip6_config: Option<OwnedObjectPath>,
    /// `NMMetered`: 1 yes, 3 guess-yes (0 unknown, 2 no, 4 guess-no).
    #[zvariant(rename = "Metered")]
    pub metered: Option<u32>,
}

impl Device {
    pub fn state(&self) -> DeviceState {
        DeviceState::from_code(self.state)
    }

    /// Metered, for sure or as NetworkManager guesses (phone tethering, WWAN).
    pub fn metered(&self) -> bool {
        matches!(self.metered, Some(1 | 3))
    }
}

/// `NMDeviceState`, as far as nm-mptcp tells the states apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DeviceState {
    /// Unknown, unmanaged, unavailable or disconnected.
    Inactive,
    /// Prepare, config, need-auth: the profile is applied, no IP configuration yet.
    Activating,
    /// IP config, IP check, secondaries, activated: NetworkManager commits IP configuration
    /// (and so endpoints) in these.
    WithIp,
    /// Deactivating or failed.
    Leaving,
}

impl DeviceState {
    pub fn from_code(code: u32) -> DeviceState {
        match code {
            40..=60 => DeviceState::Activating,
            70..=100 => DeviceState::WithIp,
            110.. => DeviceState::Leaving,
            _ => DeviceState::Inactive,
        }
    }
}

/// `org.freedesktop.NetworkManager.DHCP4Config` and `DHCP6Config`.
#[derive(Debug, Default, DeserializeDict, Type)]
#[zvariant(signature = "a{sv}", crate = "zbus::zvariant")]
pub(super) struct DhcpConfig {
    #[zvariant(rename = "Options")]
    pub options: Option<DhcpOptions>,
}

/// The lease, as the DHCP client's options.
#[derive(Debug, Default, DeserializeDict, Type)]
#[zvariant(signature = "a{sv}", crate = "zbus::zvariant")]
pub(super) struct DhcpOptions {
    pub ip_address: Option<String>,
    /// DHCPv6: every leased address, space-separated.
    pub ip6_address: Option<String>,
    pub routers: Option<String>,
}

/// `org.freedesktop.NetworkManager.IP6Config`.
#[derive(Debug, Default, DeserializeDict, Type)]
#[zvariant(signature = "a{sv}", crate = "zbus::zvariant")]
pub(super) struct Ip6Config {
    #[zvariant(rename = "Gateway")]
    pub gateway: Option<String>,
}

/// The applied connection's setting groups (`Device.GetAppliedConnection`).
#[derive(Debug, Clone, Default, DeserializeDict, Type)]
#[zvariant(signature = "a{sa{sv}}", crate = "zbus::zvariant")]
pub(super) struct AppliedSettings {
    pub connection: Option<ConnectionSettings>,
    pub ipv4: Option<IpSettings>,
    pub ipv6: Option<IpSettings>,
}

/// `connection.*`.
#[derive(Debug, Clone, Default, DeserializeDict, Type)]
#[zvariant(
    signature = "a{sv}",
    rename_all = "kebab-case",
    crate = "zbus::zvariant"
)]
pub(super) struct ConnectionSettings {
    pub id: Option<String>,
    pub uuid: Option<String>,
    pub mptcp_flags: Option<u32>,
    /// The controller of a port (`master` before NetworkManager 1.46 named it `controller`).
    pub master: Option<String>,
    pub controller: Option<String>,
}

/// `ipv4.*` and `ipv6.*`.
#[derive(Debug, Clone, Default, DeserializeDict, Type)]
#[zvariant(
    signature = "a{sv}",
    rename_all = "kebab-case",
    crate = "zbus::zvariant"
)]
pub(super) struct IpSettings {
    pub method: Option<String>,
    pub address_data: Option<Vec<AddressData>>,
    pub gateway: Option<String>,
    pub never_default: Option<bool>,
    pub ignore_auto_routes: Option<bool>,
    pub route_table: Option<u32>,
    pub route_data: Option<Vec<RouteData>>,
}

#[derive(Debug, Clone, Default, DeserializeDict, Type)]
#[zvariant(signature = "a{sv}", crate = "zbus::zvariant")]
pub(super) struct AddressData {
    pub address: Option<String>,
}

#[derive(Debug, Clone, Default, DeserializeDict, Type)]
#[zvariant(signature = "a{sv}", crate = "zbus::zvariant")]
pub(super) struct RouteData {
    pub dest: Option<String>,
    pub prefix: Option<u32>,
    pub table: Option<u32>,
    #[zvariant(rename = "type")]
    pub kind: Option<String>,
}

/// An interface name as the kernel knows it, from NetworkManager's D-Bus form: it escapes a
/// backslash as `\\` and other bytes that are not printable UTF-8 as `\ooo` (octal), as
/// `nm_utils_str_utf8safe_escape` does. A name that is not UTF-8 once unescaped stays as
/// NetworkManager wrote it (it then matches no kernel interface, and `plan` shows it).
pub(super) fn interface_name(escaped: &str) -> String {
    if !escaped.contains('\\') {
        return escaped.to_owned();
    }
    let mut bytes = Vec::with_capacity(escaped.len());
    let mut rest = escaped.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        if b != b'\\' {
            bytes.push(b);
            continue;
        }
        let digits = rest
            .iter()
            .take(3)
            .take_while(|d| (b'0'..=b'7').contains(d))
            .count();
        if digits > 0 {
            let value = rest[..digits]
                .iter()
                .fold(0u32, |v, d| v * 8 + u32::from(d - b'0'));
            bytes.push(value as u8);
            rest = &rest[digits..];
        } else if let Some((&next, tail)) = rest.split_first() {
            bytes.push(next);
            rest = tail;
        }
    }
    String::from_utf8(bytes).unwrap_or_else(|_| escaped.to_owned())
}

#[cfg(test)]
mod tests {
    use super::interface_name;

    #[test]
    fn interface_names_are_unescaped_as_networkmanager_escapes_them() {
        assert_eq!(interface_name("e0"), "e0");
        assert_eq!(interface_name(r"a\033[31mX"), "a\u{1b}[31mX");
        assert_eq!(interface_name(r"b\\x"), r"b\x");
        assert_eq!(interface_name(r"t\011b\0"), "t\tb\0");
        assert_eq!(interface_name("ünï"), "ünï");
        // Not UTF-8 once unescaped: left as NetworkManager wrote it.
        assert_eq!(interface_name(r"x\377"), r"x\377");
        // A trailing backslash (never sent) is dropped, not a panic.
        assert_eq!(interface_name("x\\"), "x");
    }

    proptest::proptest! {
        #[test]
        fn fuzz_interface_names_unescape_without_panic(name in "(\\\\|\\[0-7]{0,4}|.){0,20}") {
            let plain = interface_name(&name);
            // Unescaping never makes a name longer.
            proptest::prop_assert!(plain.len() <= name.len());
        }
    }
}
