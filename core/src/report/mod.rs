//! What `status` and `plan` show: the model here, built from what was observed and planned
//! (`build`), and rendered for people by one renderer (`render`; JSON is serde's). Names from
//! outside (profiles, interfaces) are escaped before they reach a terminal (`crate::escape`).

mod build;
mod render;
#[cfg(test)]
mod tests;

pub use build::{status, HostFacts};
pub use render::{change_lines, render_plan, render_status};

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize, Serializer};

use crate::escape::escaped;
use crate::flags::EndpointFlags;
use crate::limits::Limits;
use crate::model::code;
use crate::model::PathManager;
use crate::nm_version::NmVersion;
use crate::planner::AddressDecision;

/// Who manages a kernel endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Owner {
    /// In nm-mptcp's ledger (created or adopted).
    #[serde(rename = "nm-mptcp")]
    NmMptcp,
    /// Anyone else: a person, mptcpd, NetworkManager on a device nm-mptcp does not plan for.
    #[serde(rename = "other")]
    Other,
}

/// Something on the host worth a look. In JSON: its stable `code`, its fields and a
/// `message` for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "kebab-case")]
pub enum Warning {
    /// The ledger could not be read (not root): owners are inferred from the plan.
    LedgerUnreadable {
        dir: String,
    },
    /// `net.mptcp.enabled` is 0.
    MptcpDisabled,
    /// `net.mptcp.path_manager` is `userspace`: the kernel ignores these endpoints.
    UserspacePathManager,
    MptcpdRunning,
    /// Another manager's endpoint on an interface where nm-mptcp has endpoints.
    OtherManagerOnInterface {
        address: IpAddr,
        id: u8,
        interface: String,
    },
    /// Fewer subflows allowed than there are subflow endpoints.
    LimitsTooLow {
        subflow_endpoints: u32,
        subflows: u32,
    },
    /// `laminar` endpoints on a kernel before 6.18, which ignores the flag.
    LaminarUnsupported,
    /// An active profile's saved `connection.mptcp-flags` differ from the applied ones
    /// (`nmcli connection modify` without a reapply).
    ProfileModified {
        profile: String,
        uuid: String,
        interface: String,
        applied: String,
        saved: String,
        /// Other settings modified too (`apply_on_modify` leaves such a profile alone).
        other_changes: Vec<String>,
        /// Applies the saved profile.
        command: String,
        /// Saves what is applied instead: the applied side may be the deliberate one (`nmcli
        /// device modify` changes only it), which nm-mptcp never undoes.
        keep_command: String,
    },
}

impl Warning {
    pub fn code(&self) -> String {
        code(self)
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::LedgerUnreadable { dir } => write!(
                f,
                "{} is not readable: ownership is inferred from the plan (run as root to read the ledger)",
                escaped(dir)
            ),
            Warning::MptcpDisabled => {
                f.write_str("net.mptcp.enabled is 0: the kernel refuses MPTCP sockets")
            }
            Warning::UserspacePathManager => f.write_str(
                "the userspace path manager is active (net.mptcp.path_manager): the kernel ignores these endpoints",
            ),
            Warning::MptcpdRunning => f.write_str(
                "mptcpd is running: it manages endpoints too; see the endpoints owned by other",
            ),
            Warning::OtherManagerOnInterface {
                address,
                id,
                interface,
            } => write!(
                f,
                "endpoint {address} (id {id}) on {} is not nm-mptcp's: another endpoint manager writes on the same interface",
                escaped(interface)
            ),
            Warning::LimitsTooLow {
                subflow_endpoints,
                subflows,
            } => write!(
                f,
                "limits too low: {subflow_endpoints} subflow endpoints but subflows {subflows}"
            ),
            Warning::LaminarUnsupported => {
                f.write_str("the laminar endpoint flag needs kernel 6.18; this kernel ignores it")
            }
            Warning::ProfileModified {
                profile,
                interface,
                applied,
                saved,
                other_changes,
                command,
                keep_command,
                ..
            } => {
                write!(
                    f,
                    "profile {profile:?} on {} was modified: connection.mptcp-flags {saved} saved, {applied} applied; `{command}` applies the saved ones, or `{keep_command}` keeps the applied ones (as after `nmcli device modify`)",
                    escaped(interface)
                )?;
                if !other_changes.is_empty() {
                    write!(f, " (with its other changes: {})", other_changes.join(", "))?;
                }
                Ok(())
            }
        }
    }
}

/// Each warning as serde writes it, with its message added.
fn with_messages<S: Serializer>(warnings: &[Warning], serializer: S) -> Result<S::Ok, S::Error> {
    let mut values = Vec::with_capacity(warnings.len());
    for warning in warnings {
        let mut value = serde_json::to_value(warning).map_err(serde::ser::Error::custom)?;
        if let serde_json::Value::Object(fields) = &mut value {
            fields.insert("message".into(), warning.to_string().into());
        }
        values.push(value);
    }
    serializer.collect_seq(values)
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Status {
    pub nm_version: NmVersion,
    pub sysctl: Sysctl,
    pub limits: Limits,
    /// Where the limits come from: the configuration's `auto`, `keep` or a number.
    pub limit_settings: LimitSettings,
    pub endpoints: Vec<EndpointStatus>,
    pub profiles: Vec<ProfileStatus>,
    pub rp_filter: Vec<RpFilterStatus>,
    #[serde(serialize_with = "with_messages")]
    pub warnings: Vec<Warning>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitSettings {
    pub subflows: String,
    pub add_addr_accepted: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Sysctl {
    pub enabled: Option<bool>,
    pub path_manager: Option<PathManager>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct EndpointStatus {
    pub id: u8,
    pub address: IpAddr,
    pub interface: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    pub flags: EndpointFlags,
    pub owner: Owner,
    /// The owning profile's name (`connection.id`).
    pub profile: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ProfileStatus {
    pub id: String,
    pub uuid: String,
    pub interface: String,
    pub flags: EndpointFlags,
    /// `backup` is in `flags` by `[profiles] metered_as_backup`: the device is metered.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub metered_as_backup: bool,
    pub addresses: Vec<AddressDecision>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RpFilterStatus {
    pub interface: String,
    pub value: Option<u8>,
    pub relaxed_by_nm_mptcp: bool,
}
