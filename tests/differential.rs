//! Differential test against the reference: NetworkManager's own MPTCP support, on every
//! version the lab runs (1.42, 1.52, 1.58).
//! For many randomized profile sets: activate them with NetworkManager's support on and no
//! hook, record its endpoints, flush, run `nm-mptcp reconcile` with no NetworkManager event in
//! between, and require exactly the same endpoints (address, device, flags; ids may differ).
//!
//! `NM_MPTCP_DIFF_CASES` (default 14) and `NM_MPTCP_DIFF_SEED` pick the cases.

mod common;

use std::time::Duration;

use common::{add_profile, Lab, Nm};

const DEVICES: usize = 4;

/// xorshift64*: deterministic cases without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const FLAGS: &[&str] = &[
    "default",
    "disabled",
    "enabled",
    "subflow",
    "signal",
    "backup",
    "fullmesh",
    "signal,subflow",
    "subflow,backup",
    "subflow,fullmesh",
    "signal,backup",
    "subflow,also-without-default-route",
    "signal,subflow,also-without-default-route",
    "backup,fullmesh,also-without-default-route",
    "subflow,also-without-sysctl",
    "enabled,also-without-sysctl,also-without-default-route",
];

/// One profile's nmcli properties.
fn random_profile(rng: &mut Rng, device: usize, budget: &mut usize) -> String {
    let net = device + 1;
    let mut props = vec![format!("connection.mptcp-flags {}", rng.pick(FLAGS))];

    let mut v4 = Vec::new();
    for host in 1..=rng.below(3) + 1 {
        if *budget > 0 {
            *budget -= 1;
            v4.push(format!("10.{net}.0.{host}/24"));
        }
    }
    if rng.chance(20) && *budget > 0 {
        // The same address on two devices: one endpoint, on the device activated first.
        *budget -= 1;
        v4.push("10.99.0.1/24".into());
    }
    if rng.chance(20) {
        v4.push(format!("169.254.{net}.9/16"));
    }
    if v4.is_empty() {
        props.push("ipv4.method disabled".into());
    } else {
        props.push(format!(
            "ipv4.method manual ipv4.addresses {}",
            v4.join(",")
        ));
        if rng.chance(50) {
            props.push(format!("ipv4.gateway 10.{net}.0.254"));
        }
    }

    if rng.chance(50) {
        let mut v6 = Vec::new();
        for host in 1..=rng.below(2) + 1 {
            if *budget > 0 {
                *budget -= 1;
                v6.push(format!("2001:db8:{net}::{host}/64"));
            }
        }
        if rng.chance(40) {
            v6.push(format!("fd00:{net}::1/64"));
        }
        if v6.is_empty() {
            props.push("ipv6.method disabled".into());
        } else {
            props.push(format!(
                "ipv6.method manual ipv6.addresses {}",
                v6.join(",")
            ));
            if rng.chance(50) {
                props.push(format!("ipv6.gateway 2001:db8:{net}::ffff"));
            }
        }
    } else {
        props.push("ipv6.method disabled".into());
    }
    props.join(" ")
}

on_every_version!(
    reconcile_equals_networkmanager_native_endpoints,
    networkmanager_conf_default_applies_to_default_profiles,
    match_device_sections_apply_per_device_as_in_networkmanager,
);

/// `[connection*]` sections limited by `match-device` (interface name, type with an
/// exception) and one that stops the search (`stop-match`), for three `default` profiles.
fn match_device_sections_apply_per_device_as_in_networkmanager(nm: Nm) {
    let lab = Lab::start_on("match", nm);
    lab.sh(
        "printf '%s\\n' '[connection-e1]' 'match-device=interface-name:e1' 'connection.mptcp-flags=0x42' \
           '[connection-e2]' 'match-device=interface-name:e2' 'stop-match=yes' \
           '[connection-wired]' 'match-device=type:ethernet,except:interface-name:e3' 'connection.mptcp-flags=0x12' \
           > /etc/NetworkManager/conf.d/50-match.conf && nmcli general reload conf",
    );
    for i in 0..4 {
        lab.link(&format!("e{i}"), &format!("s{i}"));
        add_profile(&lab, &format!("c{i}"), &format!("e{i}"), &format!("ipv4.method manual ipv4.addresses 10.{i}.0.1/24 ipv4.gateway 10.{i}.0.254 ipv6.method disabled"));
        lab.sh(&format!("nmcli connection up c{i} >/dev/null"));
    }
    let native = lab.settled_endpoints(Duration::from_millis(800));
    let expected = common::endpoint_set(&[
        ("10.0.0.1", "e0", "signal"),
        ("10.1.0.1", "e1", "backup"),
        ("10.2.0.1", "e2", nm.default_endpoint_flags()),
        // Excluded from [connection-wired] by except: the built-in default.
        ("10.3.0.1", "e3", nm.default_endpoint_flags()),
    ]);
    assert_eq!(native, expected, "NetworkManager matched otherwise");
    lab.sh("ip mptcp endpoint flush");
    assert!(lab.nm_mptcp(&["reconcile"]).status.success());
    assert_eq!(
        lab.endpoints(),
        native,
        "{}",
        String::from_utf8_lossy(&lab.nm_mptcp(&["plan"]).stdout)
    );
}

fn reconcile_equals_networkmanager_native_endpoints(nm: Nm) {
    let cases: u64 = std::env::var("NM_MPTCP_DIFF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(14);
    let seed: u64 = std::env::var("NM_MPTCP_DIFF_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x006d_7074_6370);
    let mut rng = Rng(seed | 1);
    let mut cases_with_endpoints = 0;

    let lab = Lab::start_on("diff", nm);
    for i in 0..DEVICES {
        lab.link(&format!("e{i}"), &format!("s{i}"));
    }
    // The hook and the daemon run throughout: beside NetworkManager's own support first,
    // then alone (below).
    lab.install_hook();
    lab.start_daemon();

    for case in 0..cases {
        let sysctl = if rng.chance(80) { 1 } else { 0 };
        lab.nm_sysctl(sysctl);
        lab.sh(&format!("echo {sysctl} > /proc/sys/net/mptcp/enabled"));

        // At most 8 addresses that can become endpoints: beyond the cap NetworkManager keeps
        // endpoints that fell out of its top 8 (a defect nm-mptcp does not copy; the planner's
        // cap tests and tests/ownership.rs cover that side).
        let mut budget = 8;
        let mut order: Vec<usize> = (0..DEVICES).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let mut script = Vec::new();
        let mut description = String::new();
        for &device in &order {
            if rng.chance(80) {
                let props = random_profile(&mut rng, device, &mut budget);
                add_profile(&lab, &format!("c{device}"), &format!("e{device}"), &props);
                script.push(format!("nmcli connection up c{device} >/dev/null"));
                description.push_str(&format!("  c{device} on e{device}: {props}\n"));
            }
        }
        if !script.is_empty() {
            lab.sh(&script.join("\n"));
        }

        // NetworkManager 1.52 and later add an IPv6 endpoint only once DAD is over.
        lab.sh("for i in $(seq 100); do [ -z \"$(ip -6 addr show tentative)\" ] && exit 0; sleep 0.1; done; exit 1");
        let native = lab.settled_endpoints(Duration::from_millis(800));
        // Beside NetworkManager's own endpoints (the usual host) nm-mptcp adopts them and
        // changes nothing: within 8 candidates both rank alike.
        lab.reconcile_changes_nothing(&format!("case {case}"));
        lab.sh("ip mptcp endpoint flush; rm -f /run/nm-mptcp/ledger.json");
        let out = lab.nm_mptcp(&["reconcile"]);
        assert!(
            out.status.success(),
            "case {case}: reconcile failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ours = lab.endpoints();
        assert_eq!(
            ours,
            native,
            "case {case} (seed {seed}, sysctl {sysctl}): nm-mptcp differs from NetworkManager\nprofiles in activation order:\n{description}\nplan:\n{}",
            String::from_utf8_lossy(&lab.nm_mptcp(&["plan"]).stdout)
        );

        // The daemon's way: NetworkManager's own support out of the way, the same profiles
        // activated anew in the same order; the hook and the daemon (which acts on each
        // address as it comes) must end where NetworkManager did.
        lab.sh("for c in $(nmcli -g NAME connection show --active); do nmcli connection down \"$c\" >/dev/null; done; ip mptcp endpoint flush");
        lab.nm_sysctl(0);
        if !script.is_empty() {
            lab.sh(&script.join("\n"));
        }
        lab.sh("for i in $(seq 100); do [ -z \"$(ip -6 addr show tentative)\" ] && exit 0; sleep 0.1; done; exit 1");
        let by_daemon = lab.settled_endpoints(Duration::from_millis(800));
        assert_eq!(
            by_daemon,
            native,
            "case {case} (seed {seed}, sysctl {sysctl}): the daemon differs from NetworkManager\nprofiles in activation order:\n{description}\n{}",
            lab.daemon_log()
        );
        eprintln!("case {case}: {} endpoint(s) equal", ours.len());
        cases_with_endpoints += u64::from(!ours.is_empty());

        // nm-mptcp's state reset for the next case only once the links have no address
        // left: until then the daemon rightly puts back a flushed endpoint of a device it
        // still sees active, which would outlive the ledger removed under it.
        lab.sh("for c in $(nmcli -g NAME connection show); do nmcli connection delete \"$c\" >/dev/null; done; \
                for i in $(seq 100); do ip -o addr show scope global | grep -qE '^[0-9]+: e[0-9]' || exit 0; sleep 0.1; done; exit 1");
        lab.settled_endpoints(Duration::from_millis(300));
        lab.sh("ip mptcp endpoint flush; rm -f /run/nm-mptcp/ledger.json");
    }
    // Equal because both made nothing proves little: most cases must have endpoints.
    assert!(
        cases_with_endpoints * 2 > cases,
        "only {cases_with_endpoints} of {cases} cases had endpoints (seed {seed})"
    );
}

fn networkmanager_conf_default_applies_to_default_profiles(nm: Nm) {
    let lab = Lab::start_on("conf", nm);
    lab.link("e0", "s0");
    lab.link("e1", "s1");
    // enabled,signal,backup for every profile that says `default`; invisible on D-Bus.
    lab.sh("printf '[connection-mptcp]\\nconnection.mptcp-flags=0x52\\n' > /etc/NetworkManager/conf.d/50-mptcp.conf && nmcli general reload conf");
    add_profile(&lab, "c0", "e0", "ipv4.method manual ipv4.addresses 10.1.0.1/24 ipv4.gateway 10.1.0.254 ipv6.method disabled");
    add_profile(&lab, "c1", "e1", "ipv4.method manual ipv4.addresses 10.2.0.1/24 ipv4.gateway 10.2.0.254 ipv6.method disabled connection.mptcp-flags subflow");
    lab.sh("nmcli connection up c0 >/dev/null && nmcli connection up c1 >/dev/null");
    let native = lab.settled_endpoints(Duration::from_millis(800));
    let expected: std::collections::BTreeSet<common::Endpoint> = [
        (
            "10.1.0.1".to_string(),
            "e0".to_string(),
            "signal backup".to_string(),
        ),
        (
            "10.2.0.1".to_string(),
            "e1".to_string(),
            "subflow".to_string(),
        ),
    ]
    .into();
    assert_eq!(
        native, expected,
        "NetworkManager did not take the configured default"
    );
    lab.sh("ip mptcp endpoint flush");
    assert!(lab.nm_mptcp(&["reconcile"]).status.success());
    assert_eq!(lab.endpoints(), native);
    let plan = String::from_utf8_lossy(&lab.nm_mptcp(&["plan"]).stdout).into_owned();
    assert!(plan.contains("from global-default"), "{plan}");

    // The lab starts NetworkManager with --config (its main file is not in /etc): set the
    // default there instead, and nm-mptcp must find it where NetworkManager does.
    lab.sh("rm /etc/NetworkManager/conf.d/50-mptcp.conf");
    let main_file = lab.state_file("NetworkManager.conf");
    let mut text = std::fs::read_to_string(&main_file).unwrap();
    text.push_str("\n[connection-mptcp]\nconnection.mptcp-flags=0x12\n");
    std::fs::write(&main_file, text).unwrap();
    lab.sh("nmcli general reload conf && nmcli connection down c0 >/dev/null && nmcli connection up c0 >/dev/null");
    let native = lab.settled_endpoints(Duration::from_millis(800));
    assert!(
        native.contains(&(
            "10.1.0.1".to_string(),
            "e0".to_string(),
            "signal".to_string()
        )),
        "NetworkManager did not take its main file's default: {native:?}"
    );
    lab.sh("ip mptcp endpoint flush; rm -f /run/nm-mptcp/ledger.json");
    assert!(lab.nm_mptcp(&["reconcile"]).status.success());
    assert_eq!(lab.endpoints(), native);
}
