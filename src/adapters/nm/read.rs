//! Reading NetworkManager's view: the version, the active connections, and for each of their
//! devices the *applied* connection and DHCP leases. Calls of one level go out concurrently
//! on one connection, so a read costs three round trips, not one per property, and objects a
//! device's methods make irrelevant (a DHCP lease of a static profile) are not asked for at
//! all: NetworkManager answers one call at a time, so every call counts. Addresses are parsed
//! here; one that does not parse is left out with a warning.

use std::net::IpAddr;
use std::time::Duration;

use futures_util::future::try_join_all;
use zbus::zvariant::OwnedObjectPath;
use zbus::Connection;

use super::bus::{call, get_all, owner_pid, system_bus, within};
use super::dicts::{
    interface_name, ActiveConnection, AppliedSettings, Device, DeviceState, DhcpConfig,
    DhcpOptions, Ip6Config, IpSettings, Manager,
};
use super::{
    is_external, IFACE_ACTIVE, IFACE_DEVICE, IFACE_DHCP4, IFACE_DHCP6, IFACE_IP6, IFACE_ROOT,
    ROOT_PATH,
};
use nm_mptcp_core::error::Error;
use nm_mptcp_core::model::ProfileRef;
use nm_mptcp_core::nm_conf::DeviceMatch;
use nm_mptcp_core::nm_version::NmVersion;
use nm_mptcp_core::nm_view::{Method, NmDevice, NmFamily, NmView, StaticRoute};

/// How much of NetworkManager a read covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Detail {
    /// What planning needs: devices of external activations (which never get endpoints)
    /// are not read.
    Planning,
    /// Everything `status` shows, external activations included.
    Full,
}

/// Connect and read NetworkManager's view of every active device, within `timeout`.
pub(crate) async fn read(timeout: Duration, detail: Detail) -> Result<NmView, Error> {
    within(timeout, async {
        let bus = system_bus().await?;
        read_with(&bus, detail).await
    })
    .await
}

/// Read NetworkManager's view of every active device over an open bus connection.
pub(crate) async fn read_with(bus: &Connection, detail: Detail) -> Result<NmView, Error> {
    let (root, pid) = futures_util::try_join!(
        get_all::<Manager>(bus, ROOT_PATH, IFACE_ROOT),
        owner_pid(bus)
    )
    .map_err(|e| e.context("is NetworkManager running? reading its state"))?;
    let root =
        root.ok_or_else(|| Error::nm(format!("{IFACE_ROOT} of {ROOT_PATH}: no such object")))?;
    let version = root
        .version
        .map(|v| v.parse::<NmVersion>().map_err(Error::nm))
        .transpose()?;
    let mut actives = root.active_connections.unwrap_or_default();
    // Object paths number activations in order; NetworkManager ranks equal priorities by it.
    actives.sort_by_key(|p| activation_number(p.as_str()));

    let active_props = try_join_all(
        actives
            .iter()
            .map(|p| get_all::<ActiveConnection>(bus, p.as_str(), IFACE_ACTIVE)),
    )
    .await?;
    let mut work = Vec::new();
    for active in active_props.into_iter().flatten() {
        // VPN connections are left out: see the README's limits.
        if active.vpn == Some(true) {
            continue;
        }
        let external = is_external(active.state_flags);
        if external && detail == Detail::Planning {
            continue;
        }
        for device in active.devices.unwrap_or_default() {
            work.push(read_device(bus, device, external));
        }
    }
    let devices = try_join_all(work).await?.into_iter().flatten().collect();
    Ok(NmView {
        version,
        starting: root.startup.unwrap_or(false),
        pid,
        devices,
    })
}

async fn read_device(
    bus: &Connection,
    path: OwnedObjectPath,
    external: bool,
) -> Result<Option<NmDevice>, Error> {
    let (props, applied) = futures_util::try_join!(
        get_all::<Device>(bus, path.as_str(), IFACE_DEVICE),
        applied_connection(bus, path.as_str())
    )?;
    let (Some(props), Some(settings)) = (props, applied) else {
        return Ok(None);
    };
    if props.state() != DeviceState::WithIp {
        return Ok(None);
    }
    let mut device = device_from(&props, settings, external, false);
    let interface = device.interface.clone();
    let (ipv4, ipv6) = (&mut device.ipv4, &mut device.ipv6);
    // Leases and router advertisements only count where the method asks for them.
    let v4_auto = ipv4.method.takes_automatic_configuration(false);
    let v6_auto = ipv6.method.takes_automatic_configuration(true);
    let (dhcp4, dhcp6, ip6) = futures_util::try_join!(
        read_if::<DhcpConfig>(bus, props.dhcp4_config, IFACE_DHCP4, v4_auto),
        read_if::<DhcpConfig>(bus, props.dhcp6_config, IFACE_DHCP6, v6_auto),
        read_if::<Ip6Config>(bus, props.ip6_config, IFACE_IP6, v6_auto),
    )?;
    if let Some(lease) = dhcp4.and_then(|c| c.options) {
        ipv4.dhcp_addresses
            .extend(addresses(lease.ip_address.as_deref(), &interface, "DHCPv4"));
        ipv4.auto_gateway = has_router(&lease);
        ipv4.offered_gateway = lease
            .routers
            .as_deref()
            .and_then(|r| r.split_whitespace().next()?.parse().ok());
    }
    if let Some(lease) = dhcp6.and_then(|c| c.options) {
        ipv6.dhcp_addresses.extend(addresses(
            lease.ip6_address.as_deref(),
            &interface,
            "DHCPv6",
        ));
    }
    if let Some(ip6) = ip6 {
        ipv6.offered_gateway = ip6.gateway.as_deref().and_then(|g| g.parse().ok());
        ipv6.auto_gateway = ip6.gateway.is_some_and(|g| !g.is_empty());
    }
    Ok(Some(device))
}

/// A device as planning sees it, from its properties and applied settings, leases aside.
pub(super) fn device_from(
    props: &Device,
    settings: AppliedSettings,
    external: bool,
    activating: bool,
) -> NmDevice {
    let matched_as = DeviceMatch {
        interface: interface_name(props.interface.as_deref().unwrap_or_default()),
        type_description: props
            .device_type
            .map_or("unknown", type_description)
            .to_owned(),
        driver: props.driver.clone().unwrap_or_default(),
        driver_version: props.driver_version.clone().unwrap_or_default(),
        hw_address: props.hw_address.clone().unwrap_or_default(),
    };
    let interface = interface_name(
        props
            .ip_interface
            .as_deref()
            .filter(|s| !s.is_empty())
            .or(props.interface.as_deref())
            .unwrap_or_default(),
    );
    let connection = settings.connection.unwrap_or_default();
    let profile = ProfileRef {
        id: connection.id.unwrap_or_default(),
        uuid: connection.uuid.unwrap_or_default(),
    };
    let port = [&connection.master, &connection.controller]
        .iter()
        .any(|c| c.as_deref().is_some_and(|c| !c.is_empty()));
    NmDevice {
        ipv4: family(settings.ipv4, &interface),
        ipv6: family(settings.ipv6, &interface),
        interface,
        matched_as,
        profile,
        mptcp_flags: connection.mptcp_flags.unwrap_or(0),
        external,
        port,
        activating,
        metered: props.metered(),
    }
}

/// NetworkManager's description of a device type (`NMDeviceType`), which `match-device=type:`
/// compares with: its GObject type name without `NMDevice`, lower case, and `ethernet` for a
/// veth (`get_type_description` in nm-device.c).
fn type_description(device_type: u32) -> &'static str {
    const NAMES: [(u32, &str); 31] = [
        (1, "ethernet"),
        (2, "wifi"),
        (5, "bt"),
        (6, "olpcmesh"),
        (8, "modem"),
        (9, "infiniband"),
        (10, "bond"),
        (11, "vlan"),
        (12, "adsl"),
        (13, "bridge"),
        (14, "generic"),
        (15, "team"),
        (16, "tun"),
        (17, "iptunnel"),
        (18, "macvlan"),
        (19, "vxlan"),
        (20, "ethernet"),
        (21, "macsec"),
        (22, "dummy"),
        (23, "ppp"),
        (24, "ovsinterface"),
        (25, "ovsport"),
        (26, "ovsbridge"),
        (27, "wpan"),
        (28, "6lowpan"),
        (29, "wireguard"),
        (30, "wifip2p"),
        (31, "vrf"),
        (32, "loopback"),
        (33, "hsr"),
        (34, "ipvlan"),
    ];
    NAMES
        .iter()
        .find(|(number, _)| *number == device_type)
        .map_or("unknown", |(_, name)| name)
}

fn has_router(lease: &DhcpOptions) -> bool {
    lease
        .routers
        .as_deref()
        .is_some_and(|r| !r.trim().is_empty())
}

/// One family of the applied connection; a missing group configures nothing.
fn family(settings: Option<IpSettings>, interface: &str) -> NmFamily {
    let Some(s) = settings else {
        return NmFamily::disabled();
    };
    let method = match s.method.as_deref() {
        None => Method::Auto,
        Some(name) => Method::from_name(name).unwrap_or_else(|| {
            tracing::warn!(
                interface,
                method = name,
                "unknown IP method; taking the profile's addresses only"
            );
            Method::Manual
        }),
    };
    let static_addresses = s
        .address_data
        .unwrap_or_default()
        .iter()
        .flat_map(|a| addresses(a.address.as_deref(), interface, "address-data"))
        .collect();
    let routes = s
        .route_data
        .unwrap_or_default()
        .into_iter()
        .filter_map(|r| {
            let dest = addresses(r.dest.as_deref(), interface, "route-data").next()?;
            Some(StaticRoute {
                dest,
                prefix: r.prefix.unwrap_or(0),
                table: r.table.unwrap_or(0),
                kind: r.kind,
            })
        })
        .collect();
    NmFamily {
        method,
        static_addresses,
        dhcp_addresses: Vec::new(),
        gateway: s
            .gateway
            .filter(|g| !g.is_empty())
            .and_then(|g| addresses(Some(&g), interface, "gateway").next()),
        never_default: s.never_default.unwrap_or(false),
        ignore_auto_routes: s.ignore_auto_routes.unwrap_or(false),
        route_table: s.route_table.unwrap_or(0),
        routes,
        auto_gateway: false,
        offered_gateway: None,
    }
}

/// The addresses in `text` (space-separated where a lease holds several); each one that
/// does not parse is left out with a warning naming where it came from.
fn addresses<'a>(
    text: Option<&'a str>,
    interface: &'a str,
    source: &'static str,
) -> impl Iterator<Item = IpAddr> + 'a {
    text.unwrap_or_default()
        .split_whitespace()
        .filter_map(move |word| match word.parse() {
            Ok(address) => Some(address),
            Err(_) => {
                tracing::warn!(
                    interface,
                    source,
                    value = word,
                    "NetworkManager gave an address that does not parse; left out"
                );
                None
            }
        })
}

fn activation_number(path: &str) -> u64 {
    path.rsplit('/')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(u64::MAX)
}

/// The applied connection, or `None` when the device has none any more (it went down).
async fn applied_connection(
    bus: &Connection,
    path: &str,
) -> Result<Option<AppliedSettings>, Error> {
    call::<(AppliedSettings, u64), _>(bus, path, IFACE_DEVICE, "GetAppliedConnection", &(0u32,))
        .await
        .map(|reply| reply.map(|(settings, _version)| settings))
        .map_err(|e| e.context(format!("GetAppliedConnection of {path}")))
}

/// The properties of the object a device property points at (`/` means none), if `wanted`.
async fn read_if<R>(
    bus: &Connection,
    path: Option<OwnedObjectPath>,
    interface: &str,
    wanted: bool,
) -> Result<Option<R>, Error>
where
    R: for<'d> zbus::zvariant::DynamicDeserialize<'d>,
{
    match path.filter(|p| wanted && p.as_str() != "/") {
        Some(path) => get_all(bus, path.as_str(), interface).await,
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::nm::dicts::{AddressData, RouteData};

    #[test]
    fn activation_numbers_order_active_connections() {
        assert_eq!(
            activation_number("/org/freedesktop/NetworkManager/ActiveConnection/12"),
            12
        );
        assert_eq!(activation_number("/x/y"), u64::MAX);
    }

    #[test]
    fn family_parses_addresses_routes_and_defaults_at_the_boundary() {
        let settings = IpSettings {
            method: Some("manual".into()),
            address_data: Some(vec![
                AddressData {
                    address: Some("192.0.2.2".into()),
                },
                AddressData {
                    address: Some("not-an-address".into()),
                },
            ]),
            route_data: Some(vec![RouteData {
                dest: Some("0.0.0.0".into()),
                prefix: Some(0),
                table: Some(100),
                kind: None,
            }]),
            gateway: Some("192.0.2.1".into()),
            ..IpSettings::default()
        };
        let f = family(Some(settings), "e0");
        assert_eq!(f.method, Method::Manual);
        assert_eq!(
            f.static_addresses,
            vec!["192.0.2.2".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(f.gateway, Some("192.0.2.1".parse().unwrap()));
        assert_eq!(f.routes[0].table, 100);
        assert_eq!(family(None, "e0").method, Method::Disabled);
        assert_eq!(
            family(Some(IpSettings::default()), "e0").method,
            Method::Auto
        );
        let odd = IpSettings {
            method: Some("carrier-pigeon".into()),
            ..IpSettings::default()
        };
        assert_eq!(family(Some(odd), "e0").method, Method::Manual);
    }

    #[test]
    fn leases_hold_several_addresses_and_routers() {
        let got: Vec<IpAddr> =
            addresses(Some("2001:db8::5 2001:db8::6 junk"), "e0", "DHCPv6").collect();
        assert_eq!(got.len(), 2);
        let lease = DhcpOptions {
            routers: Some(" ".into()),
            ..DhcpOptions::default()
        };
        assert!(!has_router(&lease));
    }

    #[test]
    fn replies_deserialize_into_typed_dictionaries_and_wrong_types_are_errors() {
        use std::collections::HashMap;
        use zbus::zvariant::{serialized::Context, to_bytes, Value, LE};
        let ctxt = Context::new_dbus(LE, 0);
        let good: HashMap<&str, Value> = [
            ("State", Value::from(100u32)),
            ("Interface", Value::from("e0")),
            ("Unused", Value::from(7u8)),
        ]
        .into();
        let bytes = to_bytes(ctxt, &good).unwrap();
        let device: Device = bytes.deserialize().unwrap().0;
        assert_eq!(
            (device.state, device.interface.as_deref()),
            (100, Some("e0"))
        );
        let wrong: HashMap<&str, Value> = [("State", Value::from("activated"))].into();
        let bytes = to_bytes(ctxt, &wrong).unwrap();
        assert!(bytes.deserialize::<Device>().is_err());
        let missing: HashMap<&str, Value> = HashMap::new();
        let bytes = to_bytes(ctxt, &missing).unwrap();
        assert!(bytes.deserialize::<Device>().is_err());
    }

    /// A D-Bus value as NetworkManager could send it (or a broken NetworkManager could).
    #[derive(Debug, Clone)]
    enum Arb {
        U32(u32),
        I32(i32),
        U8(u8),
        Bool(bool),
        Str(String),
        Strs(Vec<String>),
        Dict(Vec<(String, Arb)>),
        Dicts(Vec<Vec<(String, Arb)>>),
    }

    fn to_value(arb: &Arb) -> zbus::zvariant::Value<'static> {
        use std::collections::HashMap;
        use zbus::zvariant::Value;
        let dict = |entries: &[(String, Arb)]| -> HashMap<String, Value<'static>> {
            entries
                .iter()
                .map(|(k, v)| (k.clone(), to_value(v)))
                .collect()
        };
        match arb {
            Arb::U32(v) => Value::from(*v),
            Arb::I32(v) => Value::from(*v),
            Arb::U8(v) => Value::from(*v),
            Arb::Bool(v) => Value::from(*v),
            Arb::Str(v) => Value::from(v.clone()),
            Arb::Strs(v) => Value::from(v.clone()),
            Arb::Dict(entries) => Value::from(dict(entries)),
            Arb::Dicts(list) => Value::from(list.iter().map(|e| dict(e)).collect::<Vec<_>>()),
        }
    }

    /// Keys the dictionaries read, and some they do not.
    const KEYS: &[&str] = &[
        "State",
        "Interface",
        "IpInterface",
        "DeviceType",
        "Driver",
        "DriverVersion",
        "HwAddress",
        "Dhcp4Config",
        "Dhcp6Config",
        "Ip6Config",
        "Options",
        "ip_address",
        "ip6_address",
        "routers",
        "Gateway",
        "Version",
        "Startup",
        "ActiveConnections",
        "Vpn",
        "StateFlags",
        "Devices",
        "id",
        "uuid",
        "mptcp-flags",
        "master",
        "controller",
        "method",
        "address-data",
        "gateway",
        "never-default",
        "ignore-auto-routes",
        "route-table",
        "route-data",
        "address",
        "dest",
        "prefix",
        "table",
        "type",
        "x-unknown",
    ];

    fn arb_key() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => proptest::sample::select(KEYS).prop_map(str::to_owned),
            1 => ".{0,12}",
        ]
    }

    fn arb_value() -> impl Strategy<Value = Arb> {
        let leaf = prop_oneof![
            any::<u32>().prop_map(Arb::U32),
            any::<i32>().prop_map(Arb::I32),
            any::<u8>().prop_map(Arb::U8),
            any::<bool>().prop_map(Arb::Bool),
            prop_oneof![
                Just("192.0.2.2".to_owned()),
                Just("manual".to_owned()),
                Just("2001:db8::1 junk".to_owned()),
                ".{0,24}"
            ]
            .prop_map(Arb::Str),
            proptest::collection::vec(".{0,8}", 0..3).prop_map(Arb::Strs),
        ];
        leaf.prop_recursive(2, 16, 4, |inner| {
            let entries = move || proptest::collection::vec((arb_key(), inner.clone()), 0..4);
            prop_oneof![
                entries().prop_map(Arb::Dict),
                proptest::collection::vec(entries(), 0..3).prop_map(Arb::Dicts),
            ]
        })
    }

    fn arb_dict() -> impl Strategy<Value = Vec<(String, Arb)>> {
        proptest::collection::vec((arb_key(), arb_value()), 0..8)
    }

    use proptest::prelude::*;

    proptest! {
        /// Whatever NetworkManager answers, each dictionary deserializes or is an error,
        /// and what deserializes is used without a panic.
        #[test]
        fn fuzz_networkmanager_replies_never_panic(
            dict in arb_dict(),
            groups in proptest::collection::vec((prop_oneof![Just("connection".to_owned()), Just("ipv4".to_owned()), Just("ipv6".to_owned()), ".{0,6}"], arb_dict()), 0..4),
        ) {
            use std::collections::HashMap;
            use zbus::zvariant::{serialized::Context, to_bytes, Value, LE};
            let ctxt = Context::new_dbus(LE, 0);
            let map: HashMap<String, Value> = dict.iter().map(|(k, v)| (k.clone(), to_value(v))).collect();
            let bytes = to_bytes(ctxt, &map).unwrap();
            let _ = bytes.deserialize::<Manager>();
            let _ = bytes.deserialize::<ActiveConnection>();
            if let Ok((device, _)) = bytes.deserialize::<Device>() {
                let _ = interface_name(device.interface.as_deref().unwrap_or_default());
                let _ = device.device_type.map(type_description);
            }
            if let Ok((dhcp, _)) = bytes.deserialize::<DhcpConfig>() {
                if let Some(lease) = dhcp.options {
                    let _ = has_router(&lease);
                    let _: Vec<IpAddr> = addresses(lease.ip6_address.as_deref(), "e0", "DHCPv6").collect();
                }
            }
            let _ = bytes.deserialize::<Ip6Config>();
            if let Ok((settings, _)) = bytes.deserialize::<IpSettings>() {
                let _ = family(Some(settings), "e0");
            }
            let applied: HashMap<String, HashMap<String, Value>> = groups
                .iter()
                .map(|(g, d)| (g.clone(), d.iter().map(|(k, v)| (k.clone(), to_value(v))).collect()))
                .collect();
            let bytes = to_bytes(ctxt, &applied).unwrap();
            if let Ok((settings, _)) = bytes.deserialize::<AppliedSettings>() {
                let _ = family(settings.ipv4, "e0");
                let _ = family(settings.ipv6, "e0");
            }
        }

    }
}
