//! What the daemon adds to NetworkManager's own handling, in the real lab with the daemon
//! running (NetworkManager's own MPTCP support out of the way): `nmcli connection modify`
//! of the MPTCP flags takes effect by itself with `[profiles] apply_on_modify` (and `status`
//! says what to run without it), and endpoints and limits of nm-mptcp's that someone removes
//! or resets without an event come back within 10 s, while others' are never put back.

mod common;

use std::time::{Duration, Instant};

use common::{add_profile, Lab};

fn lab(tag: &str) -> Lab {
    let lab = Lab::start(tag);
    lab.nm_sysctl(0);
    lab.install_hook();
    for i in 0..2 {
        lab.link(&format!("e{i}"), &format!("s{i}"));
        let gateway = if i == 0 { " ipv4.gateway 10.0.0.1" } else { "" };
        add_profile(&lab, &format!("p{i}"), &format!("e{i}"), &format!("ipv4.method manual ipv4.addresses 10.{i}.0.2/24{gateway} ipv6.method disabled connection.mptcp-flags subflow,also-without-default-route"));
    }
    lab.start_daemon();
    lab.sh("nmcli connection up p0 >/dev/null && nmcli connection up p1 >/dev/null");
    lab.expect_endpoints(&[("10.0.0.2", "e0", "subflow"), ("10.1.0.2", "e1", "subflow")]);
    lab
}

/// Poll `check` on a shell snippet's output until it holds, for at most `within`.
fn within(lab: &Lab, within: Duration, script: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + within;
    loop {
        let out = lab.sh(script);
        if check(&out) {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "{script}: {out}\n{}",
            lab.daemon_log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_flags_modify_is_applied_by_itself_only_when_asked_and_only_alone() {
    let lab = lab("modify");
    let applied = "busctl call org.freedesktop.NetworkManager /org/freedesktop/NetworkManager/Devices/3 org.freedesktop.NetworkManager.Device GetAppliedConnection u 0";

    // Off (the default): a modify alone changes nothing; status says what applies it.
    lab.sh("nmcli connection modify p1 connection.mptcp-flags signal,also-without-default-route");
    std::thread::sleep(Duration::from_secs(2));
    lab.expect_endpoints(&[("10.0.0.2", "e0", "subflow"), ("10.1.0.2", "e1", "subflow")]);
    let status = String::from_utf8_lossy(&lab.nm_mptcp(&["status"]).stdout).into_owned();
    assert!(
        status.contains("profile \"p1\" on e1 was modified: connection.mptcp-flags also-without-default-route,signal saved, also-without-default-route,subflow applied; `nmcli device reapply e1` applies the saved ones, or `nmcli connection modify "),
        "{status}"
    );
    let json = String::from_utf8_lossy(&lab.nm_mptcp(&["status", "--json"]).stdout).into_owned();
    assert!(json.contains("\"code\": \"profile-modified\""), "{json}");

    // On: the pending modify is applied, and the next one too, by the daemon alone.
    lab.sh("printf '[profiles]\\napply_on_modify = true\\n' >/etc/nm-mptcp/config.toml");
    lab.expect_endpoints(&[("10.0.0.2", "e0", "subflow"), ("10.1.0.2", "e1", "signal")]);
    // A route someone added on e1 outside NetworkManager survives the daemon's reapply.
    lab.sh("ip route add 203.0.113.0/24 dev e1");
    lab.sh("nmcli connection modify p1 connection.mptcp-flags subflow,backup,also-without-default-route");
    lab.expect_endpoints(&[
        ("10.0.0.2", "e0", "subflow"),
        ("10.1.0.2", "e1", "subflow backup"),
    ]);
    let routes = lab.sh("ip route show dev e1");
    assert!(routes.contains("203.0.113.0/24"), "{routes}");
    // NetworkManager's applied connection has the new flags (0x20 subflow | 0x40 backup | 0x8).
    let device = lab.sh("nmcli -g GENERAL.DBUS-PATH device show e1");
    let reply =
        lab.sh(&applied.replace("/org/freedesktop/NetworkManager/Devices/3", device.trim()));
    assert!(reply.contains("\"mptcp-flags\" u 104"), "{reply}");
    assert!(
        lab.daemon_log().contains("reapplied a modified profile"),
        "{}",
        lab.daemon_log()
    );

    // A modify that changes more than the flags is left to the user.
    lab.sh("nmcli connection modify p1 connection.mptcp-flags signal,also-without-default-route ipv4.dns 10.1.0.53");
    within(&lab, Duration::from_secs(10), "true", |_| {
        lab.daemon_log().contains("left to the user")
    });
    lab.expect_endpoints(&[
        ("10.0.0.2", "e0", "subflow"),
        ("10.1.0.2", "e1", "subflow backup"),
    ]);
    let status = String::from_utf8_lossy(&lab.nm_mptcp(&["status"]).stdout).into_owned();
    assert!(
        status.contains("(with its other changes: ipv4.dns"),
        "{status}"
    );

    // A runtime change of the applied flags alone (`nmcli device modify`) is the user's:
    // applied, and never undone (the saved profile did not change since).
    lab.sh("nmcli connection modify p1 connection.mptcp-flags subflow,backup,also-without-default-route ipv4.dns ''");
    lab.expect_endpoints(&[
        ("10.0.0.2", "e0", "subflow"),
        ("10.1.0.2", "e1", "subflow backup"),
    ]);
    let reapplies = || {
        lab.daemon_log()
            .matches("reapplied a modified profile")
            .count()
    };
    let before = reapplies();
    lab.sh("nmcli device modify e1 connection.mptcp-flags signal,also-without-default-route >/dev/null");
    lab.expect_endpoints(&[("10.0.0.2", "e0", "subflow"), ("10.1.0.2", "e1", "signal")]);
    // Past a drift check (5 s): still as the user set it.
    std::thread::sleep(Duration::from_secs(7));
    lab.expect_endpoints(&[("10.0.0.2", "e0", "subflow"), ("10.1.0.2", "e1", "signal")]);
    assert_eq!(reapplies(), before, "{}", lab.daemon_log());
    assert_eq!(lab.hook_failures(), Vec::<String>::new());
}

#[test]
fn endpoints_and_limits_removed_without_an_event_come_back_within_10_s() {
    let lab = lab("drift");
    lab.sh("ip addr add 127.0.0.9/8 dev lo && ip mptcp endpoint add 127.0.0.9 dev lo signal");
    let limits = lab.sh("ip mptcp limits show");
    assert_eq!(limits.trim(), "add_addr_accepted 1 subflows 2");

    // A flush and a reset: nm-mptcp's endpoints and limits come back; the hand-made one,
    // flushed by the same hand, stays gone.
    let started = Instant::now();
    lab.sh("ip mptcp endpoint flush; ip mptcp limits set subflows 0 add_addr_accepted 0");
    within(
        &lab,
        Duration::from_secs(10),
        "ip mptcp endpoint show; ip mptcp limits show",
        |out| {
            out.contains("10.0.0.2")
                && out.contains("10.1.0.2")
                && out.contains("add_addr_accepted 1 subflows 2")
        },
    );
    eprintln!("repaired after {:?}", started.elapsed());
    lab.expect_endpoints(&[("10.0.0.2", "e0", "subflow"), ("10.1.0.2", "e1", "subflow")]);
    assert!(lab.daemon_log().contains("repair"), "{}", lab.daemon_log());

    // One endpoint deleted by hand comes back; a hand-made one beside it is untouched.
    lab.sh("ip mptcp endpoint add 127.0.0.9 dev lo signal");
    let hand_made = lab.sh("ip mptcp endpoint show | grep 127.0.0.9");
    lab.sh("ip mptcp endpoint delete id $(ip mptcp endpoint show | awk '$1 == \"10.1.0.2\" { print $3 }')");
    within(
        &lab,
        Duration::from_secs(10),
        "ip mptcp endpoint show",
        |out| out.contains("10.1.0.2"),
    );
    assert_eq!(lab.sh("ip mptcp endpoint show | grep 127.0.0.9"), hand_made);
    assert_eq!(lab.hook_failures(), Vec::<String>::new());
}
