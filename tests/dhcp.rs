//! Dynamic addresses, the way most hosts get them: DHCPv4 and IPv6 router advertisements
//! (SLAAC, with privacy addresses) from dnsmasq in the peer namespace. NetworkManager's own
//! endpoints are recorded, flushed, and `nm-mptcp reconcile` must rebuild exactly them; then
//! the hook alone (NetworkManager's support off) must reach the same on `up`.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{add_profile, Endpoint, Lab, Nm};

fn start_dnsmasq(lab: &Lab, router: bool) {
    let router = if router { "" } else { "--dhcp-option=3" };
    lab.peer(&format!(
        "ip addr add 10.5.0.1/24 dev s0
         ip addr add 2001:db8:5::1/64 dev s0
         dnsmasq --port=0 --interface=s0 --bind-interfaces --no-resolv --no-hosts \
           --pid-file= --dhcp-leasefile=/dev/null --dhcp-authoritative {router} \
           --dhcp-range=10.5.0.50,10.5.0.60,255.255.255.0,1h \
           --enable-ra --dhcp-range=2001:db8:5::,ra-only,64,1h \
           --ra-param=s0,10,1800 --log-facility=/dev/null"
    ));
}

/// The profile's endpoints once NetworkManager's addresses (DHCP lease, SLAAC) are in and
/// duplicate address detection is over (NetworkManager 1.52 and later wait for it).
fn wait_for_dynamic_addresses(lab: &Lab) {
    lab.sh(
        "for i in $(seq 100); do
           ip -6 addr show dev e0 scope global | grep -v tentative | grep -q 2001:db8:5: && ip -4 addr show dev e0 | grep -q 10.5.0. && exit 0
           sleep 0.1
         done; ip addr show dev e0; exit 1",
    );
}

fn kinds(endpoints: &BTreeSet<Endpoint>) -> Vec<String> {
    endpoints
        .iter()
        .map(|(a, d, f)| format!("{} {d} {f}", if a.contains(':') { "v6" } else { "v4" }))
        .collect()
}

on_every_version!(
    dhcp_and_slaac_addresses_match_networkmanager,
    a_lease_without_router_gives_no_ipv4_endpoint_unless_asked,
    every_way_of_making_ipv6_addresses_matches_networkmanager,
);

/// RA with infinite lifetimes: SLAAC on 2001:db8:5::/64, and stateful DHCPv6 on
/// 2001:db8:6::/64 (the router advertises it as managed).
fn start_ipv6_router(lab: &Lab) {
    lab.peer(
        "ip addr add 2001:db8:5::1/64 dev s0
         ip addr add 2001:db8:6::1/64 dev s0
         dnsmasq --port=0 --interface=s0 --bind-interfaces --no-resolv --no-hosts \
           --pid-file= --dhcp-leasefile=/dev/null --dhcp-authoritative \
           --enable-ra --dhcp-range=2001:db8:5::,ra-only,64,infinite \
           --dhcp-range=2001:db8:6::100,2001:db8:6::1ff,64,infinite \
           --ra-param=s0,10,1800 --log-facility=/dev/null",
    );
}

/// Privacy extensions 0, 1 and 2 (2 makes the stable address `mngtmpaddr`), EUI-64 and
/// stable-privacy interface identifiers, DAD on and off (NetworkManager 1.52 and later wait
/// for it), and DHCPv6 alone: nm-mptcp rebuilds exactly NetworkManager's own endpoints.
fn every_way_of_making_ipv6_addresses_matches_networkmanager(nm: Nm) {
    let lab = Lab::start_on("ipv6", nm);
    lab.link("e0", "s0");
    start_ipv6_router(&lab);
    let flags = "connection.mptcp-flags subflow,also-without-default-route ipv4.method disabled";
    for (case, (method, privacy, mode, dad)) in [
        ("auto", 0, "eui64", 1),
        ("auto", 1, "eui64", 1),
        ("auto", 2, "eui64", 1),
        ("auto", 2, "stable-privacy", 1),
        ("auto", 0, "stable-privacy", 0),
        ("dhcp", 0, "eui64", 1),
    ]
    .into_iter()
    .enumerate()
    {
        let what = format!("{method}, ip6-privacy {privacy}, {mode}, accept_dad {dad}");
        lab.sh(&format!("sysctl -qw net.ipv6.conf.e0.accept_dad={dad}"));
        add_profile(
            &lab,
            &format!("v{case}"),
            "e0",
            &format!(
                "{flags} ipv6.method {method} ipv6.ip6-privacy {privacy} ipv6.addr-gen-mode {mode}"
            ),
        );
        lab.sh(&format!("nmcli connection up v{case} >/dev/null"));
        let prefix = if method == "dhcp" {
            "2001:db8:6:"
        } else {
            "2001:db8:5:"
        };
        lab.sh(&format!(
            "for i in $(seq 100); do ip -6 addr show dev e0 | grep -v tentative | grep -q {prefix} && exit 0; sleep 0.1; done; ip addr show dev e0; exit 1"
        ));
        let native = lab.settled_endpoints(Duration::from_millis(1500));
        assert!(
            native.iter().any(|(a, ..)| a.starts_with(prefix)),
            "{what}: NetworkManager made no endpoint for {prefix}: {native:?}"
        );
        lab.reconcile_changes_nothing(&what);
        lab.sh("ip mptcp endpoint flush; rm -f /run/nm-mptcp/ledger.json");
        let out = lab.nm_mptcp(&["reconcile"]);
        assert!(
            out.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            lab.endpoints(),
            native,
            "{what}: nm-mptcp differs from NetworkManager\n{}\n{}",
            lab.sh("ip -6 addr show dev e0"),
            String::from_utf8_lossy(&lab.nm_mptcp(&["plan"]).stdout)
        );
        let plan = String::from_utf8_lossy(&lab.nm_mptcp(&["plan", "--json"]).stdout).into_owned();
        assert!(
            plan.contains("\"awaiting_addresses\": false"),
            "{what}: still waiting\n{plan}"
        );
        lab.sh(&format!(
            "nmcli connection down v{case} >/dev/null; ip mptcp endpoint flush"
        ));
    }
}

fn dhcp_and_slaac_addresses_match_networkmanager(nm: Nm) {
    let lab = Lab::start_on("dhcp", nm);
    lab.link("e0", "s0");
    start_dnsmasq(&lab, true);
    add_profile(
        &lab,
        "p0",
        "e0",
        "ipv4.method auto ipv6.method auto ipv6.ip6-privacy 2 ipv6.addr-gen-mode eui64",
    );
    lab.sh("nmcli connection up p0 >/dev/null");
    wait_for_dynamic_addresses(&lab);
    let native = lab.settled_endpoints(Duration::from_millis(1500));
    // One DHCP address and one SLAAC address, both with the built-in default's flags, never
    // the kernel's temporary (privacy) address nor link-local.
    let flags = nm.default_endpoint_flags();
    assert_eq!(
        kinds(&native),
        vec![format!("v4 e0 {flags}"), format!("v6 e0 {flags}")],
        "{native:?}"
    );
    let temporary = lab.sh("ip -6 addr show dev e0 temporary");
    assert!(
        temporary.contains("2001:db8:5:"),
        "no privacy address to exclude: {temporary}"
    );
    lab.reconcile_changes_nothing("DHCPv4 and SLAAC");

    lab.sh("ip mptcp endpoint flush");
    let out = lab.nm_mptcp(&["reconcile"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(lab.endpoints(), native);

    // The hook on its own: NetworkManager's support off, a fresh activation.
    lab.sh("nmcli connection down p0 >/dev/null; ip mptcp endpoint flush");
    lab.nm_sysctl(0);
    lab.install_hook();
    lab.sh("nmcli connection up p0 >/dev/null");
    wait_for_dynamic_addresses(&lab);
    let expected: Vec<(&str, &str, &str)> = native
        .iter()
        .map(|(a, d, f)| (a.as_str(), d.as_str(), f.as_str()))
        .collect();
    // SLAAC arrives after `up` with no dispatcher event of its own: the watcher the hook
    // started picks it up.
    lab.expect_endpoints(&expected);
    let until = lab.sh("cat /run/nm-mptcp/watch-until");
    assert!(
        until.trim().parse::<u64>().is_ok(),
        "no watcher ran: {until:?}"
    );
}

fn a_lease_without_router_gives_no_ipv4_endpoint_unless_asked(nm: Nm) {
    let lab = Lab::start_on("norte", nm);
    lab.link("e0", "s0");
    start_dnsmasq(&lab, false);
    add_profile(&lab, "p0", "e0", "ipv4.method auto ipv6.method disabled");
    lab.sh("nmcli connection up p0 >/dev/null");
    lab.sh("for i in $(seq 50); do ip -4 addr show dev e0 | grep -q 10.5.0. && exit 0; sleep 0.1; done; exit 1");
    let native = lab.settled_endpoints(Duration::from_millis(800));
    assert!(native.is_empty(), "{native:?}");
    lab.sh("ip mptcp endpoint flush");
    assert!(lab.nm_mptcp(&["reconcile"]).status.success());
    assert!(lab.endpoints().is_empty());
    let plan = String::from_utf8_lossy(&lab.nm_mptcp(&["plan"]).stdout).into_owned();
    assert!(plan.contains("no-default-route"), "{plan}");

    lab.sh("nmcli connection modify p0 connection.mptcp-flags subflow,also-without-default-route && nmcli device reapply e0");
    let native = lab.settled_endpoints(Duration::from_millis(800));
    assert_eq!(kinds(&native), vec!["v4 e0 subflow"]);
    lab.sh("ip mptcp endpoint flush");
    assert!(lab.nm_mptcp(&["reconcile"]).status.success());
    assert_eq!(lab.endpoints(), native);
}
