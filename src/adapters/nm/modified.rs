//! Profiles modified since NetworkManager applied them: `nmcli connection modify` changes
//! the saved profile, and nothing happens until a reapply or a reconnect (NetworkManager, and
//! nm-mptcp, which follows it, act on the applied connection). `status` says so; with
//! `[profiles] apply_on_modify`, the daemon asks NetworkManager to reapply a profile whose
//! only change is `connection.mptcp-flags`.

use std::collections::{BTreeSet, HashMap};

use zbus::zvariant::OwnedValue;
use zbus::Connection;

use super::bus::{call, get_all};
use super::dicts::{interface_name, ActiveConnection, Device, Manager};
use super::{IFACE_ACTIVE, IFACE_DEVICE, IFACE_ROOT, IFACE_SETTINGS_CONNECTION, ROOT_PATH};
use nm_mptcp_core::error::Error;
use nm_mptcp_core::model::ProfileRef;
use nm_mptcp_core::modified::{ComparedProfile, ModifiedProfile};
use nm_mptcp_core::nm_version::NmVersion;

/// A connection's settings, group by group (`a{sa{sv}}`).
type Settings = HashMap<String, HashMap<String, OwnedValue>>;

/// Keys that differ between a saved and an applied connection without a modify: the saved
/// one records when it was last active.
const NOT_A_CHANGE: [(&str, &str); 1] = [("connection", "timestamp")];
const MPTCP_FLAGS: (&str, &str) = ("connection", "mptcp-flags");
/// `NM_DEVICE_REAPPLY_FLAGS_PRESERVE_EXTERNAL_IP`.
const REAPPLY_PRESERVE_EXTERNAL_IP: u32 = 0x1;

/// Every active profile on each of its devices, its saved settings compared with those
/// applied there.
pub(crate) async fn compare(bus: &Connection) -> Result<Vec<ComparedProfile>, Error> {
    let root = get_all::<Manager>(bus, ROOT_PATH, IFACE_ROOT)
        .await?
        .ok_or_else(|| Error::nm("NetworkManager has no root object"))?;
    let mut found = Vec::new();
    for active in root.active_connections.unwrap_or_default() {
        let Some(props) = get_all::<ActiveConnection>(bus, active.as_str(), IFACE_ACTIVE).await?
        else {
            continue;
        };
        let Some(settings_path) = props.connection.filter(|p| p.as_str() != "/") else {
            continue;
        };
        let saved = call::<(Settings,), _>(
            bus,
            settings_path.as_str(),
            IFACE_SETTINGS_CONNECTION,
            "GetSettings",
            &(),
        )
        .await?;
        let Some((saved,)) = saved else { continue };
        for device in props.devices.unwrap_or_default() {
            let applied = call::<(Settings, u64), _>(
                bus,
                device.as_str(),
                IFACE_DEVICE,
                "GetAppliedConnection",
                &(0u32,),
            )
            .await?;
            let Some((applied, version_id)) = applied else {
                continue;
            };
            let changes = differences(&applied, &saved);
            let interface = get_all::<Device>(bus, device.as_str(), IFACE_DEVICE)
                .await?
                .and_then(|d| d.interface)
                .map(|i| interface_name(&i))
                .unwrap_or_default();
            found.push(ComparedProfile {
                profile: ModifiedProfile {
                    profile: ProfileRef {
                        id: string(&saved, "connection", "id"),
                        uuid: string(&saved, "connection", "uuid"),
                    },
                    interface,
                    applied_flags: flags(&applied),
                    saved_flags: flags(&saved),
                    changed: changes,
                },
                saved_path: settings_path.to_string(),
                device: device.to_string(),
                version_id,
            });
        }
    }
    Ok(found)
}

/// Apply the saved `connection.mptcp-flags` on the device, and nothing else: the applied
/// connection with only the flags replaced (as `nmcli device modify` does), unless it changed
/// since it was compared (`version_id`; NetworkManager refuses then too).
pub(crate) async fn reapply(bus: &Connection, compared: &ComparedProfile) -> Result<(), Error> {
    let applied = call::<(Settings, u64), _>(
        bus,
        &compared.device,
        IFACE_DEVICE,
        "GetAppliedConnection",
        &(0u32,),
    )
    .await?;
    let Some((mut settings, version_id)) = applied else {
        return Err(Error::nm("the device has no applied connection any more"));
    };
    if version_id != compared.version_id {
        return Err(Error::nm(
            "the applied connection changed since it was compared",
        ));
    }
    settings
        .entry(MPTCP_FLAGS.0.to_owned())
        .or_default()
        .insert(
            MPTCP_FLAGS.1.to_owned(),
            OwnedValue::from(compared.profile.saved_flags),
        );
    // Only the flags change: what others added to the device (a VRRP address, a route by
    // hand) stays, where NetworkManager can be told so.
    let preserve = get_all::<Manager>(bus, ROOT_PATH, IFACE_ROOT)
        .await?
        .and_then(|m| m.version)
        .and_then(|v| v.parse::<NmVersion>().ok())
        .is_some_and(NmVersion::preserves_external_ip);
    let flags = if preserve {
        REAPPLY_PRESERVE_EXTERNAL_IP
    } else {
        0
    };
    call::<(), _>(
        bus,
        &compared.device,
        IFACE_DEVICE,
        "Reapply",
        &(settings, version_id, flags),
    )
    .await
    .map(|_| ())
}

/// The settings that differ, as `group.key`; an absent `mptcp-flags` is 0, as NetworkManager
/// reads it.
fn differences(applied: &Settings, saved: &Settings) -> BTreeSet<String> {
    let keys = |s: &Settings| -> BTreeSet<(String, String)> {
        s.iter()
            .flat_map(|(g, keys)| keys.keys().map(move |k| (g.clone(), k.clone())))
            .collect()
    };
    let all: BTreeSet<(String, String)> = keys(applied).union(&keys(saved)).cloned().collect();
    all.into_iter()
        .filter(|(g, k)| !NOT_A_CHANGE.contains(&(g.as_str(), k.as_str())))
        .filter(|(g, k)| {
            if (g.as_str(), k.as_str()) == MPTCP_FLAGS {
                return flags(applied) != flags(saved);
            }
            value(applied, g, k) != value(saved, g, k)
        })
        .map(|(g, k)| format!("{g}.{k}"))
        .collect()
}

fn value<'a>(settings: &'a Settings, group: &str, key: &str) -> Option<&'a OwnedValue> {
    settings.get(group).and_then(|keys| keys.get(key))
}

fn flags(settings: &Settings) -> u32 {
    settings
        .get(MPTCP_FLAGS.0)
        .and_then(|keys| keys.get(MPTCP_FLAGS.1))
        .and_then(|v| u32::try_from(v).ok())
        .unwrap_or(0)
}

fn string(settings: &Settings, group: &str, key: &str) -> String {
    settings
        .get(group)
        .and_then(|keys| keys.get(key))
        .and_then(|v| <&str>::try_from(v).ok().map(str::to_owned))
        .unwrap_or_default()
}
