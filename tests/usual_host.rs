//! The usual host: NetworkManager's own MPTCP support on (`net.mptcp.enabled = 1`, as
//! NetworkManager reads it), adding endpoints itself, and nm-mptcp's hook beside it, on every
//! version the lab runs. Both must agree: nm-mptcp adopts what NetworkManager made exactly as
//! it wants it, never fights it, and corrects it where NetworkManager goes wrong at the
//! kernel's 8 endpoints. No event may make the hook fail.

mod common;

use common::{add_profile, endpoint_set, Lab, Nm};

on_every_version!(
    a_metered_link_gets_backup_when_asked_even_over_networkmanagers_endpoint,
    the_seed_with_networkmanagers_support_on_adopts_and_follows,
    at_the_cap_networkmanagers_leftovers_make_room_for_better_addresses,
    the_daemon_beside_networkmanagers_support_keeps_ids_across_a_restart,
);

const SEED: [(&str, &str, &str); 3] = [
    ("enp4s0f0", "192.0.2.2/24", "ipv4.gateway 192.0.2.1"),
    ("enp4s0f1", "198.51.100.2/24", ""),
    ("enp6s0", "192.0.2.5/24", ""),
];

fn the_seed_with_networkmanagers_support_on_adopts_and_follows(nm: Nm) {
    let lab = Lab::start_on("useed", nm);
    lab.install_hook();
    for (i, (device, address, gateway)) in SEED.iter().enumerate() {
        lab.link(device, &format!("s{i}"));
        add_profile(
            &lab,
            &format!("p{i}"),
            device,
            &format!("ipv4.method manual ipv4.addresses {address} {gateway} ipv6.method disabled connection.mptcp-flags signal,subflow,also-without-default-route"),
        );
        lab.sh(&format!("nmcli connection up p{i} >/dev/null"));
    }
    let seed = [
        ("192.0.2.2", "enp4s0f0", "signal subflow"),
        ("198.51.100.2", "enp4s0f1", "signal subflow"),
        ("192.0.2.5", "enp6s0", "signal subflow"),
    ];
    lab.expect_endpoints(&seed);
    // One endpoint per address, whoever added it first, and every one nm-mptcp's to manage.
    assert_eq!(lab.sh("ip mptcp endpoint show | wc -l").trim(), "3");
    assert_eq!(lab.owners(), ["nm-mptcp"; 3]);
    assert_eq!(
        lab.sh("ip mptcp limits show").trim(),
        "add_addr_accepted 2 subflows 3"
    );

    // A flags change and a down: both act, the result is the same as either alone.
    lab.sh("nmcli connection modify p1 connection.mptcp-flags subflow,backup,also-without-default-route && nmcli device reapply enp4s0f1");
    lab.expect_endpoints(&[
        seed[0],
        ("198.51.100.2", "enp4s0f1", "subflow backup"),
        seed[2],
    ]);
    lab.sh("nmcli connection down p0 >/dev/null");
    lab.expect_endpoints(&[("198.51.100.2", "enp4s0f1", "subflow backup"), seed[2]]);
    let again = lab.nm_mptcp(&["reconcile"]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(String::from_utf8_lossy(&again.stdout).contains(" 0 change(s)"));

    // Released (a package's removal): NetworkManager's endpoints of the profiles still up
    // stay where they are, handed back to it, and so does a hand-made one.
    lab.sh("ip addr add 127.0.0.9/8 dev lo && ip mptcp endpoint add 127.0.0.9 dev lo signal");
    let before = lab.endpoints();
    let out = lab.nm_mptcp(&["release"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert_eq!(lab.endpoints(), before, "{stdout}");
    assert_eq!(
        stdout.matches("left to NetworkManager").count(),
        2,
        "{stdout}"
    );
    assert_eq!(lab.owners(), ["other"; 3], "nothing is nm-mptcp's any more");
    assert_eq!(lab.hook_failures(), Vec::<String>::new());
}

/// `[profiles] metered_as_backup`: p1's `connection.metered yes` makes its endpoint a backup
/// one, in place of the one NetworkManager's own support made; the daemon keeps it so, through
/// a reapply, and `status` says why. Off again, NetworkManager's rules alone.
fn a_metered_link_gets_backup_when_asked_even_over_networkmanagers_endpoint(nm: Nm) {
    let lab = Lab::start_on("umeter", nm);
    lab.install_hook();
    lab.link("e0", "s0");
    lab.link("e1", "s1");
    add_profile(&lab, "p0", "e0", "ipv4.method manual ipv4.addresses 192.0.2.2/24 ipv4.gateway 192.0.2.1 ipv6.method disabled connection.mptcp-flags subflow");
    add_profile(&lab, "p1", "e1", "ipv4.method manual ipv4.addresses 198.51.100.2/24 ipv6.method disabled connection.metered yes connection.mptcp-flags subflow,also-without-default-route");
    lab.sh("nmcli connection up p0 >/dev/null && nmcli connection up p1 >/dev/null");
    lab.expect_endpoints(&[
        ("192.0.2.2", "e0", "subflow"),
        ("198.51.100.2", "e1", "subflow"),
    ]);

    lab.sh("printf '[profiles]\\nmetered_as_backup = true\\n' >/etc/nm-mptcp/config.toml");
    lab.start_daemon();
    let metered = [
        ("192.0.2.2", "e0", "subflow"),
        ("198.51.100.2", "e1", "subflow backup"),
    ];
    lab.sh("nmcli device reapply e1 >/dev/null");
    lab.expect_endpoints(&metered);
    let status = String::from_utf8_lossy(&lab.nm_mptcp(&["status"]).stdout).into_owned();
    assert!(
        status.contains("backup: the device is metered ([profiles] metered_as_backup)"),
        "{status}"
    );
    // NetworkManager acting on the link again (a reapply, a down and up) changes nothing.
    lab.sh("nmcli device reapply e1 >/dev/null");
    std::thread::sleep(std::time::Duration::from_secs(1));
    lab.expect_endpoints(&metered);
    lab.sh("nmcli connection down p1 >/dev/null && nmcli connection up p1 >/dev/null");
    lab.expect_endpoints(&metered);

    // Off: NetworkManager's own flags come back with the next event.
    lab.sh("printf '[profiles]\\nmetered_as_backup = false\\n' >/etc/nm-mptcp/config.toml");
    lab.sh("nmcli device reapply e1 >/dev/null");
    lab.expect_endpoints(&[
        ("192.0.2.2", "e0", "subflow"),
        ("198.51.100.2", "e1", "subflow"),
    ]);
    assert_eq!(lab.hook_failures(), Vec::<String>::new());
}

/// Devices e0..e9, one profile each (`signal,subflow`, an address and a gateway); p0 and p5
/// have a second address, which ranks below every device's first. Activated p0 and p5 first,
/// NetworkManager fills the kernel with both of their addresses and keeps the second ones
/// after they fall out of its top 8; nm-mptcp must still reach the best 8.
fn at_the_cap_networkmanagers_leftovers_make_room_for_better_addresses(nm: Nm) {
    let lab = Lab::start_on("ucap", nm);
    lab.install_hook();
    for i in 0..10 {
        lab.link(&format!("e{i}"), &format!("s{i}"));
        let second = if i % 5 == 0 {
            format!(",10.{i}.0.3/24")
        } else {
            String::new()
        };
        add_profile(
            &lab,
            &format!("p{i}"),
            &format!("e{i}"),
            &format!("ipv4.method manual ipv4.addresses 10.{i}.0.2/24{second} ipv4.gateway 10.{i}.0.1 ipv6.method disabled connection.mptcp-flags signal,subflow"),
        );
    }
    let order = [0, 5, 1, 2, 3, 4, 6, 7, 8, 9];
    for i in order {
        lab.sh(&format!("nmcli connection up p{i} >/dev/null"));
    }
    let best: Vec<(String, String, String)> = order[..8]
        .iter()
        .map(|i| {
            (
                format!("10.{i}.0.2"),
                format!("e{i}"),
                "signal subflow".to_owned(),
            )
        })
        .collect();
    let best: Vec<(&str, &str, &str)> = best
        .iter()
        .map(|(a, d, f)| (a.as_str(), d.as_str(), f.as_str()))
        .collect();
    lab.expect_endpoints(&best);
    let out = lab.nm_mptcp(&["reconcile"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(" 0 change(s)"));
    // Another round of events changes nothing and fails nothing.
    lab.sh("nmcli connection down p9 >/dev/null; nmcli connection up p9 >/dev/null");
    lab.expect_endpoints(&best);
    assert_eq!(lab.hook_failures(), Vec::<String>::new());
}

fn the_daemon_beside_networkmanagers_support_keeps_ids_across_a_restart(nm: Nm) {
    let lab = Lab::start_on("udmn", nm);
    lab.install_hook();
    lab.link("e0", "s0");
    lab.link("e1", "s1");
    add_profile(&lab, "p0", "e0", "ipv4.method manual ipv4.addresses 192.0.2.2/24 ipv4.gateway 192.0.2.1 ipv6.method disabled connection.mptcp-flags subflow");
    add_profile(&lab, "p1", "e1", "ipv4.method manual ipv4.addresses 198.51.100.2/24 ipv6.method disabled connection.mptcp-flags signal,also-without-default-route");
    lab.start_daemon();
    lab.sh("nmcli connection up p0 >/dev/null && nmcli connection up p1 >/dev/null");
    let both = [
        ("192.0.2.2", "e0", "subflow"),
        ("198.51.100.2", "e1", "signal"),
    ];
    lab.expect_endpoints(&both);
    let before = lab.sh("ip mptcp endpoint show");
    lab.restart_networkmanager();
    lab.sh("for i in $(seq 100); do nmcli -t -f DEVICE,STATE device | grep -q '^e1:connected' && exit 0; sleep 0.1; done; exit 1");
    lab.expect_endpoints(&both);
    assert_eq!(
        lab.sh("ip mptcp endpoint show"),
        before,
        "same endpoints, same ids"
    );
    lab.sh("nmcli connection down p0 >/dev/null");
    lab.expect_endpoints(&both[1..]);
    assert_eq!(lab.endpoints(), endpoint_set(&both[1..]));
    assert!(lab.daemon_log().contains("event"), "{}", lab.daemon_log());
    assert_eq!(lab.hook_failures(), Vec::<String>::new());
}
