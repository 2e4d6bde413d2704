//! Never lose or steal state: foreign endpoints survive every event, racing reconciles
//! converge, and more than 8 candidates give the best 8 without an error. Real
//! NetworkManager lab, its own MPTCP support kept out of the way.

mod common;

use common::{add_profile, endpoint_set, Lab, HOOK};

#[test]
fn foreign_endpoints_survive_every_event() {
    let lab = Lab::start("own");
    lab.nm_sysctl(0);
    lab.install_hook();
    lab.link("e0", "s0");
    lab.link("e1", "s1");
    // Foreign endpoints: on an interface NetworkManager does not manage (lo), with a port,
    // on a managed interface for an address outside NetworkManager's configuration, and one
    // for an address the profile has, but with other flags (as mptcpd might leave it).
    lab.sh("ip addr add 127.0.0.9/8 dev lo
         ip mptcp endpoint add 127.0.0.9 dev lo signal
         ip addr add 127.0.0.10/8 dev lo && ip mptcp endpoint add 127.0.0.10 port 4242 signal
         ip mptcp endpoint add 192.0.2.2 dev lo backup");
    add_profile(&lab, "p0", "e0", "ipv4.method manual ipv4.addresses 192.0.2.2/24,192.0.2.3/24 ipv4.gateway 192.0.2.1 ipv6.method disabled connection.mptcp-flags subflow");
    add_profile(&lab, "p1", "e1", "ipv4.method manual ipv4.addresses 198.51.100.2/24 ipv6.method disabled connection.mptcp-flags signal,also-without-default-route");
    let foreign = endpoint_set(&[
        ("127.0.0.9", "lo", "signal"),
        ("127.0.0.10", "", "signal"),
        ("192.0.2.2", "lo", "backup"),
    ]);
    assert_eq!(lab.endpoints(), foreign);

    lab.sh("nmcli connection up p0 >/dev/null && nmcli connection up p1 >/dev/null");
    lab.sh("ip addr add 192.0.2.77/24 dev e0 && ip mptcp endpoint add 192.0.2.77 dev e0 signal");
    let mut expected: Vec<(&str, &str, &str)> = vec![
        ("127.0.0.9", "lo", "signal"),
        ("127.0.0.10", "", "signal"),
        ("192.0.2.2", "lo", "backup"),
        ("192.0.2.77", "e0", "signal"),
        ("192.0.2.3", "e0", "subflow"),
        ("198.51.100.2", "e1", "signal"),
    ];
    lab.expect_endpoints(&expected);

    // The plan says why 192.0.2.2 got no endpoint of ours.
    let plan = String::from_utf8_lossy(&lab.nm_mptcp(&["plan"]).stdout).into_owned();
    assert!(plan.contains("foreign-endpoint"), "{plan}");

    for event in [
        "nmcli device reapply e0",
        "nmcli connection modify p1 connection.mptcp-flags subflow,also-without-default-route && nmcli device reapply e1",
    ] {
        lab.sh(event);
        if event.contains("subflow,also") {
            expected[5] = ("198.51.100.2", "e1", "subflow");
        }
        lab.expect_endpoints(&expected);
    }
    let out = lab.nm_mptcp(&["reconcile"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    lab.expect_endpoints(&expected);

    lab.sh("nmcli connection down p0 >/dev/null && nmcli connection down p1 >/dev/null");
    lab.expect_endpoints(&expected[..4]);
    // The hook ran as the dispatcher runs it, not only through our reconcile, and never failed.
    assert!(lab.logs().contains("reconciled"), "{}", lab.logs());
    assert_eq!(lab.hook_failures(), Vec::<String>::new());
}

/// Devices e0.. with profiles p0.. (10.N.0.2/24, a gateway, `subflow`), activated in order.
fn activate_subflow_profiles(lab: &Lab, count: usize) {
    for i in 0..count {
        lab.link(&format!("e{i}"), &format!("s{i}"));
        add_profile(
            lab,
            &format!("p{i}"),
            &format!("e{i}"),
            &format!("ipv4.method manual ipv4.addresses 10.{i}.0.2/24 ipv4.gateway 10.{i}.0.1 ipv6.method disabled connection.mptcp-flags subflow"),
        );
        lab.sh(&format!("nmcli connection up p{i} >/dev/null"));
    }
}

#[test]
fn racing_reconciles_converge_and_the_ledger_matches() {
    let lab = Lab::start("race");
    lab.nm_sysctl(0);
    activate_subflow_profiles(&lab, 3);
    assert!(
        lab.endpoints().is_empty(),
        "NetworkManager's own support should be off"
    );
    let results = lab.sh(&format!(
        "for i in $(seq 16); do ( {HOOK} reconcile >/dev/null 2>&1; echo $? ) & done; wait"
    ));
    let codes: Vec<&str> = results.lines().collect();
    assert_eq!(codes.len(), 16, "{results}");
    assert!(codes.iter().all(|c| *c == "0"), "exit codes: {codes:?}");
    let expected = [
        ("10.0.0.2", "e0", "subflow"),
        ("10.1.0.2", "e1", "subflow"),
        ("10.2.0.2", "e2", "subflow"),
    ];
    lab.expect_endpoints(&expected);
    // Exactly one endpoint per address (no duplicates from the race) and all of them ours.
    assert_eq!(lab.sh("ip mptcp endpoint show | wc -l").trim(), "3");
    let ledger: serde_json::Value =
        serde_json::from_str(&lab.sh("cat /run/nm-mptcp/ledger.json")).unwrap();
    let entries = ledger["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    assert!(entries.iter().all(|e| e["created"] == true));
    assert_eq!(lab.sh("stat -c %a /run/nm-mptcp").trim(), "700");
    // And idempotent: once more changes nothing.
    let again = lab.nm_mptcp(&["reconcile"]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 change(s)"));
}

#[test]
fn more_than_eight_candidates_give_the_best_eight_and_exit_0() {
    let lab = Lab::start("cap");
    lab.nm_sysctl(0);
    lab.install_hook();
    lab.link("e0", "s0");
    lab.link("e1", "s1");
    let e0: Vec<String> = (1..=6).map(|i| format!("192.0.2.{i}/24")).collect();
    let e1: Vec<String> = (1..=4).map(|i| format!("198.51.100.{i}/24")).collect();
    add_profile(&lab, "p0", "e0", &format!("ipv4.method manual ipv4.addresses {} ipv4.gateway 192.0.2.254 ipv6.method disabled connection.mptcp-flags subflow", e0.join(",")));
    add_profile(&lab, "p1", "e1", &format!("ipv4.method manual ipv4.addresses {} ipv4.gateway 198.51.100.254 ipv6.method disabled connection.mptcp-flags subflow", e1.join(",")));
    lab.sh("nmcli connection up p0 >/dev/null");
    lab.expect_endpoints(&[
        ("192.0.2.1", "e0", "subflow"),
        ("192.0.2.2", "e0", "subflow"),
        ("192.0.2.3", "e0", "subflow"),
        ("192.0.2.4", "e0", "subflow"),
        ("192.0.2.5", "e0", "subflow"),
        ("192.0.2.6", "e0", "subflow"),
    ]);
    // NetworkManager itself would keep all six of e0 and hit the kernel's limit for e1's
    // third and fourth; nm-mptcp reaches the best 8 by NetworkManager's own priorities.
    lab.sh("nmcli connection up p1 >/dev/null");
    let best: Vec<(&str, &str, &str)> = vec![
        ("192.0.2.1", "e0", "subflow"),
        ("192.0.2.2", "e0", "subflow"),
        ("192.0.2.3", "e0", "subflow"),
        ("192.0.2.4", "e0", "subflow"),
        ("198.51.100.1", "e1", "subflow"),
        ("198.51.100.2", "e1", "subflow"),
        ("198.51.100.3", "e1", "subflow"),
        ("198.51.100.4", "e1", "subflow"),
    ];
    lab.expect_endpoints(&best);
    let out = lab.nm_mptcp(&["reconcile"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value =
        serde_json::from_slice(&lab.nm_mptcp(&["plan", "--json"]).stdout).unwrap();
    let capped: Vec<String> = plan["plan"]["devices"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["addresses"].as_array().unwrap().clone())
        .filter(|a| a["reason"] == "endpoint-cap")
        .map(|a| a["address"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(capped, ["192.0.2.5", "192.0.2.6"]);
    assert!(!lab.logs().contains("ERANGE"), "{}", lab.logs());
}

#[test]
fn endpoints_and_ownership_survive_a_networkmanager_restart() {
    let lab = Lab::start("nmrs");
    lab.nm_sysctl(0);
    lab.install_hook();
    activate_subflow_profiles(&lab, 2);
    let both = [("10.0.0.2", "e0", "subflow"), ("10.1.0.2", "e1", "subflow")];
    lab.expect_endpoints(&both);
    let before = lab.sh("ip mptcp endpoint show");

    // Reconciles (and so the hook alone) keep running through the restart: while
    // NetworkManager starts and its devices come back one by one, they take nothing away.
    lab.sh(&format!(
        "(for i in $(seq 60); do {HOOK} reconcile >/dev/null 2>&1; sleep 0.05; done) >/dev/null 2>&1 &"
    ));
    lab.restart_networkmanager();
    lab.sh("for i in $(seq 100); do nmcli -t -f DEVICE,STATE device | grep -q '^e1:connected' && exit 0; sleep 0.1; done; exit 1");
    lab.sh("sleep 2");
    lab.expect_endpoints(&both);
    // Same endpoints, same ids: nothing was deleted and re-added.
    assert_eq!(lab.sh("ip mptcp endpoint show"), before);
    let again = lab.nm_mptcp(&["reconcile"]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 change(s)"));
    // The ledger still knows them as ours: taking a profile down removes its endpoint.
    lab.sh("nmcli connection down p0 >/dev/null");
    lab.expect_endpoints(&both[1..]);
}

#[test]
fn a_kernel_full_of_foreign_endpoints_and_a_vanished_interface_are_not_errors() {
    let lab = Lab::start("full");
    lab.nm_sysctl(0);
    lab.install_hook();
    lab.sh("for i in $(seq 8); do ip addr add 127.0.1.$i/8 dev lo; ip mptcp endpoint add 127.0.1.$i dev lo signal; done");
    activate_subflow_profiles(&lab, 1);
    // No slot left: the planner says so instead of running into ERANGE.
    let out = lab.nm_mptcp(&["reconcile"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(lab.sh("ip mptcp endpoint show | wc -l").trim(), "8");
    let plan = String::from_utf8_lossy(&lab.nm_mptcp(&["plan"]).stdout).into_owned();
    assert!(plan.contains("endpoint-cap"), "{plan}");
    // One slot frees up: the next event takes it.
    lab.sh("ip mptcp endpoint delete id 8");
    assert!(lab.nm_mptcp(&["e0", "dhcp4-change"]).status.success());
    assert!(lab
        .endpoints()
        .is_superset(&endpoint_set(&[("10.0.0.2", "e0", "subflow")])));
    // An event for an interface that is already gone.
    lab.sh("ip link del e0");
    let out = lab.nm_mptcp(&["e0", "down"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_lost_ledger_is_rebuilt_without_orphaning_endpoints() {
    let lab = Lab::start("lost");
    lab.nm_sysctl(0);
    lab.install_hook();
    activate_subflow_profiles(&lab, 2);
    let both = [("10.0.0.2", "e0", "subflow"), ("10.1.0.2", "e1", "subflow")];
    lab.expect_endpoints(&both);
    // The ledger is lost (or corrupt): the next event adopts what is exactly as wanted...
    lab.sh("echo '{not json' > /run/nm-mptcp/ledger.json");
    let out = lab.nm_mptcp(&["reconcile"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(lab.owners().iter().all(|o| o == "nm-mptcp"));
    // ...and still takes it away with its profile.
    lab.sh("nmcli connection down p0 >/dev/null");
    lab.expect_endpoints(&both[1..]);
    assert_eq!(lab.hook_failures(), Vec::<String>::new());
}

#[test]
fn release_gives_back_what_nm_mptcp_changed_and_nothing_else() {
    let lab = Lab::start("release");
    lab.nm_sysctl(0);
    lab.install_hook();
    lab.link("e0", "s0");
    lab.link("e1", "s1");
    lab.sh("ip mptcp limits set subflows 1 add_addr_accepted 0
         sysctl -qw net.ipv4.conf.e0.rp_filter=1 net.ipv4.conf.e1.rp_filter=1
         ip addr add 127.0.0.9/8 dev lo && ip mptcp endpoint add 127.0.0.9 dev lo signal");
    add_profile(&lab, "p0", "e0", "ipv4.method manual ipv4.addresses 192.0.2.2/24 ipv4.gateway 192.0.2.1 ipv6.method disabled connection.mptcp-flags subflow");
    add_profile(&lab, "p1", "e1", "ipv4.method manual ipv4.addresses 198.51.100.2/24 ipv6.method disabled connection.mptcp-flags signal,also-without-default-route");
    lab.sh("nmcli connection up p0 >/dev/null && nmcli connection up p1 >/dev/null");
    lab.expect_endpoints(&[
        ("127.0.0.9", "lo", "signal"),
        ("192.0.2.2", "e0", "subflow"),
        ("198.51.100.2", "e1", "signal"),
    ]);
    assert!(lab.sh("ip mptcp limits show").contains("subflows 2"));
    // Someone else put e1's rp_filter back meanwhile: it is theirs now.
    lab.sh("sysctl -qw net.ipv4.conf.e1.rp_filter=0");
    lab.start_daemon();
    // A daemon that cannot answer (stopped) does not keep the release from happening.
    lab.sh(&format!(
        "kill -STOP $(cat {})",
        lab.state_file("daemon.pid")
    ));

    let out = lab.nm_mptcp(&["release"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("daemon (pid"), "{stdout}");
    assert_eq!(
        lab.endpoints(),
        endpoint_set(&[("127.0.0.9", "lo", "signal")])
    );
    assert_eq!(
        lab.sh("ip mptcp limits show").trim(),
        "add_addr_accepted 0 subflows 1",
        "the limits as they were"
    );
    assert_eq!(
        lab.sh("sysctl -n net.ipv4.conf.e0.rp_filter net.ipv4.conf.e1.rp_filter"),
        "1\n0\n"
    );
    // Gone (its lock was free before release went on; the reaping may lag a moment).
    lab.sh(&format!(
        "for i in $(seq 40); do kill -0 $(cat {}) 2>/dev/null || exit 0; sleep 0.05; done; exit 1",
        lab.state_file("daemon.pid")
    ));
    // Nothing is left to give back, and nothing of nm-mptcp's acts until it is resumed: not
    // the hook, not a daemon, not `reconcile`.
    let again = lab.nm_mptcp(&["release"]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 change(s)"));
    lab.sh("nmcli device reapply e0 >/dev/null");
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(
        lab.endpoints(),
        endpoint_set(&[("127.0.0.9", "lo", "signal")])
    );
    for command in [&["reconcile"][..], &["daemon"]] {
        let mut argv = vec!["timeout", "5", HOOK];
        argv.extend_from_slice(command);
        let refused = lab.exec(&argv);
        assert_eq!(refused.status.code(), Some(5), "{command:?}");
        assert!(String::from_utf8_lossy(&refused.stderr).contains("nm-mptcp resume"));
    }
    assert_eq!(
        lab.endpoints(),
        endpoint_set(&[("127.0.0.9", "lo", "signal")])
    );
    let resumed = lab.nm_mptcp(&["resume"]);
    assert!(String::from_utf8_lossy(&resumed.stdout).contains("resumed"));
    lab.sh("nmcli device reapply e0 >/dev/null");
    lab.expect_endpoints(&[
        ("127.0.0.9", "lo", "signal"),
        ("192.0.2.2", "e0", "subflow"),
        ("198.51.100.2", "e1", "signal"),
    ]);

    // A corrupt ledger: ownership is found again from the profiles, as an event finds it,
    // and given back; the lost original limits are said to be lost.
    lab.sh("printf '{not json' >/run/nm-mptcp/ledger.json");
    let out = lab.nm_mptcp(&["release"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("the ledger was corrupt"), "{stdout}");
    assert_eq!(
        lab.endpoints(),
        endpoint_set(&[("127.0.0.9", "lo", "signal")])
    );
    assert_eq!(lab.hook_failures(), Vec::<String>::new());
}

#[test]
fn a_hand_made_endpoint_that_gets_an_old_id_of_ours_stays_untouched() {
    let lab = Lab::start("idreuse");
    lab.nm_sysctl(0);
    lab.install_hook();
    lab.link("e0", "s0");
    add_profile(&lab, "p0", "e0", "ipv4.method manual ipv4.addresses 192.0.2.2/24,192.0.2.3/24 ipv4.gateway 192.0.2.1 ipv6.method disabled connection.mptcp-flags subflow");
    lab.sh("nmcli connection up p0 >/dev/null");
    lab.expect_endpoints(&[
        ("192.0.2.2", "e0", "subflow"),
        ("192.0.2.3", "e0", "subflow"),
    ]);
    // Take nm-mptcp's endpoint for 192.0.2.3 away and make one by hand: the kernel gives it
    // the freed id.
    let id_of = || {
        lab.sh("ip mptcp endpoint show | awk '$1 == \"192.0.2.3\" { print $3 }'")
            .trim()
            .to_owned()
    };
    let id = id_of();
    lab.sh(&format!(
        "ip mptcp endpoint delete id {id} && ip mptcp endpoint add 192.0.2.3 dev e0 signal"
    ));
    assert_eq!(id_of(), id, "the kernel reused the id");
    for event in ["nmcli device reapply e0", &format!("{HOOK} reconcile")] {
        lab.sh(event);
        lab.expect_endpoints(&[
            ("192.0.2.2", "e0", "subflow"),
            ("192.0.2.3", "e0", "signal"),
        ]);
    }
    let status = String::from_utf8_lossy(&lab.nm_mptcp(&["status"]).stdout).into_owned();
    assert!(status.contains("foreign-endpoint"), "{status}");
    assert_eq!(lab.hook_failures(), Vec::<String>::new());
}
