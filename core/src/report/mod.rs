//! What `status` and `plan` show: the model here, built from what was observed and planned
//! (`build`), and rendered for people by one renderer (`render`; JSON is serde's). Names from
//! outside (profiles, interfaces) are escaped before they reach a terminal (`crate::escape`).

mod build;
mod render;
#[cfg(test)]
mod tests;

pub use build::{status, CounterFacts, HostFacts};
pub use render::{change_lines, render_plan, render_status};

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize, Serializer};

use crate::escape::escaped;
use crate::flags::{EndpointFlags, FlagsSource, MptcpFlags};
use crate::limits::Limits;
use crate::model::code;
use crate::model::PathManager;
use crate::nm_version::NmVersion;
use crate::planner::AddressDecision;
use crate::usage::Usage;

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
    LedgerUnreadable { dir: String },
    /// `net.mptcp.enabled` is 0.
    MptcpDisabled,
    /// `net.mptcp.path_manager` is `userspace`: the kernel ignores these endpoints.
    UserspacePathManager,
    /// mptcpd runs: it makes endpoints of its own, listed here (the others' endpoints that
    /// NetworkManager's rules do not make).
    MptcpdRunning { endpoints: Vec<String> },
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
    /// A subflow endpoint's link has no route to the peer of a current connection: the
    /// kernel takes the peer as on-link there, asks for it on that link, and the join never
    /// completes.
    NoRouteToPeer {
        endpoint: IpAddr,
        interface: Option<String>,
        profile: Option<String>,
        peer: IpAddr,
        /// Peers of other current connections with no route there either (one warning an
        /// endpoint, however many peers).
        #[serde(default)]
        other_peers: u32,
        /// The router NetworkManager knows on that link, which the fix routes through.
        gateway: Option<IpAddr>,
        /// Joins from the endpoint waiting for an answer now.
        joins_pending: u32,
        /// Joins sent lately that were not answered (all endpoints; the daemon's history).
        joins_unanswered: Option<u64>,
        /// Adds the route to the profile, so NetworkManager keeps owning it, and applies it.
        command: Option<String>,
    },
    /// Connections this host opened went on as plain TCP: the peer or a middlebox on the
    /// way does not speak MPTCP.
    FallbackToTcp {
        /// Such connections open now.
        connections: u32,
        peers: Vec<String>,
        interfaces: Vec<String>,
        /// The fallback counters that rose lately.
        counters: Vec<CounterRise>,
        minutes: Option<u64>,
    },
    /// Joins failed or were refused lately.
    JoinErrors {
        errors: Vec<CounterRise>,
        minutes: u64,
    },
    /// The kernel saw MPTCP SYNs dropped on the path and opens connections without MPTCP for
    /// a while (`net.mptcp.blackhole_timeout`).
    Blackhole {
        detected: Vec<CounterRise>,
        minutes: u64,
    },
    /// Connections have all the subflows the `subflows` limit allows while subflow
    /// endpoints wait unused.
    SubflowLimitReached {
        connections: u32,
        subflows: u32,
        waiting: Vec<IpAddr>,
        fix: String,
    },
}

/// A kernel counter that rose, in plain words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterRise {
    pub counter: String,
    pub meaning: String,
    pub rise: u64,
}

impl fmt::Display for CounterRise {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ({})", self.rise, self.meaning, self.counter)
    }
}

/// `a, b and c`, for the lists the warnings name.
fn listed(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

fn rises(rises: &[CounterRise]) -> String {
    listed(&rises.iter().map(ToString::to_string).collect::<Vec<_>>())
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
            Warning::MptcpdRunning { endpoints } if endpoints.is_empty() => f.write_str(
                "mptcpd is running: it manages endpoints too (none of its own now); nm-mptcp leaves them alone",
            ),
            Warning::MptcpdRunning { endpoints } => write!(
                f,
                "mptcpd is running and manages endpoints too: {} (nm-mptcp leaves them alone)",
                listed(&endpoints.iter().map(|e| escaped(e)).collect::<Vec<_>>())
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
            Warning::NoRouteToPeer {
                endpoint,
                interface,
                profile,
                peer,
                other_peers,
                gateway,
                joins_pending,
                joins_unanswered,
                command,
            } => {
                let link = interface.as_deref().map_or("its link".to_owned(), escaped);
                write!(
                    f,
                    "subflow endpoint {endpoint} on {link} has no route to {peer}, the peer of a current MPTCP connection: the kernel takes {peer} as on-link there and the join never completes"
                )?;
                if *other_peers > 0 {
                    write!(
                        f,
                        " (nor to {other_peers} other peer(s) of current connections: the same fix for each, or a route to their network)"
                    )?;
                }
                if *joins_pending > 0 {
                    write!(f, " ({joins_pending} join(s) from {endpoint} waiting now)")?;
                }
                if let Some(unanswered) = joins_unanswered.filter(|n| *n > 0) {
                    write!(f, " ({unanswered} join(s) sent lately without an answer)")?;
                }
                match (command, gateway) {
                    (Some(command), Some(gateway)) => write!(
                        f,
                        "; `{command}` routes it through {gateway}, the router NetworkManager knows on {link}"
                    ),
                    _ => write!(
                        f,
                        "; nothing NetworkManager knows on {link} leads to it (no gateway there): give {} a route to {peer} (ipv4.routes or ipv6.routes) or take subflow out of its connection.mptcp-flags",
                        profile
                            .as_deref()
                            .map_or("its profile".to_owned(), |p| format!("profile {p:?}"))
                    ),
                }
            }
            Warning::FallbackToTcp {
                connections,
                peers,
                interfaces,
                counters,
                minutes,
            } => {
                if *connections > 0 {
                    write!(
                        f,
                        "{connections} connection(s) to {} fell back to plain TCP",
                        listed(peers)
                    )?;
                    if !interfaces.is_empty() {
                        write!(
                            f,
                            " on {}",
                            listed(&interfaces.iter().map(|i| escaped(i)).collect::<Vec<_>>())
                        )?;
                    }
                } else {
                    f.write_str("connections fell back to plain TCP")?;
                }
                if let (false, Some(minutes)) = (counters.is_empty(), minutes) {
                    write!(f, " ({} in the last {minutes} min)", rises(counters))?;
                }
                f.write_str(": the peer, or a middlebox on the way, does not speak MPTCP; check the peer (net.mptcp.enabled there) and the path")
            }
            Warning::JoinErrors { errors, minutes } => write!(
                f,
                "joins failed in the last {minutes} min: {}",
                rises(errors)
            ),
            Warning::Blackhole { detected, minutes } => write!(
                f,
                "MPTCP blackhole in the last {minutes} min: {}; a middlebox drops MPTCP SYNs, so the kernel opens connections without MPTCP for net.mptcp.blackhole_timeout seconds",
                rises(detected)
            ),
            Warning::SubflowLimitReached {
                connections,
                subflows,
                waiting,
                fix,
            } => write!(
                f,
                "{connections} connection(s) have the {subflows} subflow(s) the limit allows while endpoint(s) {} wait unused: {fix}",
                listed(&waiting.iter().map(ToString::to_string).collect::<Vec<_>>())
            ),
        }
    }
}

fn profile_source() -> FlagsSource {
    FlagsSource::Profile
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
    /// The MPTCP connections now; `None` when sock_diag could not be read.
    pub usage: Option<Usage>,
    /// The kernel's MPTCP counters; `None` without MPTCP in this kernel.
    pub counters: Option<Vec<CounterStatus>>,
    #[serde(serialize_with = "with_messages")]
    pub warnings: Vec<Warning>,
}

/// One of the kernel's MPTCP counters as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterStatus {
    pub counter: String,
    pub meaning: String,
    pub value: u64,
    /// The rise since the daemon started; `None` without the daemon.
    pub since_start: Option<u64>,
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
    /// MPTCP connections with an established subflow from its address now.
    #[serde(default)]
    pub connections: u32,
    /// Established subflows from its address now.
    #[serde(default)]
    pub subflows: u32,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ProfileStatus {
    pub id: String,
    pub uuid: String,
    pub interface: String,
    /// The endpoint flags its addresses get.
    pub flags: EndpointFlags,
    /// The effective `connection.mptcp-flags`, and where they come from.
    #[serde(default)]
    pub mptcp_flags: MptcpFlags,
    #[serde(default = "profile_source")]
    pub flags_source: FlagsSource,
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
