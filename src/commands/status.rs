//! `nm-mptcp status [--json]`: what the kernel holds and who owns it, the limits, and for
//! every profile why each address is or is not an endpoint. Changes nothing; works for any
//! user that can read the system bus and netlink (ownership is then inferred from the plan).

use std::fmt::Write;
use std::fs;
use std::net::IpAddr;

use serde::Serialize;

use crate::config;
use crate::error::Error;
use crate::flags::EndpointFlags;
use crate::kernel::mptcp::MptcpHandle;
use crate::kernel::sysctl;
use crate::ledger::{ledger_readable, read_ledger, run_dir, Ledger};
use crate::limits::Limits;
use crate::model::{code, KernelEndpoint};
use crate::nm::Detail;
use crate::nm_version::NmVersion;
use crate::planner::{AddressDecision, Plan};
use crate::reconcile::{survey, NmSource, Survey};

#[derive(Debug, Serialize)]
pub struct Status {
    pub nm_version: NmVersion,
    pub sysctl: Sysctl,
    pub limits: Limits,
    pub endpoints: Vec<EndpointStatus>,
    pub profiles: Vec<ProfileStatus>,
    pub rp_filter: Vec<RpFilterStatus>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Sysctl {
    pub enabled: Option<bool>,
    pub path_manager: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct EndpointStatus {
    pub id: u8,
    pub address: IpAddr,
    pub interface: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    pub flags: EndpointFlags,
    /// `nm-mptcp` for endpoints in its ledger, otherwise `other`.
    pub owner: &'static str,
    /// The owning profile's name (`connection.id`).
    pub profile: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ProfileStatus {
    pub id: String,
    pub uuid: String,
    pub interface: String,
    pub flags: EndpointFlags,
    pub addresses: Vec<AddressDecision>,
}

#[derive(Debug, Serialize)]
pub struct RpFilterStatus {
    pub interface: String,
    pub value: Option<u8>,
    pub relaxed_by_nm_mptcp: bool,
}

pub async fn run(args: &[String]) -> Result<(), Error> {
    let json = super::json_flag("status", args)?;
    let config = config::load(&config::path())?;
    let dir = run_dir();
    let ledger_known = ledger_readable(&dir);
    let ledger = if ledger_known {
        read_ledger(&dir)
    } else {
        Ledger::default()
    };
    let mut mptcp = MptcpHandle::connect()?;
    let survey = survey(
        config,
        &mut mptcp,
        &ledger,
        None,
        NmSource::Read(Detail::Full),
    )
    .await?;
    let status = build(&survey, &ledger, ledger_known, &facts());
    super::print(&status, json, render)
}

/// Host facts status reports beyond the survey.
pub struct Facts {
    pub path_manager: Option<String>,
    pub kernel_release: Option<(u32, u32)>,
    pub mptcpd_running: bool,
    pub interface_name: fn(u32) -> Option<String>,
    pub rp_filter: fn(&str) -> Option<u8>,
}

fn facts() -> Facts {
    Facts {
        path_manager: sysctl::path_manager(),
        kernel_release: fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .and_then(|r| {
                let mut parts = r.trim().split(['.', '-']);
                Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
            }),
        mptcpd_running: process_running("mptcpd"),
        interface_name: |index| {
            nix::net::if_::if_indextoname(index)
                .ok()
                .and_then(|n| n.into_string().ok())
        },
        rp_filter: sysctl::rp_filter,
    }
}

fn process_running(name: &str) -> bool {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .any(|entry| {
            fs::read_to_string(entry.path().join("comm")).is_ok_and(|comm| comm.trim() == name)
        })
}

/// Pure: the status from what was surveyed.
pub fn build(survey: &Survey, ledger: &Ledger, ledger_known: bool, facts: &Facts) -> Status {
    let plan = &survey.plan;
    let mut warnings = Vec::new();
    let owner_of = |k: &KernelEndpoint| -> (bool, Option<String>) {
        if ledger_known {
            return (ledger.owns(k), ledger.profile_of(k).map(|p| p.id.clone()));
        }
        let wanted = plan.endpoints.iter().find(|d| d.is_held_by(k));
        (wanted.is_some(), wanted.map(|d| d.profile.id.clone()))
    };
    if !ledger_known {
        warnings.push(format!(
            "{} is not readable: ownership is inferred from the plan (run as root to read the ledger)",
            run_dir().display()
        ));
    }
    let endpoints: Vec<EndpointStatus> = survey
        .kernel
        .iter()
        .map(|k| {
            let (ours, profile) = owner_of(k);
            EndpointStatus {
                id: k.id,
                address: k.address,
                interface: k.ifindex.and_then(facts.interface_name),
                port: (k.port != 0).then_some(k.port),
                flags: k.flags,
                owner: if ours { "nm-mptcp" } else { "other" },
                profile,
            }
        })
        .collect();

    warnings.extend(host_warnings(survey, facts));
    let ours: Vec<&EndpointStatus> = endpoints.iter().filter(|e| e.owner == "nm-mptcp").collect();
    for other in endpoints.iter().filter(|e| e.owner == "other") {
        if let Some(interface) = &other.interface {
            if ours.iter().any(|o| o.interface.as_ref() == Some(interface)) {
                warnings.push(format!(
                    "endpoint {} (id {}) on {interface} is not nm-mptcp's: another endpoint manager writes on the same interface",
                    other.address, other.id
                ));
            }
        }
    }

    Status {
        nm_version: plan.nm_version,
        sysctl: Sysctl {
            enabled: plan.sysctl_enabled,
            path_manager: facts.path_manager.clone(),
        },
        limits: survey.limits,
        endpoints,
        profiles: profiles(plan),
        rp_filter: rp_filter(plan, ledger, facts),
        warnings,
    }
}

fn host_warnings(survey: &Survey, facts: &Facts) -> Vec<String> {
    let mut warnings = Vec::new();
    if survey.plan.sysctl_enabled == Some(false) {
        warnings.push("net.mptcp.enabled is 0: the kernel refuses MPTCP sockets".to_owned());
    }
    if facts.path_manager.as_deref() == Some("userspace") {
        warnings.push(
            "the userspace path manager is active (net.mptcp.path_manager): the kernel ignores these endpoints"
                .to_owned(),
        );
    }
    if facts.mptcpd_running {
        warnings.push(
            "mptcpd is running: it manages endpoints too; see the endpoints owned by other"
                .to_owned(),
        );
    }
    let subflow_endpoints = survey
        .kernel
        .iter()
        .filter(|k| k.flags.contains(EndpointFlags::SUBFLOW))
        .count() as u32;
    if subflow_endpoints > survey.limits.subflows {
        warnings.push(format!(
            "limits too low: {subflow_endpoints} subflow endpoints but subflows {}",
            survey.limits.subflows
        ));
    }
    let wants_laminar = survey
        .plan
        .endpoints
        .iter()
        .any(|e| e.flags.contains(EndpointFlags::LAMINAR));
    if wants_laminar && facts.kernel_release.is_some_and(|r| r < (6, 18)) {
        warnings
            .push("the laminar endpoint flag needs kernel 6.18; this kernel ignores it".to_owned());
    }
    warnings
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

fn rp_filter(plan: &Plan, ledger: &Ledger, facts: &Facts) -> Vec<RpFilterStatus> {
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

fn render(status: &Status) -> String {
    let mut out = String::new();
    let enabled = match status.sysctl.enabled {
        Some(true) => "1",
        Some(false) => "0",
        None => "missing",
    };
    let _ = writeln!(
        out,
        "NetworkManager {}   net.mptcp.enabled {enabled}   path manager {}",
        status.nm_version,
        status.sysctl.path_manager.as_deref().unwrap_or("unknown")
    );
    let _ = writeln!(
        out,
        "limits: subflows {}, add_addr_accepted {}\n",
        status.limits.subflows, status.limits.add_addr_accepted
    );
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
            e.interface.as_deref().unwrap_or("-"),
            e.flags.to_string(),
            e.owner,
            e.profile.as_deref().unwrap_or("-")
        );
    }
    if status.endpoints.is_empty() {
        let _ = writeln!(out, "(no endpoints)");
    }
    for p in &status.profiles {
        let _ = writeln!(out, "\nprofile {:?} on {} ({})", p.id, p.interface, p.flags);
        for a in &p.addresses {
            let _ = writeln!(
                out,
                "  {:<40} {:<9} {}",
                a.address.to_string(),
                code(&a.decision),
                code(&a.reason)
            );
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
        let _ = writeln!(out, "rp_filter {} = {value}{by}", r.interface);
    }
    if !status.warnings.is_empty() {
        let _ = writeln!(out, "\nwarnings:");
    }
    for w in &status.warnings {
        let _ = writeln!(out, "  - {w}");
    }
    out
}
