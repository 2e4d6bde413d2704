//! NetworkManager over D-Bus (zbus): the version, the active connections, and for each of
//! their devices the *applied* connection and DHCP leases. Calls of one level go out
//! concurrently on one connection, so a read costs three round trips, not one per property,
//! and objects a device's methods make irrelevant (a DHCP lease of a static profile) are not
//! asked for at all: NetworkManager answers one call at a time, so every call counts.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use futures_util::future::try_join_all;
use zbus::zvariant::{OwnedObjectPath, OwnedValue};
use zbus::Connection;

use crate::error::Error;
use crate::model::ProfileRef;
use crate::nm_version::NmVersion;

const BUS_NAME: &str = "org.freedesktop.NetworkManager";
const ROOT_PATH: &str = "/org/freedesktop/NetworkManager";
const IFACE_ROOT: &str = "org.freedesktop.NetworkManager";
const IFACE_ACTIVE: &str = "org.freedesktop.NetworkManager.Connection.Active";
const IFACE_DEVICE: &str = "org.freedesktop.NetworkManager.Device";
const IFACE_DHCP4: &str = "org.freedesktop.NetworkManager.DHCP4Config";
const IFACE_DHCP6: &str = "org.freedesktop.NetworkManager.DHCP6Config";
const IFACE_IP6: &str = "org.freedesktop.NetworkManager.IP6Config";
const IFACE_PROPERTIES: &str = "org.freedesktop.DBus.Properties";

/// `NM_ACTIVATION_STATE_FLAG_EXTERNAL`: NetworkManager only watches the device.
const ACTIVATION_FLAG_EXTERNAL: u32 = 0x80;
/// `NM_DEVICE_STATE_IP_CONFIG` .. `NM_DEVICE_STATE_ACTIVATED`: NetworkManager commits
/// IP configuration (and so endpoints) in these states.
const DEVICE_STATES_WITH_IP: std::ops::RangeInclusive<u32> = 70..=100;

/// What NetworkManager told us, before it is combined with the kernel's facts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NmView {
    pub version: Option<NmVersion>,
    /// NetworkManager is still starting (its `Startup` property): devices are not back yet.
    pub starting: bool,
    pub devices: Vec<NmDevice>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NmDevice {
    /// The IP interface (NetworkManager 1.42 does not publish its ifindex on D-Bus).
    pub interface: String,
    pub profile: ProfileRef,
    pub mptcp_flags: u32,
    pub external: bool,
    pub port: bool,
    pub ipv4: NmFamily,
    pub ipv6: NmFamily,
}

/// One family of the applied profile plus what DHCP or router advertisements added.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NmFamily {
    /// `ipvX.method`.
    pub method: String,
    /// `ipvX.address-data`, in profile order.
    pub static_addresses: Vec<String>,
    /// Addresses leased by DHCP.
    pub dhcp_addresses: Vec<String>,
    /// `ipvX.gateway`.
    pub gateway: Option<String>,
    pub never_default: bool,
    pub ignore_auto_routes: bool,
    /// `ipvX.route-table` (0 = main).
    pub route_table: u32,
    /// Static routes: (destination, prefix, table, type).
    pub routes: Vec<StaticRoute>,
    /// A router DHCP (IPv4 `routers`) or a router advertisement (IPv6) offered.
    pub auto_gateway: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StaticRoute {
    pub dest: String,
    pub prefix: u32,
    pub table: u32,
    pub kind: Option<String>,
}

type Props = HashMap<String, OwnedValue>;
type Settings = HashMap<String, HashMap<String, OwnedValue>>;

/// How much of NetworkManager a read covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// What planning needs: devices of external activations (which never get endpoints)
    /// are not read.
    Planning,
    /// Everything `status` shows, external activations included.
    Full,
}

/// Connect and read NetworkManager's view of every active device, within `timeout`.
pub async fn read(timeout: Duration, detail: Detail) -> Result<NmView, Error> {
    within(timeout, async {
        let bus = system_bus().await?;
        read_with(&bus, detail).await
    })
    .await
}

/// `work`, or a clear error once NetworkManager has taken longer than `timeout`.
pub async fn within<T>(
    timeout: Duration,
    work: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| Error::nm(format!("NetworkManager did not answer within {timeout:?}")))?
}

/// The system bus. A `unix:path=` address is connected here, on this thread: zbus would
/// start a thread for the blocking connect, which costs the hook more than the connect.
pub async fn system_bus() -> Result<Connection, Error> {
    let unreachable =
        |e: &dyn std::fmt::Display| Error::nm(format!("cannot reach the system bus: {e}"));
    let builder = match system_bus_socket(std::env::var("DBUS_SYSTEM_BUS_ADDRESS").ok().as_deref())
    {
        Some(path) => {
            let stream = std::os::unix::net::UnixStream::connect(&path)
                .and_then(|s| s.set_nonblocking(true).map(|()| s))
                .and_then(tokio::net::UnixStream::from_std)
                .map_err(|e| unreachable(&format!("{}: {e}", path.display())))?;
            zbus::connection::Builder::unix_stream(stream)
        }
        None => zbus::connection::Builder::system().map_err(|e| unreachable(&e))?,
    };
    builder.build().await.map_err(|e| unreachable(&e))
}

/// The socket of a plain `unix:path=` bus address (the default one when unset); `None` for
/// any other kind of address, which zbus handles.
fn system_bus_socket(address: Option<&str>) -> Option<PathBuf> {
    let Some(address) = address else {
        return Some(PathBuf::from("/var/run/dbus/system_bus_socket"));
    };
    let first = address.split(';').next()?;
    let path = first.strip_prefix("unix:path=")?;
    (!path.is_empty() && !path.contains(',')).then(|| PathBuf::from(path))
}

/// Read NetworkManager's view of every active device over an open bus connection.
pub async fn read_with(bus: &Connection, detail: Detail) -> Result<NmView, Error> {
    let root = get_all(bus, ROOT_PATH, IFACE_ROOT)
        .await
        .map_err(|e| e.context("is NetworkManager running? reading its state"))?;
    let version = prop_str(&root, "Version")?
        .map(|v| v.parse::<NmVersion>().map_err(Error::nm))
        .transpose()?;
    let mut actives = prop_paths(&root, "ActiveConnections")?;
    // Object paths number activations in order; NetworkManager ranks equal priorities by it.
    actives.sort_by_key(|p| activation_number(p.as_str()));

    let active_props = try_join_all(
        actives
            .iter()
            .map(|p| get_all_if_present(bus, p.as_str(), IFACE_ACTIVE)),
    )
    .await?;
    let mut work = Vec::new();
    for props in active_props.iter().flatten() {
        if prop_bool(props, "Vpn")? {
            continue;
        }
        let external = prop_u32(props, "StateFlags")? & ACTIVATION_FLAG_EXTERNAL != 0;
        if external && detail == Detail::Planning {
            continue;
        }
        for device in prop_paths(props, "Devices")? {
            work.push(read_device(bus, device, external));
        }
    }
    let devices = try_join_all(work).await?.into_iter().flatten().collect();
    Ok(NmView {
        version,
        starting: prop_bool(&root, "Startup")?,
        devices,
    })
}

/// Interfaces whose properties and state planning reads.
const PLANNED_INTERFACES: [&str; 6] = [
    IFACE_ROOT,
    IFACE_ACTIVE,
    IFACE_DEVICE,
    IFACE_DHCP4,
    IFACE_DHCP6,
    IFACE_IP6,
];

/// NetworkManager's signals, for a daemon to follow: everything it sends, and its coming and
/// going on the bus.
pub async fn signals(
    bus: &Connection,
) -> Result<(zbus::MessageStream, zbus::MessageStream), Error> {
    let subscribe =
        |e: zbus::Error| Error::nm(format!("cannot follow NetworkManager's signals: {e}"));
    let sent = zbus::MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .sender(BUS_NAME)
        .map_err(subscribe)?
        .build();
    let owner = zbus::MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .sender("org.freedesktop.DBus")
        .and_then(|r| r.interface("org.freedesktop.DBus"))
        .and_then(|r| r.member("NameOwnerChanged"))
        .and_then(|r| r.add_arg(BUS_NAME))
        .map_err(subscribe)?
        .build();
    Ok((
        zbus::MessageStream::for_match_rule(sent, bus, Some(1024))
            .await
            .map_err(subscribe)?,
        zbus::MessageStream::for_match_rule(owner, bus, Some(256))
            .await
            .map_err(subscribe)?,
    ))
}

/// Whether a signal of NetworkManager's can change what planning reads (Wi-Fi scans,
/// statistics and profile edits, which take effect only on reapply, cannot).
pub fn signal_matters(message: &zbus::Message) -> bool {
    let header = message.header();
    let (Some(interface), Some(member)) = (header.interface(), header.member()) else {
        return false;
    };
    let properties_of = (interface.as_str() == IFACE_PROPERTIES)
        .then(|| zbus::fdo::PropertiesChanged::from_message(message.clone()))
        .flatten()
        .and_then(|signal| {
            signal
                .args()
                .ok()
                .map(|args| args.interface_name().to_string())
        });
    changes_planning(
        interface.as_str(),
        member.as_str(),
        properties_of.as_deref(),
    )
}

/// Pure part of `signal_matters`: the signal's interface and member, and for
/// PropertiesChanged the interface whose properties changed.
fn changes_planning(interface: &str, member: &str, properties_of: Option<&str>) -> bool {
    match (interface, member) {
        (IFACE_PROPERTIES, "PropertiesChanged") => {
            properties_of.is_some_and(|i| PLANNED_INTERFACES.contains(&i))
        }
        ("org.freedesktop.DBus.ObjectManager", _) => true,
        (IFACE_ROOT, "DeviceAdded" | "DeviceRemoved") => true,
        (interface, "StateChanged") => PLANNED_INTERFACES.contains(&interface),
        _ => false,
    }
}

/// Whether NetworkManager is on the bus. Its answer also comes after every signal the bus
/// routed to this connection before it, so a daemon that asks has seen them all.
pub async fn present(bus: &Connection) -> Result<bool, Error> {
    let asking = |e: zbus::Error| Error::nm(format!("asking the bus for NetworkManager: {e}"));
    bus.call_method(
        Some("org.freedesktop.DBus"),
        "/org/freedesktop/DBus",
        Some("org.freedesktop.DBus"),
        "NameHasOwner",
        &(BUS_NAME,),
    )
    .await
    .map_err(asking)?
    .body()
    .deserialize::<bool>()
    .map_err(asking)
}

async fn read_device(
    bus: &Connection,
    path: OwnedObjectPath,
    external: bool,
) -> Result<Option<NmDevice>, Error> {
    let (props, applied) = futures_util::try_join!(
        get_all_if_present(bus, path.as_str(), IFACE_DEVICE),
        applied_connection(bus, path.as_str())
    )?;
    let (Some(props), Some(settings)) = (props, applied) else {
        return Ok(None);
    };
    if !DEVICE_STATES_WITH_IP.contains(&prop_u32(&props, "State")?) {
        return Ok(None);
    }
    let interface = prop_str(&props, "IpInterface")?
        .filter(|s| !s.is_empty())
        .or(prop_str(&props, "Interface")?)
        .unwrap_or_default();
    let connection = settings.get("connection").cloned().unwrap_or_default();
    let profile = ProfileRef {
        id: prop_str(&connection, "id")?.unwrap_or_default(),
        uuid: prop_str(&connection, "uuid")?.unwrap_or_default(),
    };
    let port = prop_str(&connection, "master")?.is_some_and(|m| !m.is_empty())
        || prop_str(&connection, "controller")?.is_some_and(|m| !m.is_empty());

    let mut ipv4 = family(&settings, "ipv4")?;
    let mut ipv6 = family(&settings, "ipv6")?;
    // Leases and router advertisements only count where the method asks for them.
    let v4_auto = ipv4.method == "auto";
    let v6_auto = matches!(ipv6.method.as_str(), "auto" | "dhcp");
    let (dhcp4, dhcp6, ip6) = futures_util::try_join!(
        options(bus, &props, "Dhcp4Config", IFACE_DHCP4, v4_auto),
        options(bus, &props, "Dhcp6Config", IFACE_DHCP6, v6_auto),
        options(bus, &props, "Ip6Config", IFACE_IP6, v6_auto),
    )?;
    if let Some(lease) = dhcp4 {
        ipv4.dhcp_addresses.extend(option_str(&lease, "ip_address"));
        ipv4.auto_gateway = option_str(&lease, "routers").is_some_and(|r| !r.trim().is_empty());
    }
    if let Some(lease) = dhcp6 {
        // `ip6_address` holds every leased address, space-separated.
        ipv6.dhcp_addresses.extend(
            option_str(&lease, "ip6_address")
                .iter()
                .flat_map(|all| all.split_whitespace().map(str::to_owned)),
        );
    }
    if let Some(ip6) = ip6 {
        ipv6.auto_gateway = prop_str(&ip6, "Gateway")?.is_some_and(|g| !g.is_empty());
    }

    Ok(Some(NmDevice {
        interface,
        profile,
        mptcp_flags: prop_opt_u32(&connection, "mptcp-flags")?.unwrap_or(0),
        external,
        port,
        ipv4,
        ipv6,
    }))
}

fn family(settings: &Settings, group: &str) -> Result<NmFamily, Error> {
    let Some(s) = settings.get(group) else {
        return Ok(NmFamily {
            method: "disabled".into(),
            ..NmFamily::default()
        });
    };
    let static_addresses = prop_dicts(s, "address-data")?
        .iter()
        .filter_map(|a| prop_str(a, "address").ok().flatten())
        .collect();
    let routes = prop_dicts(s, "route-data")?
        .iter()
        .map(|r| {
            Ok(StaticRoute {
                dest: prop_str(r, "dest")?.unwrap_or_default(),
                prefix: prop_opt_u32(r, "prefix")?.unwrap_or(0),
                table: prop_opt_u32(r, "table")?.unwrap_or(0),
                kind: prop_str(r, "type")?,
            })
        })
        .collect::<Result<_, Error>>()?;
    Ok(NmFamily {
        method: prop_str(s, "method")?.unwrap_or_else(|| "auto".into()),
        static_addresses,
        dhcp_addresses: Vec::new(),
        gateway: prop_str(s, "gateway")?.filter(|g| !g.is_empty()),
        never_default: prop_opt_bool(s, "never-default")?.unwrap_or(false),
        ignore_auto_routes: prop_opt_bool(s, "ignore-auto-routes")?.unwrap_or(false),
        route_table: prop_opt_u32(s, "route-table")?.unwrap_or(0),
        routes,
        auto_gateway: false,
    })
}

fn activation_number(path: &str) -> u64 {
    path.rsplit('/')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(u64::MAX)
}

async fn get_all(bus: &Connection, path: &str, interface: &str) -> Result<Props, Error> {
    get_all_if_present(bus, path, interface)
        .await?
        .ok_or_else(|| Error::nm(format!("{interface} of {path}: no such object")))
}

/// The properties, or `None` when the object went away since it was listed (a connection
/// or device being torn down while the event is read).
async fn get_all_if_present(
    bus: &Connection,
    path: &str,
    interface: &str,
) -> Result<Option<Props>, Error> {
    call_if_present(bus, path, IFACE_PROPERTIES, "GetAll", &(interface,))
        .await
        .map_err(|e| e.context(format!("{interface} of {path}")))
}

/// One call to NetworkManager; `None` when the object has vanished. It never starts
/// NetworkManager: its D-Bus activation file would let any call bring back a NetworkManager
/// an administrator has just stopped.
async fn call_if_present<R, B>(
    bus: &Connection,
    path: &str,
    interface: &str,
    method: &str,
    body: &B,
) -> Result<Option<R>, Error>
where
    R: for<'d> zbus::zvariant::DynamicDeserialize<'d>,
    B: serde::Serialize + zbus::zvariant::DynamicType,
{
    let proxy = zbus::proxy::Builder::<zbus::Proxy>::new(bus)
        .destination(BUS_NAME)
        .and_then(|b| b.path(path))
        .and_then(|b| b.interface(interface))
        .map(|b| b.cache_properties(zbus::proxy::CacheProperties::No))
        .map_err(|e| Error::nm(e.to_string()))?
        .build()
        .await
        .map_err(|e| Error::nm(e.to_string()))?;
    match proxy
        .call_with_flags::<_, _, R>(method, zbus::proxy::MethodFlags::NoAutoStart.into(), body)
        .await
    {
        Ok(reply) => Ok(reply),
        Err(e) if vanished(&e) => Ok(None),
        Err(e) => Err(Error::nm(e.to_string())),
    }
}

/// NetworkManager's answers for an object path that no longer exists, or a device that has
/// no applied connection any more.
fn vanished(e: &zbus::Error) -> bool {
    matches!(e, zbus::Error::MethodError(name, _, _) if matches!(
        name.as_str(),
        "org.freedesktop.DBus.Error.UnknownMethod"
            | "org.freedesktop.DBus.Error.UnknownObject"
            | "org.freedesktop.NetworkManager.Device.NotActive"
    ))
}

/// The applied connection, or `None` when the device has none any more (it went down).
async fn applied_connection(bus: &Connection, path: &str) -> Result<Option<Settings>, Error> {
    call_if_present::<(Settings, u64), _>(bus, path, IFACE_DEVICE, "GetAppliedConnection", &(0u32,))
        .await
        .map(|reply| reply.map(|(settings, _version)| settings))
        .map_err(|e| e.context(format!("GetAppliedConnection of {path}")))
}

/// The properties of the object a device property points at (`/` means none), if `wanted`.
async fn options(
    bus: &Connection,
    device: &Props,
    property: &str,
    interface: &str,
    wanted: bool,
) -> Result<Option<Props>, Error> {
    let Some(path) = prop_path(device, property)?.filter(|_| wanted) else {
        return Ok(None);
    };
    let Some(mut props) = get_all_if_present(bus, path.as_str(), interface).await? else {
        return Ok(None);
    };
    // DHCP configurations keep their lease in an `Options` dictionary.
    match props.remove("Options") {
        Some(options) => {
            Ok(Some(Props::try_from(options).map_err(|e| {
                Error::nm(format!("{interface}.Options: {e}"))
            })?))
        }
        None => Ok(Some(props)),
    }
}

fn option_str(options: &Props, key: &str) -> Option<String> {
    options
        .get(key)
        .and_then(|v| <&str>::try_from(v).ok())
        .map(str::to_owned)
}

fn wrong_type(key: &str, expected: &str, e: impl std::fmt::Display) -> Error {
    Error::nm(format!("property {key} is not {expected}: {e}"))
}

fn prop_str(props: &Props, key: &str) -> Result<Option<String>, Error> {
    props
        .get(key)
        .map(|v| {
            <&str>::try_from(v)
                .map(str::to_owned)
                .map_err(|e| wrong_type(key, "a string", e))
        })
        .transpose()
}

fn prop_opt_u32(props: &Props, key: &str) -> Result<Option<u32>, Error> {
    props
        .get(key)
        .map(|v| u32::try_from(v).map_err(|e| wrong_type(key, "a u32", e)))
        .transpose()
}

fn prop_u32(props: &Props, key: &str) -> Result<u32, Error> {
    prop_opt_u32(props, key)?.ok_or_else(|| Error::nm(format!("property {key} is missing")))
}

fn prop_opt_bool(props: &Props, key: &str) -> Result<Option<bool>, Error> {
    props
        .get(key)
        .map(|v| bool::try_from(v).map_err(|e| wrong_type(key, "a boolean", e)))
        .transpose()
}

fn prop_bool(props: &Props, key: &str) -> Result<bool, Error> {
    Ok(prop_opt_bool(props, key)?.unwrap_or(false))
}

fn prop_path(props: &Props, key: &str) -> Result<Option<OwnedObjectPath>, Error> {
    let Some(value) = props.get(key) else {
        return Ok(None);
    };
    let path = OwnedObjectPath::try_from(
        value
            .try_clone()
            .map_err(|e| wrong_type(key, "a path", e))?,
    )
    .map_err(|e| wrong_type(key, "an object path", e))?;
    Ok((path.as_str() != "/").then_some(path))
}

fn prop_paths(props: &Props, key: &str) -> Result<Vec<OwnedObjectPath>, Error> {
    let Some(value) = props.get(key) else {
        return Ok(Vec::new());
    };
    Vec::<OwnedObjectPath>::try_from(value.try_clone().map_err(|e| wrong_type(key, "paths", e))?)
        .map_err(|e| wrong_type(key, "an array of object paths", e))
}

fn prop_dicts(props: &Props, key: &str) -> Result<Vec<Props>, Error> {
    let Some(value) = props.get(key) else {
        return Ok(Vec::new());
    };
    Vec::<Props>::try_from(
        value
            .try_clone()
            .map_err(|e| wrong_type(key, "a list", e))?,
    )
    .map_err(|e| wrong_type(key, "an array of dictionaries", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use zbus::zvariant::Value;

    fn props(entries: Vec<(&str, Value<'static>)>) -> Props {
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), OwnedValue::try_from(v).unwrap()))
            .collect()
    }

    #[test]
    fn wrong_property_types_are_clear_errors() {
        let p = props(vec![("State", Value::from("activated"))]);
        let err = prop_u32(&p, "State").unwrap_err();
        assert!(err.message.contains("State is not a u32"), "{err}");
        assert!(prop_u32(&props(vec![]), "State").is_err());
        assert_eq!(prop_opt_u32(&props(vec![]), "mptcp-flags").unwrap(), None);
    }

    #[test]
    fn only_signals_about_what_planning_reads_matter() {
        for (interface, member, of, matters) in [
            (
                IFACE_PROPERTIES,
                "PropertiesChanged",
                Some(IFACE_DEVICE),
                true,
            ),
            (
                IFACE_PROPERTIES,
                "PropertiesChanged",
                Some(IFACE_ACTIVE),
                true,
            ),
            (
                IFACE_PROPERTIES,
                "PropertiesChanged",
                Some(IFACE_DHCP4),
                true,
            ),
            (
                IFACE_PROPERTIES,
                "PropertiesChanged",
                Some(IFACE_ROOT),
                true,
            ),
            (
                IFACE_PROPERTIES,
                "PropertiesChanged",
                Some("org.freedesktop.NetworkManager.AccessPoint"),
                false,
            ),
            (
                IFACE_PROPERTIES,
                "PropertiesChanged",
                Some("org.freedesktop.NetworkManager.Device.Statistics"),
                false,
            ),
            (IFACE_PROPERTIES, "PropertiesChanged", None, false),
            (IFACE_DEVICE, "StateChanged", None, true),
            (IFACE_ACTIVE, "StateChanged", None, true),
            (IFACE_ROOT, "DeviceAdded", None, true),
            (
                "org.freedesktop.DBus.ObjectManager",
                "InterfacesRemoved",
                None,
                true,
            ),
            (
                "org.freedesktop.NetworkManager.Settings.Connection",
                "Updated",
                None,
                false,
            ),
            (IFACE_ROOT, "CheckPermissions", None, false),
        ] {
            assert_eq!(
                changes_planning(interface, member, of),
                matters,
                "{interface}.{member} {of:?}"
            );
        }
    }

    #[test]
    fn plain_unix_bus_addresses_are_connected_directly() {
        assert_eq!(
            system_bus_socket(None),
            Some(PathBuf::from("/var/run/dbus/system_bus_socket"))
        );
        assert_eq!(
            system_bus_socket(Some("unix:path=/run/x/bus")),
            Some(PathBuf::from("/run/x/bus"))
        );
        assert_eq!(
            system_bus_socket(Some("unix:path=/a;unix:path=/b")),
            Some(PathBuf::from("/a"))
        );
        for other in [
            "unix:abstract=x",
            "tcp:host=localhost,port=1",
            "unix:path=/a,guid=1",
            "unix:path=",
        ] {
            assert_eq!(system_bus_socket(Some(other)), None, "{other}");
        }
    }

    #[test]
    fn activation_numbers_order_active_connections() {
        assert_eq!(
            activation_number("/org/freedesktop/NetworkManager/ActiveConnection/12"),
            12
        );
        assert_eq!(activation_number("/x/y"), u64::MAX);
    }

    #[test]
    fn family_reads_address_data_routes_and_defaults() {
        let address: HashMap<String, Value<'static>> = [
            ("address".to_owned(), Value::from("192.0.2.2")),
            ("prefix".to_owned(), Value::from(24u32)),
        ]
        .into();
        let route: HashMap<String, Value<'static>> = [
            ("dest".to_owned(), Value::from("0.0.0.0")),
            ("prefix".to_owned(), Value::from(0u32)),
            ("table".to_owned(), Value::from(100u32)),
        ]
        .into();
        let ipv4 = props(vec![
            ("method", Value::from("manual")),
            ("address-data", Value::from(vec![address])),
            ("route-data", Value::from(vec![route])),
            ("gateway", Value::from("192.0.2.1")),
        ]);
        let settings: Settings = [("ipv4".to_owned(), ipv4)].into();
        let f = family(&settings, "ipv4").unwrap();
        assert_eq!(f.method, "manual");
        assert_eq!(f.static_addresses, vec!["192.0.2.2"]);
        assert_eq!(f.gateway.as_deref(), Some("192.0.2.1"));
        assert_eq!(f.routes[0].table, 100);
        assert_eq!(family(&settings, "ipv6").unwrap().method, "disabled");
    }
}
