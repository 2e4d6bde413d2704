//! Which of NetworkManager's signals a daemon follows, and which of them can change what
//! planning reads.

use std::collections::HashMap;

use nm_mptcp_core::daemon::{Activation, NmSignal};
use zbus::zvariant::OwnedObjectPath;
use zbus::Connection;

use super::dicts::ActiveConnection as ActiveConnectionDict;
use super::{
    is_external, BUS_NAME, IFACE_ACTIVE, IFACE_DEVICE, IFACE_DHCP4, IFACE_DHCP6, IFACE_IP6,
    IFACE_OBJECT_MANAGER, IFACE_PROPERTIES, IFACE_ROOT, IFACE_SETTINGS, IFACE_SETTINGS_CONNECTION,
};
use nm_mptcp_core::error::Error;

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
pub(crate) async fn signals(
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

/// A signal of NetworkManager's as the daemon reads it; `None` for one that changes nothing
/// it uses (Wi-Fi scans, statistics, permissions).
pub(crate) fn parse(message: &zbus::Message) -> Option<NmSignal> {
    let header = message.header();
    let (interface, member) = (header.interface()?, header.member()?);
    let object = || {
        message
            .body()
            .deserialize::<(OwnedObjectPath,)>()
            .ok()
            .map(|(p,)| p.to_string())
    };
    let signal = match (interface.as_str(), member.as_str()) {
        (IFACE_OBJECT_MANAGER, "InterfacesAdded") => {
            activation(message).map_or(NmSignal::ObjectsChanged, NmSignal::ActivationAdded)
        }
        (IFACE_OBJECT_MANAGER, _) => NmSignal::ObjectsChanged,
        // A body that does not parse still says the devices changed.
        (IFACE_ROOT, "DeviceAdded") => {
            object().map_or(NmSignal::PlanningInputChanged, NmSignal::DeviceAdded)
        }
        (IFACE_ROOT, "DeviceRemoved") => {
            object().map_or(NmSignal::PlanningInputChanged, NmSignal::DeviceRemoved)
        }
        (IFACE_SETTINGS, "NewConnection") => NmSignal::ProfileAdded(object()?),
        (IFACE_SETTINGS, "ConnectionRemoved") => NmSignal::ProfileRemoved(object()?),
        (IFACE_SETTINGS_CONNECTION, "Updated") => {
            NmSignal::ProfileUpdated(header.path()?.to_string())
        }
        (IFACE_PROPERTIES, "PropertiesChanged") => {
            let of = zbus::fdo::PropertiesChanged::from_message(message.clone())?
                .args()
                .ok()?
                .interface_name()
                .to_string();
            PLANNED_INTERFACES
                .contains(&of.as_str())
                .then_some(NmSignal::PlanningInputChanged)?
        }
        (interface, "StateChanged") if PLANNED_INTERFACES.contains(&interface) => {
            NmSignal::PlanningInputChanged
        }
        _ => return None,
    };
    Some(signal)
}

/// The active connection an `InterfacesAdded` signal brings, if that is what it brings.
fn activation(message: &zbus::Message) -> Option<Activation> {
    let (_, mut interfaces) = message
        .body()
        .deserialize::<(OwnedObjectPath, HashMap<String, ActiveConnectionDict>)>()
        .ok()?;
    let active = interfaces.remove(IFACE_ACTIVE)?;
    Some(Activation {
        profile: active.connection.map(|p| p.to_string()).unwrap_or_default(),
        devices: active
            .devices
            .unwrap_or_default()
            .iter()
            .map(ToString::to_string)
            .collect(),
        vpn: active.vpn == Some(true),
        external: is_external(active.state_flags),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use zbus::zvariant::{ObjectPath, Value};

    fn signal(interface: &str, member: &str) -> zbus::message::Builder<'static> {
        zbus::Message::signal(
            "/org/freedesktop/NetworkManager/Devices/2",
            interface.to_owned(),
            member.to_owned(),
        )
        .unwrap()
    }

    fn properties_changed(of: &str) -> zbus::Message {
        let changed: HashMap<&str, Value> = HashMap::new();
        signal(IFACE_PROPERTIES, "PropertiesChanged")
            .build(&(of, changed, Vec::<String>::new()))
            .unwrap()
    }

    fn interfaces_added(interfaces: HashMap<&str, HashMap<&str, Value<'_>>>) -> zbus::Message {
        signal(IFACE_OBJECT_MANAGER, "InterfacesAdded")
            .build(&(
                ObjectPath::try_from("/org/freedesktop/NetworkManager/ActiveConnection/3").unwrap(),
                interfaces,
            ))
            .unwrap()
    }

    fn path(p: &str) -> Value<'static> {
        Value::from(ObjectPath::try_from(p.to_owned()).unwrap())
    }

    #[test]
    fn signals_are_read_once_into_what_they_mean_to_the_daemon() {
        for (of, parsed) in [
            (IFACE_DEVICE, Some(NmSignal::PlanningInputChanged)),
            (IFACE_ACTIVE, Some(NmSignal::PlanningInputChanged)),
            (IFACE_DHCP4, Some(NmSignal::PlanningInputChanged)),
            (IFACE_ROOT, Some(NmSignal::PlanningInputChanged)),
            ("org.freedesktop.NetworkManager.AccessPoint", None),
            ("org.freedesktop.NetworkManager.Device.Statistics", None),
        ] {
            assert_eq!(parse(&properties_changed(of)), parsed, "{of}");
        }
        let state = signal(IFACE_DEVICE, "StateChanged")
            .build(&(100u32, 30u32, 0u32))
            .unwrap();
        assert_eq!(parse(&state), Some(NmSignal::PlanningInputChanged));
        let device = "/org/freedesktop/NetworkManager/Devices/7";
        let added = signal(IFACE_ROOT, "DeviceAdded")
            .build(&(ObjectPath::try_from(device).unwrap(),))
            .unwrap();
        assert_eq!(parse(&added), Some(NmSignal::DeviceAdded(device.into())));
        let updated = zbus::Message::signal(
            "/org/freedesktop/NetworkManager/Settings/4",
            IFACE_SETTINGS_CONNECTION,
            "Updated",
        )
        .unwrap()
        .build(&())
        .unwrap();
        assert_eq!(
            parse(&updated),
            Some(NmSignal::ProfileUpdated(
                "/org/freedesktop/NetworkManager/Settings/4".into()
            ))
        );
        let permissions = signal(IFACE_ROOT, "CheckPermissions").build(&()).unwrap();
        assert_eq!(parse(&permissions), None);
        let removed = signal(IFACE_OBJECT_MANAGER, "InterfacesRemoved")
            .build(&(
                ObjectPath::try_from("/x").unwrap(),
                vec![IFACE_ACTIVE.to_owned()],
            ))
            .unwrap();
        assert_eq!(parse(&removed), Some(NmSignal::ObjectsChanged));
    }

    #[test]
    fn an_activation_is_decoded_from_its_typed_dictionary() {
        let active: HashMap<&str, Value> = [
            (
                "Connection",
                path("/org/freedesktop/NetworkManager/Settings/1"),
            ),
            (
                "Devices",
                Value::from(vec![ObjectPath::try_from(
                    "/org/freedesktop/NetworkManager/Devices/2",
                )
                .unwrap()]),
            ),
            ("Vpn", Value::from(false)),
            ("StateFlags", Value::from(0x80u32)),
        ]
        .into();
        let parsed = parse(&interfaces_added([(IFACE_ACTIVE, active)].into()));
        assert_eq!(
            parsed,
            Some(NmSignal::ActivationAdded(Activation {
                profile: "/org/freedesktop/NetworkManager/Settings/1".into(),
                devices: vec!["/org/freedesktop/NetworkManager/Devices/2".into()],
                vpn: false,
                external: true,
            }))
        );
        // Another object, or an activation whose dictionary does not parse: objects changed.
        let device: HashMap<&str, Value> = [("State", Value::from(100u32))].into();
        let wrong: HashMap<&str, Value> = [("Vpn", Value::from("not a boolean"))].into();
        for interfaces in [
            HashMap::from([(IFACE_DEVICE, device)]),
            HashMap::from([(IFACE_ACTIVE, wrong)]),
        ] {
            assert_eq!(
                parse(&interfaces_added(interfaces)),
                Some(NmSignal::ObjectsChanged)
            );
        }
    }
}
