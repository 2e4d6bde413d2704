//! Limits, rp_filter, the configuration file and `status`, against a real NetworkManager lab
//! with its own MPTCP support kept out of the way. The lab's /etc/nm-mptcp is private.

mod common;

use common::{add_profile, Lab};
use serde_json::Value;

const SEED: &str = "signal,subflow,also-without-default-route";

fn limits(lab: &Lab) -> String {
    lab.sh("ip mptcp limits show").trim().to_owned()
}

/// The seed's three client profiles, hook installed, none active yet.
fn seed_lab(tag: &str) -> Lab {
    let lab = Lab::start(tag);
    lab.nm_sysctl(0);
    lab.install_hook();
    for (client, server) in [("enp4s0f0", "s0"), ("enp4s0f1", "s1"), ("enp6s0", "s2")] {
        lab.link(client, server);
    }
    add_profile(&lab, "p0", "enp4s0f0", &format!("ipv4.method manual ipv4.addresses 192.0.2.2/24 ipv4.gateway 192.0.2.1 ipv6.method disabled connection.mptcp-flags {SEED}"));
    add_profile(&lab, "p1", "enp4s0f1", &format!("ipv4.method manual ipv4.addresses 198.51.100.2/24 ipv6.method disabled connection.mptcp-flags {SEED}"));
    add_profile(&lab, "p2", "enp6s0", &format!("ipv4.method manual ipv4.addresses 192.0.2.5/24 ipv6.method disabled connection.mptcp-flags {SEED}"));
    lab
}

fn status(lab: &Lab) -> Value {
    let out = lab.nm_mptcp(&["status", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn auto_limits_match_the_seed_follow_the_count_and_repair_a_flush() {
    let lab = seed_lab("lim");
    assert_eq!(
        limits(&lab),
        "add_addr_accepted 0 subflows 2",
        "kernel defaults"
    );
    lab.sh("for p in p0 p1 p2; do nmcli connection up $p >/dev/null; done");
    lab.expect_endpoints(&[
        ("192.0.2.2", "enp4s0f0", "signal subflow"),
        ("198.51.100.2", "enp4s0f1", "signal subflow"),
        ("192.0.2.5", "enp6s0", "signal subflow"),
    ]);
    // The seed's own verification output, without its hand-made systemd unit.
    assert_eq!(limits(&lab), "add_addr_accepted 2 subflows 3");

    lab.sh("nmcli connection down p2 >/dev/null");
    lab.expect_endpoints(&[
        ("192.0.2.2", "enp4s0f0", "signal subflow"),
        ("198.51.100.2", "enp4s0f1", "signal subflow"),
    ]);
    assert_eq!(limits(&lab), "add_addr_accepted 1 subflows 2");

    // `ip mptcp endpoint flush` drops the endpoints and zeroes add_addr_accepted; the next
    // event repairs both.
    lab.sh("ip mptcp endpoint flush; ip mptcp limits set add_addr_accepted 0");
    lab.sh("nmcli connection up p2 >/dev/null");
    lab.expect_endpoints(&[
        ("192.0.2.2", "enp4s0f0", "signal subflow"),
        ("198.51.100.2", "enp4s0f1", "signal subflow"),
        ("192.0.2.5", "enp6s0", "signal subflow"),
    ]);
    assert_eq!(limits(&lab), "add_addr_accepted 2 subflows 3");

    // With no endpoint of its own, auto leaves the limits as they are.
    lab.sh("for p in p0 p1 p2; do nmcli connection down $p >/dev/null; done");
    lab.expect_endpoints(&[]);
    lab.sh("ip mptcp limits set subflows 5 add_addr_accepted 4");
    assert!(lab.nm_mptcp(&["reconcile"]).status.success());
    assert_eq!(limits(&lab), "add_addr_accepted 4 subflows 5");
}

#[test]
fn fixed_and_keep_limits_from_the_config_file() {
    let lab = seed_lab("fix");
    lab.sh("printf '[limits]\\nsubflows = 6\\nadd_addr_accepted = \"keep\"\\n' > /etc/nm-mptcp/config.toml");
    lab.sh("ip mptcp limits set subflows 1 add_addr_accepted 7");
    lab.sh("nmcli connection up p0 >/dev/null");
    lab.expect_endpoints(&[("192.0.2.2", "enp4s0f0", "signal subflow")]);
    assert_eq!(limits(&lab), "add_addr_accepted 7 subflows 6");
    let check = lab.nm_mptcp(&["check-config"]);
    assert!(check.status.success());
    // The packaged example is valid and means the defaults.
    lab.sh(&format!(
        "cp {}/packaging/config.toml /tmp/example-config.toml",
        env!("CARGO_MANIFEST_DIR")
    ));
    let example = lab.exec(&[
        "env",
        "NM_MPTCP_CONFIG=/tmp/example-config.toml",
        common::HOOK,
        "check-config",
    ]);
    assert!(
        String::from_utf8_lossy(&example.stdout).contains("subflows auto, add_addr_accepted auto")
    );
    assert!(String::from_utf8_lossy(&check.stdout).contains("subflows 6, add_addr_accepted keep"));
}

#[test]
fn a_broken_config_is_refused_and_nothing_is_touched() {
    let lab = seed_lab("bad");
    lab.sh("nmcli connection up p0 >/dev/null && nmcli connection up p1 >/dev/null");
    lab.expect_endpoints(&[
        ("192.0.2.2", "enp4s0f0", "signal subflow"),
        ("198.51.100.2", "enp4s0f1", "signal subflow"),
    ]);
    let before = (lab.sh("ip mptcp endpoint show"), limits(&lab));

    lab.sh(
        "printf '[limits]\\nsubflows = 3\\nadd_addr_accepted = 9\\n' > /etc/nm-mptcp/config.toml",
    );
    for command in [&["check-config"][..], &["reconcile"], &["status"]] {
        let out = lab.nm_mptcp(command);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(7), "{command:?}: {stderr}");
        assert!(
            stderr.contains("/etc/nm-mptcp/config.toml:3: limits.add_addr_accepted"),
            "{command:?}: {stderr}"
        );
    }
    // From the dispatcher: logged, nothing changed, even for an event that would change things.
    lab.sh("nmcli connection down p1 >/dev/null && nmcli connection up p2 >/dev/null");
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!((lab.sh("ip mptcp endpoint show"), limits(&lab)), before);
    assert!(
        lab.logs()
            .contains("config.toml:3: limits.add_addr_accepted"),
        "{}",
        lab.logs()
    );

    lab.sh("printf '[limits]\\nsubflows = \"auto\"\\nunknown = 1\\n' > /etc/nm-mptcp/config.toml");
    let out = lab.nm_mptcp(&["check-config"]);
    assert_eq!(out.status.code(), Some(7));
    assert!(String::from_utf8_lossy(&out.stderr).contains("config.toml:3:"));
    // Fixed file: the next event catches up.
    lab.sh("rm /etc/nm-mptcp/config.toml");
    assert!(lab.nm_mptcp(&["reconcile"]).status.success());
    lab.expect_endpoints(&[
        ("192.0.2.2", "enp4s0f0", "signal subflow"),
        ("192.0.2.5", "enp6s0", "signal subflow"),
    ]);
}

#[test]
fn status_reports_owners_decisions_and_keeps_foreign_endpoints() {
    let lab = seed_lab("stat");
    lab.sh("nmcli connection modify p2 connection.mptcp-flags signal,subflow");
    lab.sh("ip addr add 127.0.0.9/8 dev lo && ip mptcp endpoint add 127.0.0.9 dev lo signal");
    lab.sh("for p in p0 p1 p2; do nmcli connection up $p >/dev/null; done");
    lab.expect_endpoints(&[
        ("127.0.0.9", "lo", "signal"),
        ("192.0.2.2", "enp4s0f0", "signal subflow"),
        ("198.51.100.2", "enp4s0f1", "signal subflow"),
    ]);
    let s = status(&lab);
    assert_eq!(s["sysctl"]["enabled"], true);
    assert_eq!(s["limits"]["subflows"], 2);
    assert_eq!(s["limits"]["add_addr_accepted"], 1);
    let endpoints = s["endpoints"].as_array().unwrap();
    let by_address = |a: &str| {
        endpoints
            .iter()
            .find(|e| e["address"] == a)
            .unwrap()
            .clone()
    };
    let ours = by_address("192.0.2.2");
    assert_eq!(ours["owner"], "nm-mptcp");
    assert_eq!(ours["profile"], "p0");
    assert_eq!(ours["interface"], "enp4s0f0");
    assert_eq!(ours["flags"], serde_json::json!(["signal", "subflow"]));
    assert!(ours["id"].as_u64().is_some());
    let theirs = by_address("127.0.0.9");
    assert_eq!(theirs["owner"], "other");
    assert_eq!(theirs["profile"], Value::Null);

    let profiles = s["profiles"].as_array().unwrap();
    let p2 = profiles.iter().find(|p| p["id"] == "p2").unwrap();
    assert_eq!(p2["interface"], "enp6s0");
    assert!(p2["uuid"].as_str().unwrap().len() > 30);
    assert_eq!(p2["flags"], serde_json::json!(["signal", "subflow"]));
    assert_eq!(p2["addresses"][0]["address"], "192.0.2.5");
    assert_eq!(p2["addresses"][0]["decision"], "skipped");
    assert_eq!(p2["addresses"][0]["reason"], "no-default-route");

    // Any user can ask; without the ledger (root's), ownership is inferred from the plan.
    let out = lab.exec(&[
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        common::HOOK,
        "status",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let as_nobody: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(as_nobody["endpoints"], s["endpoints"]);
    assert!(as_nobody["warnings"].to_string().contains("inferred"));

    // Status changes nothing, and a text form for people.
    let text = String::from_utf8_lossy(&lab.nm_mptcp(&["status"]).stdout).into_owned();
    assert!(
        text.contains("no-default-route") && text.contains("other"),
        "{text}"
    );
    lab.sh("nmcli connection down p0 >/dev/null");
    lab.expect_endpoints(&[
        ("127.0.0.9", "lo", "signal"),
        ("198.51.100.2", "enp4s0f1", "signal subflow"),
    ]);
}

#[test]
fn status_warns_about_what_needs_attention() {
    let lab = seed_lab("warn");
    lab.sh("nmcli connection up p0 >/dev/null && nmcli connection up p1 >/dev/null");
    lab.expect_endpoints(&[
        ("192.0.2.2", "enp4s0f0", "signal subflow"),
        ("198.51.100.2", "enp4s0f1", "signal subflow"),
    ]);
    // Another manager on the same interface, limits forced too low, the userspace PM.
    lab.sh("ip addr add 192.0.2.77/24 dev enp4s0f0 && ip mptcp endpoint add 192.0.2.77 dev enp4s0f0 subflow");
    lab.sh("ip mptcp limits set subflows 1");
    lab.sh(
        "sysctl -qw net.mptcp.path_manager=userspace 2>/dev/null || sysctl -qw net.mptcp.pm_type=1",
    );
    let warnings = status(&lab)["warnings"].to_string();
    assert!(warnings.contains("userspace path manager"), "{warnings}");
    assert!(warnings.contains("limits too low"), "{warnings}");
    assert!(
        warnings.contains("192.0.2.77") && warnings.contains("another endpoint manager"),
        "{warnings}"
    );
}

#[test]
fn rp_filter_is_relaxed_only_where_endpoints_are_and_put_back() {
    let lab = seed_lab("rpf");
    lab.sh("nmcli connection modify p1 connection.mptcp-flags disabled");
    lab.sh("sysctl -qw net.ipv4.conf.enp4s0f0.rp_filter=1 net.ipv4.conf.enp4s0f1.rp_filter=1 net.ipv4.conf.enp6s0.rp_filter=0");
    lab.sh("for p in p0 p1 p2; do nmcli connection up $p >/dev/null; done");
    lab.expect_endpoints(&[
        ("192.0.2.2", "enp4s0f0", "signal subflow"),
        ("192.0.2.5", "enp6s0", "signal subflow"),
    ]);
    let rp = |i: &str| {
        lab.sh(&format!("cat /proc/sys/net/ipv4/conf/{i}/rp_filter"))
            .trim()
            .to_owned()
    };
    assert_eq!(
        rp("enp4s0f0"),
        "2",
        "strict becomes loose where endpoints are"
    );
    assert_eq!(rp("enp4s0f1"), "1", "no endpoints, untouched");
    assert_eq!(rp("enp6s0"), "0", "0 is never touched");
    let s = status(&lab);
    let entry = s["rp_filter"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["interface"] == "enp4s0f0")
        .unwrap()
        .clone();
    assert_eq!(entry["value"], 2);
    assert_eq!(entry["relaxed_by_nm_mptcp"], true);

    lab.sh("nmcli connection modify p0 connection.mptcp-flags disabled && nmcli device reapply enp4s0f0");
    lab.expect_endpoints(&[("192.0.2.5", "enp6s0", "signal subflow")]);
    assert_eq!(rp("enp4s0f0"), "1", "put back once its endpoints are gone");
}
