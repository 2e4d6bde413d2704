//! The status, built from the plan, the kernel, the ledger and the host's facts.

use crate::config::Config;
use crate::flags::EndpointFlags;
use crate::limits::Limits;
use crate::model::{KernelEndpoint, PathManager};
use crate::modified::{ModifiedProfile, MPTCP_FLAGS_KEY};
use crate::ownership::Ledger;
use crate::planner::Plan;

use super::*;
use crate::escape::escaped;

/// What status reports beyond the plan and the kernel's endpoints.
pub struct HostFacts<'a> {
    pub path_manager: Option<PathManager>,
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
    let kernel_drops = ledger.map(|l| l.kernel_drops).unwrap_or_default();
    warnings.extend(host_warnings(plan, kernel, limits, kernel_drops, facts));
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
    kernel_drops: EndpointFlags,
    facts: &HostFacts,
) -> Vec<Warning> {
    let mut warnings = Vec::new();
    if plan.sysctl_enabled == Some(false) {
        warnings.push(Warning::MptcpDisabled);
    }
    if facts.path_manager == Some(PathManager::Userspace) {
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
    let ignored = facts.kernel_release.is_some_and(|r| r < (6, 18))
        || kernel_drops.contains(EndpointFlags::LAMINAR);
    if wants_laminar && ignored {
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
        keep_command: format!(
            "nmcli connection modify {} connection.mptcp-flags {}",
            escaped(&m.profile.uuid),
            ModifiedProfile::flag_words(m.applied_flags)
        ),
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
            metered_as_backup: d.metered_as_backup,
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
