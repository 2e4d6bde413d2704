//! The RHEL chapter's scenario against a real NetworkManager (1.42, 1.52, 1.58) in a namespace lab, with
//! NetworkManager's own MPTCP support kept out of the way (it reads net.mptcp.enabled = 0
//! from a bind-mounted file), so every endpoint in the kernel is the hook's.

mod common;

use common::{add_profile, seed_topology, Lab, Nm, SEED_FLAGS};

fn seed_lab(tag: &str, nm: Nm) -> Lab {
    let lab = Lab::start_on(tag, nm);
    lab.nm_sysctl(0);
    lab.install_hook();
    seed_topology(&lab);
    lab
}

on_every_version!(
    seed_profiles_become_endpoints_follow_flag_changes_and_go_away_on_down,
    plan_explains_every_address_and_changes_nothing,
    an_interface_named_like_a_command_gets_its_endpoint_from_the_hook,
);

fn seed_profiles_become_endpoints_follow_flag_changes_and_go_away_on_down(nm: Nm) {
    let lab = seed_lab("seed", nm);
    lab.sh(&format!(
        "for p in p0 p1 p2; do nmcli connection modify $p connection.mptcp-flags {SEED_FLAGS}; nmcli connection up $p >/dev/null; done"
    ));
    lab.expect_endpoints(&[
        ("192.0.2.2", "enp4s0f0", "signal subflow"),
        ("198.51.100.2", "enp4s0f1", "signal subflow"),
        ("192.0.2.5", "enp6s0", "signal subflow"),
    ]);

    // A modify alone changes nothing (NetworkManager acts on the applied connection)...
    lab.sh("nmcli connection modify p1 connection.mptcp-flags subflow,backup,also-without-default-route");
    lab.sh("nmcli connection modify p2 connection.mptcp-flags enabled,also-without-default-route");
    lab.sh(&format!("{} reconcile", common::HOOK));
    lab.expect_endpoints(&[
        ("192.0.2.2", "enp4s0f0", "signal subflow"),
        ("198.51.100.2", "enp4s0f1", "signal subflow"),
        ("192.0.2.5", "enp6s0", "signal subflow"),
    ]);
    // ...a reapply does; `enabled` alone gives an endpoint without kernel flags.
    lab.sh("nmcli device reapply enp4s0f1 && nmcli device reapply enp6s0");
    lab.expect_endpoints(&[
        ("192.0.2.2", "enp4s0f0", "signal subflow"),
        ("198.51.100.2", "enp4s0f1", "subflow backup"),
        ("192.0.2.5", "enp6s0", ""),
    ]);

    // Without also-without-default-route only the profile with a gateway keeps its endpoint.
    lab.sh("for p in p0 p1 p2; do nmcli connection modify $p connection.mptcp-flags signal,subflow; done");
    lab.sh("nmcli device reapply enp4s0f0 && nmcli device reapply enp4s0f1 && nmcli device reapply enp6s0");
    lab.expect_endpoints(&[("192.0.2.2", "enp4s0f0", "signal subflow")]);

    // `disabled` removes it; `default` (0) brings back the built-in default: enabled,subflow
    // (and laminar from 1.56).
    lab.sh("nmcli connection modify p0 connection.mptcp-flags disabled && nmcli device reapply enp4s0f0");
    lab.expect_endpoints(&[]);
    lab.sh("nmcli connection modify p0 connection.mptcp-flags default && nmcli device reapply enp4s0f0");
    lab.expect_endpoints(&[("192.0.2.2", "enp4s0f0", nm.default_endpoint_flags())]);

    lab.sh("nmcli connection down p0 >/dev/null");
    lab.expect_endpoints(&[]);
    // NetworkManager added none of these itself: its log shows no MPTCP endpoint of its own.
    // Every event, including `down` while NetworkManager tears the connection down, went
    // through without the hook failing.
    assert_eq!(lab.hook_failures(), Vec::<String>::new());
    let ledger = lab.sh("cat /run/nm-mptcp/ledger.json");
    assert!(
        ledger.contains("\"entries\": []"),
        "ledger after down: {ledger}"
    );
}

fn plan_explains_every_address_and_changes_nothing(nm: Nm) {
    let lab = seed_lab("plan", nm);
    lab.sh("nmcli connection modify p0 connection.mptcp-flags signal,subflow");
    lab.sh("nmcli connection modify p1 connection.mptcp-flags signal,subflow");
    lab.uninstall_hook();
    lab.sh("nmcli connection up p0 >/dev/null && nmcli connection up p1 >/dev/null");
    let out = lab.nm_mptcp(&["plan", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let devices = plan["plan"]["devices"].as_array().unwrap();
    let find = |ifname: &str| {
        devices
            .iter()
            .find(|d| d["interface"] == ifname)
            .unwrap()
            .clone()
    };
    assert_eq!(find("enp4s0f0")["addresses"][0]["decision"], "endpoint");
    assert_eq!(
        find("enp4s0f1")["addresses"][0]["reason"],
        "no-default-route"
    );
    assert_eq!(plan["operations"][0]["op"], "add");
    assert!(
        plan["plan"]["nm_version"]
            .as_str()
            .is_some_and(|v| v.starts_with(&format!("{}.", nm.version()))),
        "{}",
        plan["plan"]["nm_version"]
    );
    // Nothing was applied.
    assert!(lab.endpoints().is_empty());
    let text = lab.nm_mptcp(&["plan"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("would add 192.0.2.2 dev enp4s0f0 signal subflow"),
        "{text}"
    );
}

fn an_interface_named_like_a_command_gets_its_endpoint_from_the_hook(nm: Nm) {
    let lab = Lab::start_on("named", nm);
    lab.nm_sysctl(0);
    lab.install_hook();
    lab.link("status", "s0");
    lab.peer("ip addr add 192.0.2.1/24 dev s0");
    add_profile(
        &lab,
        "p0",
        "status",
        "ipv4.method manual ipv4.addresses 192.0.2.2/24 ipv4.gateway 192.0.2.1 ipv6.method disabled connection.mptcp-flags signal,subflow",
    );
    lab.sh("nmcli connection up p0 >/dev/null");
    lab.expect_endpoints(&[("192.0.2.2", "status", "signal subflow")]);
    lab.sh("nmcli connection down p0 >/dev/null");
    lab.expect_endpoints(&[]);
    assert_eq!(lab.hook_failures(), Vec::<String>::new());
}

/// NetworkManager publishes an interface name with control characters or a backslash
/// escaped (`a\033[31mX`, `b\\x`); nm-mptcp finds the kernel's interface behind it, as
/// NetworkManager's own support does, and prints the name escaped.
#[test]
fn interfaces_with_escape_characters_or_a_backslash_get_their_endpoints() {
    let lab = Lab::start("escname");
    lab.nm_sysctl(0);
    lab.install_hook();
    let names = ["a\u{1b}[31mX", "b\\x"];
    for (i, name) in names.iter().enumerate() {
        let out = std::process::Command::new("ip")
            .args(["link", "add", name, "netns", &format!("{}-c", lab.name)])
            .args(["type", "veth", "peer", "name", &format!("s{i}")])
            .args(["netns", &format!("{}-s", lab.name)])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = lab.exec(&[
            "nmcli",
            "connection",
            "add",
            "type",
            "ethernet",
            "con-name",
            &format!("p{i}"),
            "ifname",
            name,
            "ipv4.method",
            "manual",
            "ipv4.addresses",
            &format!("10.{i}.0.2/24"),
            "ipv6.method",
            "disabled",
            "connection.mptcp-flags",
            "signal,also-without-default-route",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    lab.sh("sleep 1; nmcli connection up p0 >/dev/null && nmcli connection up p1 >/dev/null");
    lab.expect_endpoints(&[
        ("10.0.0.2", names[0], "signal"),
        ("10.1.0.2", names[1], "signal"),
    ]);
    let status = String::from_utf8_lossy(&lab.nm_mptcp(&["status"]).stdout).into_owned();
    assert!(!status.contains('\u{1b}'), "raw ESC in status: {status:?}");
    assert!(
        status.contains(r"a\u{1b}[31mX") && status.contains(r"b\\x"),
        "{status}"
    );
    lab.reconcile_changes_nothing("odd names");
    // nm-mptcp's log lines (the hook's, in the dispatcher's log) carry no raw ESC either.
    let log = std::fs::read_to_string(lab.state_file("dbus.log")).unwrap();
    let ours: Vec<&str> = log.lines().filter(|l| l.contains("event{")).collect();
    assert!(ours.iter().any(|l| l.contains(r"a\u{1b}[31mX")), "{log}");
    assert!(ours.iter().all(|l| !l.contains('\u{1b}')), "{log}");
    lab.sh("nmcli connection down p0 >/dev/null");
    lab.expect_endpoints(&[("10.1.0.2", names[1], "signal")]);
    assert_eq!(lab.hook_failures(), Vec::<String>::new());
}
