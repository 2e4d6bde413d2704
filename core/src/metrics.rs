//! `nm-mptcp metrics`: the status as metrics text for monitoring stacks (Prometheus,
//! node_exporter's textfile collector): OpenMetrics' line syntax and `# EOF`, with the
//! names Prometheus' text format readers check (`promtool check metrics`): the `nm_mptcp_`
//! prefix, `_total` counters, `_info` gauges of 1, one family per meaning with labels for
//! the parts.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::model::code;
use crate::report::{Owner, Status};

/// The whole exposition, ending in `# EOF`.
pub fn render(status: &Status) -> String {
    let mut out = String::new();
    info(&mut out, status);
    endpoints(&mut out, status);
    decisions(&mut out, status);
    limits(&mut out, status);
    warnings(&mut out, status);
    usage(&mut out, status);
    counters(&mut out, status);
    out.push_str("# EOF\n");
    out
}

/// A label value with OpenMetrics' escapes (backslash, double quote, newline); other control
/// characters, which the format cannot escape, as U+FFFD (the output may reach a terminal).
fn label(value: &str) -> String {
    value
        .chars()
        .map(|c| match c {
            '\\' => "\\\\".to_owned(),
            '"' => "\\\"".to_owned(),
            '\n' => "\\n".to_owned(),
            c if c.is_control() => '\u{fffd}'.to_string(),
            c => c.to_string(),
        })
        .collect()
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# TYPE {name} {kind}\n# HELP {name} {help}");
}

/// `name{k="v",...} value`.
fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
    out.push_str(name);
    if !labels.is_empty() {
        let parts: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", label(v)))
            .collect();
        let _ = write!(out, "{{{}}}", parts.join(","));
    }
    let _ = writeln!(out, " {value}");
}

fn info(out: &mut String, s: &Status) {
    // An info metric as a gauge of 1: the text format Prometheus' own tools read has no
    // `info` type.
    family(
        out,
        "nm_mptcp_networkmanager_info",
        "gauge",
        "The NetworkManager version whose rules nm-mptcp follows.",
    );
    sample(
        out,
        "nm_mptcp_networkmanager_info",
        &[("version", &s.nm_version.to_string())],
        1,
    );
    family(
        out,
        "nm_mptcp_sysctl_enabled",
        "gauge",
        "net.mptcp.enabled (1 on, 0 off; absent when the sysctl is missing).",
    );
    if let Some(enabled) = s.sysctl.enabled {
        sample(out, "nm_mptcp_sysctl_enabled", &[], u8::from(enabled));
    }
}

fn endpoints(out: &mut String, s: &Status) {
    family(
        out,
        "nm_mptcp_endpoints",
        "gauge",
        "Kernel MPTCP endpoints by device, flags and owner (nm-mptcp or other).",
    );
    let mut counted: BTreeMap<(String, String, String), u32> = BTreeMap::new();
    for e in &s.endpoints {
        let owner = match e.owner {
            Owner::NmMptcp => "nm-mptcp",
            Owner::Other => "other",
        };
        *counted
            .entry((
                e.interface.clone().unwrap_or_default(),
                e.flags.names().join(","),
                owner.to_owned(),
            ))
            .or_default() += 1;
    }
    for ((device, flags, owner), n) in counted {
        sample(
            out,
            "nm_mptcp_endpoints",
            &[("device", &device), ("flags", &flags), ("owner", &owner)],
            n,
        );
    }
}

fn decisions(out: &mut String, s: &Status) {
    family(
        out,
        "nm_mptcp_address_decisions",
        "gauge",
        "Addresses of active profiles by decision (endpoint or skipped) and reason code.",
    );
    let mut counted: BTreeMap<(String, String), u32> = BTreeMap::new();
    for a in s.profiles.iter().flat_map(|p| &p.addresses) {
        *counted
            .entry((code(&a.decision), code(&a.reason)))
            .or_default() += 1;
    }
    for ((decision, reason), n) in counted {
        sample(
            out,
            "nm_mptcp_address_decisions",
            &[("decision", &decision), ("reason", &reason)],
            n,
        );
    }
}

fn limits(out: &mut String, s: &Status) {
    family(
        out,
        "nm_mptcp_limit_subflows",
        "gauge",
        "The kernel's subflows limit (additional subflows per connection).",
    );
    sample(out, "nm_mptcp_limit_subflows", &[], s.limits.subflows);
    family(
        out,
        "nm_mptcp_limit_add_addr_accepted",
        "gauge",
        "The kernel's add_addr_accepted limit (addresses accepted from each peer).",
    );
    sample(
        out,
        "nm_mptcp_limit_add_addr_accepted",
        &[],
        s.limits.add_addr_accepted,
    );
}

fn warnings(out: &mut String, s: &Status) {
    family(
        out,
        "nm_mptcp_warnings",
        "gauge",
        "Warnings of nm-mptcp status by code.",
    );
    let mut counted: BTreeMap<String, u32> = BTreeMap::new();
    for w in &s.warnings {
        *counted.entry(w.code()).or_default() += 1;
    }
    for (code, n) in counted {
        sample(out, "nm_mptcp_warnings", &[("code", &code)], n);
    }
}

fn usage(out: &mut String, s: &Status) {
    let Some(u) = &s.usage else { return };
    let totals: [(&str, &str, u32); 4] = [
        (
            "nm_mptcp_connections",
            "MPTCP connections open now.",
            u.connections,
        ),
        (
            "nm_mptcp_subflows",
            "Established MPTCP subflows now.",
            u.subflows,
        ),
        (
            "nm_mptcp_connections_fallen_back",
            "Open MPTCP connections that fell back to plain TCP.",
            u.fallen_back,
        ),
        (
            "nm_mptcp_joins_pending",
            "Joins (additional subflows) sent and not answered yet.",
            u.joins_pending,
        ),
    ];
    for (name, help, value) in totals {
        family(out, name, "gauge", help);
        sample(out, name, &[], value);
    }
    family(
        out,
        "nm_mptcp_endpoint_subflows",
        "gauge",
        "Established subflows from each kernel endpoint's address now.",
    );
    for e in &s.endpoints {
        let (id, address) = (e.id.to_string(), e.address.to_string());
        let device = e.interface.clone().unwrap_or_default();
        // The id keeps two endpoints of one address (other ports) apart.
        sample(
            out,
            "nm_mptcp_endpoint_subflows",
            &[("id", &id), ("address", &address), ("device", &device)],
            e.subflows,
        );
    }
}

fn counters(out: &mut String, s: &Status) {
    let Some(counters) = &s.counters else { return };
    // The family named with `_total`, as the text format's readers (promtool,
    // node_exporter's textfile collector) want it; strict OpenMetrics names it without.
    family(
        out,
        "nm_mptcp_kernel_events_total",
        "counter",
        "The kernel's MPTCP counters (MPTcpExt in /proc/net/netstat) by name.",
    );
    for c in counters {
        sample(
            out,
            "nm_mptcp_kernel_events_total",
            &[("counter", &c.counter)],
            c.value,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(label("e\u{1b}[2J\r0"), "e\u{fffd}[2J\u{fffd}0");
        let mut out = String::new();
        sample(&mut out, "m", &[("device", "e\"0")], 1);
        assert_eq!(out, "m{device=\"e\\\"0\"} 1\n");
    }
}
