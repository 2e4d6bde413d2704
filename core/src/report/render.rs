//! `status` and `plan` for people.

use std::fmt::Write;

use crate::changes::Changes;
use crate::flags::FlagsSource;
use crate::model::code;
use crate::nm_version::NmVersion;
use crate::planner::{AddressDecision, Decision, Plan};

use super::*;
use crate::escape::escaped;

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
            .as_ref()
            .map_or("unknown".to_owned(), |pm| escaped(pm.name()))
    );
    let _ = writeln!(out, "limits: {}\n", status.limits);
    let _ = writeln!(
        out,
        "{:<4} {:<40} {:<16} {:<24} {:<9} {:>5} {:>8} PROFILE",
        "ID", "ADDRESS", "INTERFACE", "FLAGS", "OWNER", "CONNS", "SUBFLOWS"
    );
    let used = |n: u32| {
        if status.usage.is_some() {
            n.to_string()
        } else {
            "-".to_owned()
        }
    };
    for e in &status.endpoints {
        let address = match e.port {
            Some(port) => format!("{} port {port}", e.address),
            None => e.address.to_string(),
        };
        let _ = writeln!(
            out,
            "{:<4} {:<40} {:<16} {:<24} {:<9} {:>5} {:>8} {}",
            e.id,
            address,
            e.interface.as_deref().map_or("-".to_owned(), escaped),
            e.flags.to_string(),
            code(&e.owner),
            used(e.connections),
            used(e.subflows),
            e.profile.as_deref().map_or("-".to_owned(), escaped)
        );
    }
    if status.endpoints.is_empty() {
        let _ = writeln!(out, "(no endpoints)");
    }
    traffic(&mut out, status);
    for p in &status.profiles {
        let _ = writeln!(
            out,
            "\nprofile {:?} on {} ({}){}",
            p.id,
            escaped(&p.interface),
            p.flags,
            metered_note(p.metered_as_backup)
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

/// The connections now and the kernel's counters that are not 0.
fn traffic(out: &mut String, status: &Status) {
    match &status.usage {
        Some(u) => {
            let _ = writeln!(
                out,
                "\nMPTCP now: {} connection(s), {} subflow(s), {} fallen back to TCP, {} join(s) waiting",
                u.connections, u.subflows, u.fallen_back, u.joins_pending
            );
        }
        None => {
            let _ = writeln!(out, "\nMPTCP now: unknown (sock_diag could not be read)");
        }
    }
    let Some(counters) = &status.counters else {
        return;
    };
    let shown: Vec<&CounterStatus> = counters.iter().filter(|c| c.value > 0).collect();
    if shown.is_empty() {
        return;
    }
    let since = counters.iter().any(|c| c.since_start.is_some());
    let _ = writeln!(
        out,
        "\nkernel MPTCP counters{}:",
        if since {
            " (+ since the daemon started)"
        } else {
            ""
        }
    );
    for c in shown {
        let rise = c.since_start.map_or(String::new(), |r| format!("+{r}"));
        let _ = writeln!(
            out,
            "  {:>10} {:>8}  {} ({})",
            c.value, rise, c.meaning, c.counter
        );
    }
}

/// Why an endpoint has `backup` that its profile does not ask for.
fn metered_note(metered_as_backup: bool) -> &'static str {
    if metered_as_backup {
        " backup: the device is metered ([profiles] metered_as_backup)"
    } else {
        ""
    }
}

/// `plan`: every device's addresses with their decision, then what would change.
/// `usage`: the connections now, counted on each endpoint's address.
pub fn render_plan(plan: &Plan, changes: &Changes, usage: Option<&Usage>) -> String {
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
            match device.flags_source {
                FlagsSource::Sysctl => "net.mptcp.enabled = 0".to_owned(),
                source => code(&source),
            }
        );
        if device.metered_as_backup {
            let _ = writeln!(out, "  {}", metered_note(true).trim_start());
        }
        if device.addresses.is_empty() {
            let _ = writeln!(out, "  no addresses");
        }
        for a in &device.addresses {
            let verdict = match a.decision {
                Decision::Endpoint => format!("endpoint {}", device.endpoint_flags),
                Decision::Skipped => "skipped".to_owned(),
            };
            address_line(&mut out, a, &verdict);
            if let (Decision::Endpoint, Some(usage)) = (a.decision, usage) {
                let used = usage.at(a.address);
                let _ = writeln!(
                    out,
                    "    used now by {} connection(s), {} subflow(s)",
                    used.connections, used.subflows
                );
            }
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
