//! NetworkManager over D-Bus (zbus): the bus and its calls (`bus`), the replies as typed
//! dictionaries (`dicts`), reading the view planning starts from (`read`), and the signals a
//! daemon follows (`signals`), and profiles modified since they were applied (`modified`).

mod bus;
mod dicts;
mod modified;
mod prefetch;
mod read;
mod signals;

pub(crate) use bus::{present, system_bus, within};
pub(crate) use modified::{compare as compare_profiles, reapply};
pub(crate) use prefetch::{Fetched, Prefetch};
pub(crate) use read::{read, read_with, Detail};
pub(crate) use signals::{parse as parse_signal, signals};

const BUS_NAME: &str = "org.freedesktop.NetworkManager";
const ROOT_PATH: &str = "/org/freedesktop/NetworkManager";
const IFACE_ROOT: &str = "org.freedesktop.NetworkManager";
const IFACE_ACTIVE: &str = "org.freedesktop.NetworkManager.Connection.Active";
const IFACE_DEVICE: &str = "org.freedesktop.NetworkManager.Device";
const IFACE_DHCP4: &str = "org.freedesktop.NetworkManager.DHCP4Config";
const IFACE_DHCP6: &str = "org.freedesktop.NetworkManager.DHCP6Config";
const IFACE_IP6: &str = "org.freedesktop.NetworkManager.IP6Config";
const IFACE_PROPERTIES: &str = "org.freedesktop.DBus.Properties";
const IFACE_SETTINGS_CONNECTION: &str = "org.freedesktop.NetworkManager.Settings.Connection";
const IFACE_SETTINGS: &str = "org.freedesktop.NetworkManager.Settings";
const IFACE_OBJECT_MANAGER: &str = "org.freedesktop.DBus.ObjectManager";
const SETTINGS_PATH: &str = "/org/freedesktop/NetworkManager/Settings";

/// `NM_ACTIVATION_STATE_FLAG_EXTERNAL`: NetworkManager only watches the device.
const ACTIVATION_FLAG_EXTERNAL: u32 = 0x80;

/// Whether an active connection's `StateFlags` make it external.
fn is_external(state_flags: Option<u32>) -> bool {
    state_flags.unwrap_or(0) & ACTIVATION_FLAG_EXTERNAL != 0
}
