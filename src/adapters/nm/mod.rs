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
pub(crate) use modified::{pending as pending_modifies, reapply, Pending};
pub(crate) use prefetch::Prefetch;
pub(crate) use read::{read, read_with, Detail};
pub(crate) use signals::{profile_updated, signal_matters, signals};

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
