//! `nm-mptcp plan [--json]`: what nm-mptcp would do and why, for every address; changes nothing.

use std::fmt::Write;

use crate::error::Error;
use crate::model::code;
use crate::planner::Decision;
use crate::reconcile::{self, describe, describe_limits, Outcome};

pub async fn run(args: &[String]) -> Result<(), Error> {
    let json = super::json_flag("plan", args)?;
    let outcome = reconcile::dry_run(None).await?;
    super::print(&outcome, json, render)
}

fn render(outcome: &Outcome) -> String {
    let plan = &outcome.plan;
    let mut out = String::new();
    let sysctl = match plan.sysctl_enabled {
        Some(true) => "on",
        Some(false) => "off",
        None => "missing",
    };
    let _ = writeln!(
        out,
        "NetworkManager {}, net.mptcp.enabled {sysctl}",
        plan.nm_version
    );
    for device in &plan.devices {
        let _ = writeln!(
            out,
            "\n{} (profile {:?}, flags {} from {})",
            device.interface,
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
            let _ = writeln!(
                out,
                "  {:<40} {:<24} {}",
                a.address.to_string(),
                verdict.trim_end(),
                code(&a.reason)
            );
        }
    }
    let _ = writeln!(out);
    if outcome.operations.is_empty()
        && outcome.limits == outcome.limits_before
        && outcome.rp_filter.is_empty()
    {
        let _ = writeln!(out, "kernel already matches: nothing to do");
    }
    for operation in &outcome.operations {
        let _ = writeln!(out, "would {}", describe(operation));
    }
    if outcome.limits != outcome.limits_before {
        let _ = writeln!(out, "would {}", describe_limits(outcome.limits));
    }
    for change in &outcome.rp_filter {
        let _ = writeln!(out, "would set {change}");
    }
    out
}
