//! Which of NetworkManager's signals a daemon follows, and which of them can change what
//! planning reads.

use zbus::Connection;

use super::{
    BUS_NAME, IFACE_ACTIVE, IFACE_DEVICE, IFACE_DHCP4, IFACE_DHCP6, IFACE_IP6, IFACE_PROPERTIES,
    IFACE_ROOT, IFACE_SETTINGS_CONNECTION,
};
use crate::error::Error;

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

/// Whether a signal of NetworkManager's can change what planning reads (Wi-Fi scans,
/// statistics and profile edits, which take effect only on reapply, cannot).
pub(crate) fn signal_matters(message: &zbus::Message) -> bool {
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

/// Whether a signal says a saved profile changed (`Settings.Connection.Updated`: a modify).
pub(crate) fn profile_updated(message: &zbus::Message) -> bool {
    let header = message.header();
    header.interface().map(|i| i.as_str()) == Some(IFACE_SETTINGS_CONNECTION)
        && header.member().map(|m| m.as_str()) == Some("Updated")
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
