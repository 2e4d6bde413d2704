//! What a daemon keeps at hand so that an activation's first address finds its profile
//! known: NetworkManager commits a static profile's addresses about a millisecond after the
//! activation appears on the bus, long before a whole read of NetworkManager (ten calls,
//! answered one at a time) returns. The devices and the saved profiles are read at start and
//! kept current from NetworkManager's signals; the activation itself arrives complete in its
//! `InterfacesAdded` signal. A device built from these is provisional (`activating`): the
//! next whole read replaces it, and planning counts it only once its static addresses are in
//! the kernel.

use std::collections::HashMap;

use nm_mptcp_core::daemon::{Activation, PrefetchChange};
use zbus::zvariant::OwnedObjectPath;
use zbus::Connection;

use super::bus::{call, get_all};
use super::dicts::{AppliedSettings, Device};
use super::read::device_from;
use super::{
    IFACE_DEVICE, IFACE_ROOT, IFACE_SETTINGS, IFACE_SETTINGS_CONNECTION, ROOT_PATH, SETTINGS_PATH,
};
use nm_mptcp_core::error::Error;
use nm_mptcp_core::nm_view::NmDevice;

/// NetworkManager's devices and saved profiles, by object path.
#[derive(Default)]
pub(crate) struct Prefetch {
    devices: HashMap<String, Device>,
    profiles: HashMap<String, AppliedSettings>,
}

/// What a `PrefetchChange` found, for `Prefetch::apply`.
pub(crate) struct Fetched(Found);

/// A device's or a saved profile's properties, `None` when it is gone.
enum Found {
    Device(String, Option<Device>),
    Profile(String, Option<AppliedSettings>),
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
            let change = PrefetchChange::ReadDevice(path.to_string());
            prefetch.apply(Prefetch::fetch(bus, change).await?);
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
            let change = PrefetchChange::ReadProfile(path.to_string());
            prefetch.apply(Prefetch::fetch(bus, change).await?);
        }
        Ok(prefetch)
    }

    /// Read what a change of NetworkManager's devices or profiles asks for.
    pub(crate) async fn fetch(bus: &Connection, change: PrefetchChange) -> Result<Fetched, Error> {
        Ok(Fetched(match change {
            PrefetchChange::ReadDevice(path) => {
                let device = get_all::<Device>(bus, &path, IFACE_DEVICE).await?;
                Found::Device(path, device)
            }
            PrefetchChange::ForgetDevice(path) => Found::Device(path, None),
            PrefetchChange::ReadProfile(path) => {
                let settings = call::<(AppliedSettings,), _>(
                    bus,
                    &path,
                    IFACE_SETTINGS_CONNECTION,
                    "GetSettings",
                    &(),
                )
                .await?;
                Found::Profile(path, settings.map(|(s,)| s))
            }
            PrefetchChange::ForgetProfile(path) => Found::Profile(path, None),
        }))
    }

    pub(crate) fn apply(&mut self, fetched: Fetched) {
        match fetched.0 {
            Found::Device(path, Some(device)) => {
                self.devices.insert(path, device);
            }
            Found::Device(path, None) => {
                self.devices.remove(&path);
            }
            Found::Profile(path, Some(settings)) => {
                self.profiles.insert(path, settings);
            }
            Found::Profile(path, None) => {
                self.profiles.remove(&path);
            }
        }
    }

    /// The devices of an activation, built from the saved profile it activates: none for a
    /// profile or a device not at hand.
    pub(crate) fn devices_of(&self, activation: &Activation) -> Vec<NmDevice> {
        let Some(settings) = self.profiles.get(&activation.profile) else {
            return Vec::new();
        };
        activation
            .devices
            .iter()
            .filter_map(|d| self.devices.get(d))
            .map(|props| device_from(props, settings.clone(), false, true))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::nm::dicts::{AddressData, ConnectionSettings, IpSettings};

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
            metered: Some(3),
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

    #[test]
    fn an_activation_becomes_a_provisional_device_of_the_saved_profile() {
        let mut prefetch = prefetch();
        let activation = Activation {
            profile: "/org/freedesktop/NetworkManager/Settings/1".into(),
            devices: vec!["/org/freedesktop/NetworkManager/Devices/2".into()],
            vpn: false,
            external: false,
        };
        let devices = prefetch.devices_of(&activation);
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
        assert!(device.metered, "NetworkManager guesses it metered");

        // A profile not at hand, or one forgotten since: no device.
        let unknown = Activation {
            profile: "/org/freedesktop/NetworkManager/Settings/9".into(),
            ..activation.clone()
        };
        assert!(prefetch.devices_of(&unknown).is_empty());
        prefetch.apply(Fetched(Found::Profile(activation.profile.clone(), None)));
        assert!(prefetch.devices_of(&activation).is_empty());
    }
}
