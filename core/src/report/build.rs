//! The status, built from the plan, the kernel, the ledger and the host's facts.

use std::time::Duration;

use crate::config::{Config, LimitSetting};
use crate::counters::{Counters, MEANINGS};
use crate::diagnose::{diagnose, Evidence, RouteAnswer, RouteQuestion};
use crate::flags::EndpointFlags;
use crate::limits::Limits;
use crate::model::{KernelEndpoint, PathManager};
use crate::modified::{ModifiedProfile, MPTCP_FLAGS_KEY};
use crate::ownership::Ledger;
use crate::planner::Plan;
use crate::usage::Connection;

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
    /// Where the configuration is, named by the fix for limits.
    pub config_path: String,
    /// The MPTCP connections now (sock_diag); `None` when they could not be read.
    pub connections: Option<&'a [Connection]>,
    /// The kernel's answers to `diagnose::route_questions`.
    pub routes: &'a [(RouteQuestion, RouteAnswer)],
    pub counters: Option<CounterFacts<'a>>,
}

/// The kernel's MPTCP counters now and what the daemon's history says of them.
pub struct CounterFacts<'a> {
    pub now: &'a Counters,
    pub since_start: Option<&'a Counters>,
    /// What rose lately, and over how long.
    pub lately: Option<(&'a Counters, Duration)>,
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
    let usage = facts.connections.map(Usage::of);
    let endpoints: Vec<EndpointStatus> = kernel
        .iter()
        .map(|k| {
            let (owner, profile) = owner_of(k);
            let used = usage.as_ref().map(|u| u.at(k.address)).unwrap_or_default();
            EndpointStatus {
                connections: used.connections,
                subflows: used.subflows,
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
    let mptcpd = facts
        .mptcpd_running
        .then(|| others_unplanned(plan, kernel, &endpoints));
    warnings.extend(host_warnings(
        plan,
        kernel,
        limits,
        kernel_drops,
        mptcpd,
        facts,
    ));
    warnings.extend(other_managers(&endpoints));
    // Without the connections the counters still speak (joins refused, blackholes,
    // fallbacks): diagnose with none.
    let unknown = Usage::default();
    let evidence = Evidence {
        connections: facts.connections.unwrap_or_default(),
        routes: facts.routes,
        lately: facts.counters.as_ref().and_then(|c| c.lately),
        usage: usage.as_ref().unwrap_or(&unknown),
    };
    warnings.extend(diagnose(
        plan,
        kernel,
        limits,
        &limits_fix(limits, facts),
        &evidence,
    ));
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
        usage,
        counters: facts.counters.as_ref().map(counters),
        warnings,
    }
}

fn host_warnings(
    plan: &Plan,
    kernel: &[KernelEndpoint],
    limits: Limits,
    kernel_drops: EndpointFlags,
    mptcpd_endpoints: Option<Vec<String>>,
    facts: &HostFacts,
) -> Vec<Warning> {
    let mut warnings = Vec::new();
    if plan.sysctl_enabled == Some(false) {
        warnings.push(Warning::MptcpDisabled);
    }
    if facts.path_manager == Some(PathManager::Userspace) {
        warnings.push(Warning::UserspacePathManager);
    }
    if let Some(endpoints) = mptcpd_endpoints {
        warnings.push(Warning::MptcpdRunning { endpoints });
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

/// Others' endpoints that NetworkManager's rules do not make: with mptcpd running, its own.
fn others_unplanned(
    plan: &Plan,
    kernel: &[KernelEndpoint],
    endpoints: &[EndpointStatus],
) -> Vec<String> {
    kernel
        .iter()
        .zip(endpoints)
        .filter(|(k, e)| e.owner == Owner::Other && !plan.endpoints.iter().any(|d| d.is_held_by(k)))
        .map(|(k, e)| match &e.interface {
            Some(interface) => format!("{} id {} on {interface}", k.address, k.id),
            None => format!("{} id {}", k.address, k.id),
        })
        .collect()
}

/// What raises the `subflows` limit, as the configuration sets it.
fn limits_fix(limits: Limits, facts: &HostFacts) -> String {
    let raised = (limits.subflows + 1).min(crate::config::LIMIT_MAX);
    match facts.config.subflows {
        LimitSetting::Keep => format!(
            "raise it (`ip mptcp limits set subflows {raised}`: [limits] subflows is keep in {})",
            escaped(&facts.config_path)
        ),
        _ => format!(
            "set subflows = {raised} under [limits] in {}, then run `nm-mptcp reconcile`",
            escaped(&facts.config_path)
        ),
    }
}

/// The named counters, with their rise since the daemon started.
fn counters(facts: &CounterFacts) -> Vec<CounterStatus> {
    // Only those this kernel has: a counter it lacks is unknown, not 0.
    MEANINGS
        .iter()
        .filter(|m| facts.now.has(m.name))
        .map(|m| CounterStatus {
            counter: m.name.to_owned(),
            meaning: m.words.to_owned(),
            value: facts.now.get(m.name),
            since_start: facts.since_start.map(|s| s.get(m.name)),
        })
        .collect()
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
            mptcp_flags: d.flags,
            flags_source: d.flags_source,
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
