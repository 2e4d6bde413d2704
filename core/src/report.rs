//! What `status` and `plan` show, built from what was observed and planned, and rendered for
//! people by one renderer (JSON is serde's). Names from outside (profiles, interfaces) are
//! escaped before they reach a terminal.

use std::fmt::{self, Write};
use std::net::IpAddr;

use serde::{Deserialize, Serialize, Serializer};

use crate::changes::Changes;
use crate::config::Config;
use crate::flags::EndpointFlags;
use crate::limits::Limits;
use crate::model::{code, KernelEndpoint};
use crate::modified::{ModifiedProfile, MPTCP_FLAGS_KEY};
use crate::nm_version::NmVersion;
use crate::ownership::Ledger;
use crate::planner::{AddressDecision, Decision, Plan};

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
        command: String,
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
                ..
            } => {
                write!(
                    f,
                    "profile {profile:?} on {} was modified: connection.mptcp-flags {saved} saved, {applied} applied; `{command}` applies them",
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
    pub path_manager: Option<String>,
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
    pub addresses: Vec<AddressDecision>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RpFilterStatus {
    pub interface: String,
    pub value: Option<u8>,
    pub relaxed_by_nm_mptcp: bool,
}

/// What status reports beyond the plan and the kernel's endpoints.
pub struct HostFacts<'a> {
    pub path_manager: Option<String>,
    /// The kernel's (major, minor).
    pub kernel_release: Option<(u32, u32)>,
    pub mptcpd_running: bool,
    pub interface_name: &'a dyn Fn(u32) -> Option<String>,
    pub rp_filter: &'a dyn Fn(&str) -> Option<u8>,
    /// Active profiles modified since NetworkManager applied them.
    pub modified: &'a [ModifiedProfile],
    /// The run directory, named when the ledger cannot be read.
    pub run_dir: String,
    pub config: &'a Config,
}

/// The status of the host. `ledger` is `None` when it could not be read: owners are then
/// inferred from the plan.
pub fn status(
    plan: &Plan,
    kernel: &[KernelEndpoint],
    limits: Limits,
    ledger: Option<&Ledger>,
    facts: &HostFacts,
) -> Status {
    let owner_of = |k: &KernelEndpoint| -> (Owner, Option<String>) {
        let (ours, profile) = match ledger {
            Some(ledger) => (ledger.owns(k), ledger.profile_of(k).map(|p| p.id.clone())),
            None => {
                let wanted = plan.endpoints.iter().find(|d| d.is_held_by(k));
                (wanted.is_some(), wanted.map(|d| d.profile.id.clone()))
            }
        };
        (if ours { Owner::NmMptcp } else { Owner::Other }, profile)
    };
    let endpoints: Vec<EndpointStatus> = kernel
        .iter()
        .map(|k| {
            let (owner, profile) = owner_of(k);
            EndpointStatus {
                id: k.id,
                address: k.address,
                interface: k.ifindex.and_then(facts.interface_name),
                port: (k.port != 0).then_some(k.port),
                flags: k.flags,
                owner,
                profile,
            }
        })
        .collect();
    let mut warnings = Vec::new();
    if ledger.is_none() {
        warnings.push(Warning::LedgerUnreadable {
            dir: facts.run_dir.clone(),
        });
    }
    warnings.extend(host_warnings(plan, kernel, limits, facts));
    warnings.extend(other_managers(&endpoints));
    warnings.extend(facts.modified.iter().filter_map(modified_warning));
    let empty = Ledger::default();
    Status {
        nm_version: plan.nm_version,
        sysctl: Sysctl {
            enabled: plan.sysctl_enabled,
            path_manager: facts.path_manager.clone(),
        },
        limits,
        limit_settings: LimitSettings {
            subflows: facts.config.subflows.to_string(),
            add_addr_accepted: facts.config.add_addr_accepted.to_string(),
        },
        endpoints,
        profiles: profiles(plan),
        rp_filter: rp_filter(plan, ledger.unwrap_or(&empty), facts),
        warnings,
    }
}

fn host_warnings(
    plan: &Plan,
    kernel: &[KernelEndpoint],
    limits: Limits,
    facts: &HostFacts,
) -> Vec<Warning> {
    let mut warnings = Vec::new();
    if plan.sysctl_enabled == Some(false) {
        warnings.push(Warning::MptcpDisabled);
    }
    if facts.path_manager.as_deref() == Some("userspace") {
        warnings.push(Warning::UserspacePathManager);
    }
    if facts.mptcpd_running {
        warnings.push(Warning::MptcpdRunning);
    }
    let subflow_endpoints = kernel
        .iter()
        .filter(|k| k.flags.contains(EndpointFlags::SUBFLOW))
        .count() as u32;
    if subflow_endpoints > limits.subflows {
        warnings.push(Warning::LimitsTooLow {
            subflow_endpoints,
            subflows: limits.subflows,
        });
    }
    let wants_laminar = plan
        .endpoints
        .iter()
        .any(|e| e.flags.contains(EndpointFlags::LAMINAR));
    if wants_laminar && facts.kernel_release.is_some_and(|r| r < (6, 18)) {
        warnings.push(Warning::LaminarUnsupported);
    }
    warnings
}

/// A profile whose MPTCP flags were modified but not applied.
fn modified_warning(m: &ModifiedProfile) -> Option<Warning> {
    m.flags_modified().then(|| Warning::ProfileModified {
        profile: m.profile.id.clone(),
        uuid: m.profile.uuid.clone(),
        interface: m.interface.clone(),
        applied: ModifiedProfile::flag_words(m.applied_flags),
        saved: ModifiedProfile::flag_words(m.saved_flags),
        other_changes: m
            .changed
            .iter()
            .filter(|k| *k != MPTCP_FLAGS_KEY)
            .cloned()
            .collect(),
        command: format!("nmcli device reapply {}", escaped(&m.interface)),
    })
}

/// Others' endpoints on interfaces where nm-mptcp has endpoints of its own.
fn other_managers(endpoints: &[EndpointStatus]) -> Vec<Warning> {
    let ours_on = |interface: &String| {
        endpoints
            .iter()
            .any(|e| e.owner == Owner::NmMptcp && e.interface.as_ref() == Some(interface))
    };
    endpoints
        .iter()
        .filter(|e| e.owner == Owner::Other)
        .filter_map(|e| {
            let interface = e.interface.as_ref().filter(|i| ours_on(i))?;
            Some(Warning::OtherManagerOnInterface {
                address: e.address,
                id: e.id,
                interface: interface.clone(),
            })
        })
        .collect()
}

fn profiles(plan: &Plan) -> Vec<ProfileStatus> {
    plan.devices
        .iter()
        .map(|d| ProfileStatus {
            id: d.profile.id.clone(),
            uuid: d.profile.uuid.clone(),
            interface: d.interface.clone(),
            flags: d.endpoint_flags,
            addresses: d.addresses.clone(),
        })
        .collect()
}

fn rp_filter(plan: &Plan, ledger: &Ledger, facts: &HostFacts) -> Vec<RpFilterStatus> {
    let mut interfaces: Vec<String> = plan.endpoints.iter().map(|e| e.interface.clone()).collect();
    interfaces.extend(ledger.rp_filter_relaxed.iter().cloned());
    interfaces.sort();
    interfaces.dedup();
    interfaces
        .into_iter()
        .map(|interface| RpFilterStatus {
            value: (facts.rp_filter)(&interface),
            relaxed_by_nm_mptcp: ledger.rp_filter_relaxed.contains(&interface),
            interface,
        })
        .collect()
}

/// A name from outside as a terminal may show it: control characters and backslashes
/// escaped (`\n`, `\u{1b}`, `\\`), everything else as it is. (Quoted names use `{:?}`.)
pub fn escaped(name: &str) -> String {
    escape_where(name, |c| c.is_control() || c == '\\')
}

/// A message for a terminal: control characters escaped (messages quote outside names
/// with `{:?}` already, so backslashes stay as they are).
pub fn terminal_safe(message: &str) -> String {
    escape_where(message, char::is_control)
}

fn escape_where(text: &str, escape: impl Fn(char) -> bool) -> String {
    text.chars()
        .map(|c| {
            if escape(c) {
                c.escape_debug().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// `net.mptcp.enabled` in the words both reports use.
fn sysctl_word(enabled: Option<bool>) -> &'static str {
    match enabled {
        Some(true) => "1",
        Some(false) => "0",
        None => "missing",
    }
}

/// The line both reports open with.
fn header(out: &mut String, nm_version: NmVersion, enabled: Option<bool>) {
    let _ = write!(
        out,
        "NetworkManager {nm_version}   net.mptcp.enabled {}",
        sysctl_word(enabled)
    );
}

/// One address and what became of it, in both reports.
fn address_line(out: &mut String, a: &AddressDecision, verdict: &str) {
    let _ = writeln!(
        out,
        "  {:<40} {:<24} {}",
        a.address.to_string(),
        verdict.trim_end(),
        code(&a.reason)
    );
}

pub fn render_status(status: &Status) -> String {
    let mut out = String::new();
    header(&mut out, status.nm_version, status.sysctl.enabled);
    let _ = writeln!(
        out,
        "   path manager {}",
        status
            .sysctl
            .path_manager
            .as_deref()
            .map_or("unknown".to_owned(), escaped)
    );
    let _ = writeln!(out, "limits: {}\n", status.limits);
    let _ = writeln!(
        out,
        "{:<4} {:<40} {:<16} {:<24} {:<9} PROFILE",
        "ID", "ADDRESS", "INTERFACE", "FLAGS", "OWNER"
    );
    for e in &status.endpoints {
        let address = match e.port {
            Some(port) => format!("{} port {port}", e.address),
            None => e.address.to_string(),
        };
        let _ = writeln!(
            out,
            "{:<4} {:<40} {:<16} {:<24} {:<9} {}",
            e.id,
            address,
            e.interface.as_deref().map_or("-".to_owned(), escaped),
            e.flags.to_string(),
            code(&e.owner),
            e.profile.as_deref().map_or("-".to_owned(), escaped)
        );
    }
    if status.endpoints.is_empty() {
        let _ = writeln!(out, "(no endpoints)");
    }
    for p in &status.profiles {
        let _ = writeln!(
            out,
            "\nprofile {:?} on {} ({})",
            p.id,
            escaped(&p.interface),
            p.flags
        );
        for a in &p.addresses {
            address_line(&mut out, a, &code(&a.decision));
        }
    }
    if !status.rp_filter.is_empty() {
        let _ = writeln!(out);
    }
    for r in &status.rp_filter {
        let value = r.value.map_or("-".to_owned(), |v| v.to_string());
        let by = if r.relaxed_by_nm_mptcp {
            " (relaxed from 1 by nm-mptcp)"
        } else {
            ""
        };
        let _ = writeln!(out, "rp_filter {} = {value}{by}", escaped(&r.interface));
    }
    if !status.warnings.is_empty() {
        let _ = writeln!(out, "\nwarnings:");
    }
    for w in &status.warnings {
        let _ = writeln!(out, "  - {w}");
    }
    out
}

/// `plan`: every device's addresses with their decision, then what would change.
pub fn render_plan(plan: &Plan, changes: &Changes) -> String {
    let mut out = String::new();
    header(&mut out, plan.nm_version, plan.sysctl_enabled);
    let _ = writeln!(out);
    for device in &plan.devices {
        let _ = writeln!(
            out,
            "\n{} (profile {:?}, flags {} from {})",
            escaped(&device.interface),
            device.profile.id,
            device.flags.names().join(","),
            code(&device.flags_source)
        );
        if device.addresses.is_empty() {
            let _ = writeln!(out, "  no addresses");
        }
        for a in &device.addresses {
            let verdict = match a.decision {
                Decision::Endpoint => format!("endpoint {}", device.endpoint_flags),
                Decision::Skipped => "skipped".to_owned(),
            };
            address_line(&mut out, a, &verdict);
        }
    }
    let _ = writeln!(out);
    if changes.is_empty() {
        let _ = writeln!(out, "kernel already matches: nothing to do");
    }
    for line in change_lines(changes) {
        let _ = writeln!(out, "would {line}");
    }
    out
}

/// Each change in `ip mptcp` words, in the order they are made.
pub fn change_lines(changes: &Changes) -> Vec<String> {
    let mut lines: Vec<String> = changes.operations.iter().map(|o| o.to_string()).collect();
    if changes.limits != changes.limits_before {
        lines.push(format!("limits set {}", changes.limits));
    }
    lines.extend(changes.rp_filter.iter().map(|c| c.to_string()));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DesiredEndpoint, ProfileRef};
    use crate::ownership::LedgerEntry;
    use crate::testing::{desired, plan_of};

    fn wanted(address: &str, profile: &str) -> DesiredEndpoint {
        let mut endpoint = desired(address, 2, "e0", EndpointFlags::SUBFLOW);
        endpoint.profile.id = profile.into();
        endpoint
    }

    fn facts<'a>(names: &'a dyn Fn(u32) -> Option<String>) -> HostFacts<'a> {
        HostFacts {
            path_manager: Some("kernel".into()),
            kernel_release: Some((6, 1)),
            mptcpd_running: false,
            interface_name: names,
            rp_filter: &|_| Some(2),
            modified: &[],
            run_dir: "/run/nm-mptcp".into(),
            config: &DEFAULT_CONFIG,
        }
    }

    static DEFAULT_CONFIG: std::sync::LazyLock<Config> = std::sync::LazyLock::new(Config::default);

    const LIMITS: Limits = Limits {
        subflows: 2,
        add_addr_accepted: 0,
    };

    #[test]
    fn owners_come_from_the_ledger_or_else_from_the_plan() {
        let ours = KernelEndpoint::on_device(1, "192.0.2.2", 2, EndpointFlags::SUBFLOW);
        let hand_made = KernelEndpoint::on_device(2, "192.0.2.77", 2, EndpointFlags::SIGNAL);
        let kernel = [ours.clone(), hand_made];
        let plan = plan_of(vec![wanted("192.0.2.2", "p0")]);
        let names = |_| Some("e0".to_owned());
        let ledger = Ledger {
            entries: vec![LedgerEntry::from_kernel(
                &ours,
                "e0",
                Some(ProfileRef {
                    id: "p0".into(),
                    uuid: "u".into(),
                }),
                true,
            )],
            ..Ledger::default()
        };
        for known in [Some(&ledger), None] {
            let s = status(&plan, &kernel, LIMITS, known, &facts(&names));
            let owners: Vec<_> = s
                .endpoints
                .iter()
                .map(|e| (e.owner, e.profile.clone()))
                .collect();
            assert_eq!(
                owners,
                vec![(Owner::NmMptcp, Some("p0".into())), (Owner::Other, None)]
            );
            assert!(s
                .warnings
                .iter()
                .any(|w| w.code() == "other-manager-on-interface"));
            assert_eq!(
                s.warnings
                    .iter()
                    .any(|w| matches!(w, Warning::LedgerUnreadable { .. })),
                known.is_none()
            );
        }
    }

    #[test]
    fn host_problems_are_warned_about_with_stable_codes() {
        let kernel: Vec<KernelEndpoint> = (1..=3)
            .map(|i| {
                KernelEndpoint::on_device(i, &format!("192.0.2.{i}"), 2, EndpointFlags::SUBFLOW)
            })
            .collect();
        let mut plan = plan_of(Vec::new());
        plan.sysctl_enabled = Some(false);
        let names = |_| None;
        let mut facts = facts(&names);
        facts.path_manager = Some("userspace".into());
        facts.mptcpd_running = true;
        let s = status(&plan, &kernel, LIMITS, Some(&Ledger::default()), &facts);
        let codes: Vec<String> = s.warnings.iter().map(Warning::code).collect();
        assert_eq!(
            codes,
            vec![
                "mptcp-disabled",
                "userspace-path-manager",
                "mptcpd-running",
                "limits-too-low"
            ]
        );
        let json = serde_json::to_value(&s).unwrap();
        let too_low = &json["warnings"][3];
        assert_eq!(too_low["code"], "limits-too-low");
        assert_eq!(too_low["subflows"], 2);
        assert_eq!(
            too_low["message"],
            "limits too low: 3 subflow endpoints but subflows 2"
        );
    }

    #[test]
    fn a_modify_without_a_reapply_is_warned_about_with_the_command_that_applies_it() {
        use crate::flags::MptcpFlags;
        let modified = |changed: &[&str], saved: MptcpFlags| ModifiedProfile {
            profile: crate::model::ProfileRef {
                id: "p\n0".into(),
                uuid: "u0".into(),
            },
            interface: "e0".into(),
            applied_flags: MptcpFlags::SUBFLOW.bits(),
            saved_flags: saved.bits(),
            changed: changed.iter().map(|k| k.to_string()).collect(),
        };
        let all = [
            modified(&[MPTCP_FLAGS_KEY], MptcpFlags::SIGNAL | MptcpFlags::SUBFLOW),
            modified(&[MPTCP_FLAGS_KEY, "ipv4.dns"], MptcpFlags::SIGNAL),
            modified(&["ipv4.dns"], MptcpFlags::SUBFLOW),
        ];
        let names = |_| None;
        let mut facts = facts(&names);
        facts.modified = &all;
        let s = status(
            &plan_of(Vec::new()),
            &[],
            LIMITS,
            Some(&Ledger::default()),
            &facts,
        );
        let messages: Vec<String> = s.warnings.iter().map(Warning::to_string).collect();
        assert_eq!(
            messages.len(),
            2,
            "a modify that leaves the flags alone is no MPTCP matter: {messages:?}"
        );
        assert_eq!(
            messages[0],
            "profile \"p\\n0\" on e0 was modified: connection.mptcp-flags signal,subflow saved, subflow applied; `nmcli device reapply e0` applies them"
        );
        assert!(
            messages[1].ends_with("(with its other changes: ipv4.dns)"),
            "{}",
            messages[1]
        );
        assert_eq!(s.warnings[0].code(), "profile-modified");
    }

    #[test]
    fn the_json_reads_back_as_the_same_status() {
        let kernel = [
            KernelEndpoint::on_device(
                1,
                "192.0.2.2",
                2,
                EndpointFlags::SUBFLOW | EndpointFlags::BACKUP,
            ),
            KernelEndpoint::on_device(2, "2001:db8::2", 2, EndpointFlags::from_bits_retain(0x100)),
        ];
        let mut plan = plan_of(vec![wanted("192.0.2.2", "p0")]);
        plan.sysctl_enabled = Some(false);
        let names = |_| Some("e0".to_owned());
        let status = status(&plan, &kernel, LIMITS, None, &facts(&names));
        let json = serde_json::to_string_pretty(&status).unwrap();
        let back: Status = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string_pretty(&back).unwrap(), json);
        assert_eq!(render_status(&back), render_status(&status));
    }

    #[test]
    fn names_from_outside_never_reach_the_terminal_raw() {
        let kernel = [KernelEndpoint::on_device(
            1,
            "192.0.2.2",
            2,
            EndpointFlags::SUBFLOW,
        )];
        let plan = plan_of(vec![wanted(
            "192.0.2.2",
            "evil\n1    192.0.2.99\u{1b}[2J\r\u{7}",
        )]);
        let names = |_| Some("e\u{1b}[31m0".to_owned());
        let s = status(&plan, &kernel, LIMITS, None, &facts(&names));
        let text = render_status(&s);
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert_eq!(text.lines().filter(|l| l.contains("192.0.2.99")).count(), 1);
        assert!(text.contains(r"evil\n1"), "{text}");
        assert_eq!(escaped("enp4s0"), "enp4s0");
        assert_eq!(escaped(r"a\b"), r"a\\b");
        assert_eq!(
            terminal_safe("bad name \"x\u{1b}\""),
            r#"bad name "x\u{1b}""#
        );
    }
}
