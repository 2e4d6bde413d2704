//! What a daemon keeps at hand so that an activation's first address finds its profile
//! known: NetworkManager commits a static profile's addresses about a millisecond after the
//! activation appears on the bus, long before a whole read of NetworkManager (ten calls,
//! answered one at a time) returns. The devices and the saved profiles are read at start and
//! kept current from NetworkManager's signals; the activation itself arrives complete in its
//! `InterfacesAdded` signal. A device built from these is provisional (`activating`): the
//! next whole read replaces it, and planning counts it only once its static addresses are in
//! the kernel.

use std::collections::HashMap;

use zbus::zvariant::{OwnedObjectPath, OwnedValue};
use zbus::Connection;

use super::bus::{call, get_all};
use super::dicts::{AppliedSettings, Device};
use super::read::device_from;
use super::{IFACE_ACTIVE, IFACE_DEVICE, IFACE_ROOT, IFACE_SETTINGS_CONNECTION, ROOT_PATH};
use crate::error::Error;
use crate::nm_view::NmDevice;

const SETTINGS_PATH: &str = "/org/freedesktop/NetworkManager/Settings";
const IFACE_SETTINGS: &str = "org.freedesktop.NetworkManager.Settings";
const IFACE_OBJECT_MANAGER: &str = "org.freedesktop.DBus.ObjectManager";
/// `NM_ACTIVATION_STATE_FLAG_EXTERNAL`.
const ACTIVATION_FLAG_EXTERNAL: u32 = 0x80;

/// NetworkManager's devices and saved profiles, by object path.
#[derive(Default)]
pub(crate) struct Prefetch {
    devices: HashMap<String, Device>,
    profiles: HashMap<String, AppliedSettings>,
}

impl Prefetch {
    /// Read every device and every saved profile.
    pub(crate) async fn load(bus: &Connection) -> Result<Prefetch, Error> {
        let mut prefetch = Prefetch::default();
        let devices =
            call::<(Vec<OwnedObjectPath>,), _>(bus, ROOT_PATH, IFACE_ROOT, "GetDevices", &())
                .await?
                .map(|(d,)| d)
                .unwrap_or_default();
        for path in devices {
            prefetch.read_device(bus, path.as_str()).await?;
        }
        let profiles = call::<(Vec<OwnedObjectPath>,), _>(
            bus,
            SETTINGS_PATH,
            IFACE_SETTINGS,
            "ListConnections",
            &(),
        )
        .await?
        .map(|(p,)| p)
        .unwrap_or_default();
        for path in profiles {
            prefetch.read_profile(bus, path.as_str()).await?;
        }
        Ok(prefetch)
    }

    /// Whether `follow` or `activation` has a use for this signal.
    pub(crate) fn follows(message: &zbus::Message) -> bool {
        let header = message.header();
        let (Some(interface), Some(member)) = (header.interface(), header.member()) else {
            return false;
        };
        matches!(
            (interface.as_str(), member.as_str()),
            (IFACE_ROOT, "DeviceAdded" | "DeviceRemoved")
                | (IFACE_SETTINGS, "NewConnection" | "ConnectionRemoved")
                | (IFACE_SETTINGS_CONNECTION, "Updated")
                | (IFACE_OBJECT_MANAGER, "InterfacesAdded")
        )
    }

    /// Keep up with a signal of NetworkManager's: devices and profiles added, changed or
    /// removed.
    pub(crate) async fn follow(
        &mut self,
        bus: &Connection,
        message: &zbus::Message,
    ) -> Result<(), Error> {
        let header = message.header();
        let (Some(interface), Some(member), Some(path)) =
            (header.interface(), header.member(), header.path())
        else {
            return Ok(());
        };
        let object = || {
            message
                .body()
                .deserialize::<(OwnedObjectPath,)>()
                .ok()
                .map(|(p,)| p)
        };
        match (interface.as_str(), member.as_str()) {
            (IFACE_ROOT, "DeviceAdded") => {
                if let Some(device) = object() {
                    self.read_device(bus, device.as_str()).await?;
                }
            }
            (IFACE_ROOT, "DeviceRemoved") => {
                if let Some(device) = object() {
                    self.devices.remove(device.as_str());
                }
            }
            (IFACE_SETTINGS, "NewConnection") => {
                if let Some(profile) = object() {
                    self.read_profile(bus, profile.as_str()).await?;
                }
            }
            (IFACE_SETTINGS, "ConnectionRemoved") => {
                if let Some(profile) = object() {
                    self.profiles.remove(profile.as_str());
                }
            }
            (IFACE_SETTINGS_CONNECTION, "Updated") => {
                self.read_profile(bus, path.as_str()).await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// The devices of an activation that just appeared, built from the saved profile it
    /// activates: `None` when the signal is not `InterfacesAdded`; no device for another
    /// object, a VPN, an external activation, or a profile or device not at hand.
    pub(crate) fn activation(&self, message: &zbus::Message) -> Option<Vec<NmDevice>> {
        let header = message.header();
        if header.interface().map(|i| i.as_str()) != Some(IFACE_OBJECT_MANAGER)
            || header.member().map(|m| m.as_str()) != Some("InterfacesAdded")
        {
            return None;
        }
        Some(self.devices_of_activation(message))
    }

    fn devices_of_activation(&self, message: &zbus::Message) -> Vec<NmDevice> {
        type Added = (
            OwnedObjectPath,
            HashMap<String, HashMap<String, OwnedValue>>,
        );
        let Ok((_, interfaces)) = message.body().deserialize::<Added>() else {
            return Vec::new();
        };
        let Some(active) = interfaces.get(IFACE_ACTIVE) else {
            return Vec::new();
        };
        let flag = |key: &str| active.get(key).and_then(|v| bool::try_from(v).ok());
        let flags = active
            .get("StateFlags")
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(0);
        if flag("Vpn") == Some(true) || flags & ACTIVATION_FLAG_EXTERNAL != 0 {
            return Vec::new();
        }
        let path = |v: &OwnedValue| {
            v.try_clone()
                .ok()
                .and_then(|v| OwnedObjectPath::try_from(v).ok())
        };
        let Some(settings) = active
            .get("Connection")
            .and_then(path)
            .and_then(|p| self.profiles.get(p.as_str()))
        else {
            return Vec::new();
        };
        let devices: Vec<OwnedObjectPath> = active
            .get("Devices")
            .and_then(|v| v.try_clone().ok())
            .and_then(|v| Vec::<OwnedObjectPath>::try_from(v).ok())
            .unwrap_or_default();
        devices
            .iter()
            .filter_map(|d| self.devices.get(d.as_str()))
            .map(|props| device_from(props, settings.clone(), false, true))
            .collect()
    }

    async fn read_device(&mut self, bus: &Connection, path: &str) -> Result<(), Error> {
        if let Some(device) = get_all::<Device>(bus, path, IFACE_DEVICE).await? {
            self.devices.insert(path.to_owned(), device);
        }
        Ok(())
    }

    async fn read_profile(&mut self, bus: &Connection, path: &str) -> Result<(), Error> {
        let settings =
            call::<(AppliedSettings,), _>(bus, path, IFACE_SETTINGS_CONNECTION, "GetSettings", &())
                .await?;
        match settings {
            Some((settings,)) => self.profiles.insert(path.to_owned(), settings),
            None => self.profiles.remove(path),
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::nm::dicts::{AddressData, ConnectionSettings, IpSettings};
    use zbus::zvariant::{ObjectPath, Value};

    fn prefetch() -> Prefetch {
        let device = Device {
            state: 30,
            interface: Some("e0".into()),
            ip_interface: None,
            device_type: Some(1),
            driver: Some("veth".into()),
            driver_version: None,
            hw_address: None,
            dhcp4_config: None,
            dhcp6_config: None,
            ip6_config: None,
        };
        let settings = AppliedSettings {
            connection: Some(ConnectionSettings {
                id: Some("p0".into()),
                uuid: Some("u0".into()),
                mptcp_flags: Some(0x20),
                ..ConnectionSettings::default()
            }),
            ipv4: Some(IpSettings {
                method: Some("manual".into()),
                address_data: Some(vec![AddressData {
                    address: Some("10.0.0.2".into()),
                }]),
                ..IpSettings::default()
            }),
            ipv6: None,
        };
        Prefetch {
            devices: [("/org/freedesktop/NetworkManager/Devices/2".into(), device)].into(),
            profiles: [(
                "/org/freedesktop/NetworkManager/Settings/1".into(),
                settings,
            )]
            .into(),
        }
    }

    fn interfaces_added(active: HashMap<&str, Value<'_>>) -> zbus::Message {
        let interfaces: HashMap<&str, HashMap<&str, Value>> = [(IFACE_ACTIVE, active)].into();
        zbus::Message::signal("/org/freedesktop", IFACE_OBJECT_MANAGER, "InterfacesAdded")
            .unwrap()
            .build(&(
                ObjectPath::try_from("/org/freedesktop/NetworkManager/ActiveConnection/3").unwrap(),
                interfaces,
            ))
            .unwrap()
    }

    fn activation(vpn: bool, flags: u32, profile: &str) -> zbus::Message {
        interfaces_added(
            [
                (
                    "Connection",
                    Value::from(ObjectPath::try_from(profile).unwrap()),
                ),
                (
                    "Devices",
                    Value::from(vec![ObjectPath::try_from(
                        "/org/freedesktop/NetworkManager/Devices/2",
                    )
                    .unwrap()]),
                ),
                ("Vpn", Value::from(vpn)),
                ("StateFlags", Value::from(flags)),
            ]
            .into(),
        )
    }

    #[test]
    fn an_activation_signal_becomes_a_provisional_device_of_the_saved_profile() {
        let prefetch = prefetch();
        let devices = prefetch
            .activation(&activation(
                false,
                0,
                "/org/freedesktop/NetworkManager/Settings/1",
            ))
            .unwrap();
        assert_eq!(devices.len(), 1);
        let device = &devices[0];
        assert_eq!(
            (device.interface.as_str(), device.profile.id.as_str()),
            ("e0", "p0")
        );
        assert!(device.activating);
        assert_eq!(device.mptcp_flags, 0x20);
        assert_eq!(
            device.ipv4.static_addresses,
            vec!["10.0.0.2".parse::<std::net::IpAddr>().unwrap()]
        );
        assert_eq!(device.matched_as.type_description, "ethernet");

        // A VPN, an external activation, a profile not at hand: no device; another signal: None.
        for message in [
            activation(true, 0, "/org/freedesktop/NetworkManager/Settings/1"),
            activation(false, 0x80, "/org/freedesktop/NetworkManager/Settings/1"),
            activation(false, 0, "/org/freedesktop/NetworkManager/Settings/9"),
            interfaces_added([("Vpn", Value::from("not a boolean"))].into()),
        ] {
            assert_eq!(prefetch.activation(&message).map(|d| d.len()), Some(0));
        }
        let other =
            zbus::Message::signal("/org/freedesktop/NetworkManager", IFACE_ROOT, "DeviceAdded")
                .unwrap()
                .build(&(ObjectPath::try_from("/x").unwrap(),))
                .unwrap();
        assert!(prefetch.activation(&other).is_none());
        assert!(Prefetch::follows(&other));
    }
}
