//! The status and plan, built and rendered.

use super::*;
use crate::config::Config;
use crate::escape::{escaped, terminal_safe};
use crate::flags::EndpointFlags;
use crate::limits::Limits;
use crate::model::KernelEndpoint;
use crate::model::{DesiredEndpoint, ProfileRef};
use crate::modified::{ModifiedProfile, MPTCP_FLAGS_KEY};
use crate::ownership::Ledger;
use crate::ownership::LedgerEntry;
use crate::testing::{desired, plan_of};

fn wanted(address: &str, profile: &str) -> DesiredEndpoint {
    let mut endpoint = desired(address, 2, "e0", EndpointFlags::SUBFLOW);
    endpoint.profile.id = profile.into();
    endpoint
}

fn facts<'a>(names: &'a dyn Fn(u32) -> Option<String>) -> HostFacts<'a> {
    HostFacts {
        path_manager: Some(PathManager::Kernel),
        kernel_release: Some((6, 1)),
        mptcpd_running: false,
        interface_name: names,
        rp_filter: &|_| Some(2),
        modified: &[],
        run_dir: "/run/nm-mptcp".into(),
        config: &DEFAULT_CONFIG,
        config_path: "/etc/nm-mptcp/config.toml".into(),
        connections: Some(&[]),
        routes: &[],
        counters: None,
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
        .map(|i| KernelEndpoint::on_device(i, &format!("192.0.2.{i}"), 2, EndpointFlags::SUBFLOW))
        .collect();
    let mut plan = plan_of(Vec::new());
    plan.sysctl_enabled = Some(false);
    let names = |_| None;
    let mut facts = facts(&names);
    facts.path_manager = Some(PathManager::Userspace);
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
        "profile \"p\\n0\" on e0 was modified: connection.mptcp-flags signal,subflow saved, subflow applied; `nmcli device reapply e0` applies the saved ones, or `nmcli connection modify u0 connection.mptcp-flags subflow` keeps the applied ones (as after `nmcli device modify`)"
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

#[test]
fn the_counters_are_diagnosed_when_the_connections_are_unknown() {
    let names = |_| Some("e0".to_owned());
    let plan = plan_of(vec![wanted("192.0.2.2", "p0")]);
    let risen = crate::counters::Counters(
        [
            ("MPJoinSynTxBindErr".to_owned(), 3),
            ("Blackhole".to_owned(), 1),
        ]
        .into_iter()
        .collect(),
    );
    let facts = HostFacts {
        connections: None,
        counters: Some(CounterFacts {
            now: &risen,
            since_start: None,
            lately: Some((&risen, std::time::Duration::from_secs(60))),
        }),
        ..facts(&names)
    };
    let s = status(&plan, &[], LIMITS, Some(&Ledger::default()), &facts);
    assert!(s.usage.is_none());
    let codes: Vec<String> = s.warnings.iter().map(Warning::code).collect();
    assert!(codes.contains(&"join-errors".to_owned()), "{codes:?}");
    assert!(codes.contains(&"blackhole".to_owned()), "{codes:?}");
}
