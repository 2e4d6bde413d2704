//! What any local user can do to the daemon, and what it must not achieve: a flood of
//! `Describe` calls (each one a full status, 50 active profiles) delays no link event, since
//! the hook's events come first and callers share one dry run every 250 ms at most.

mod common;

use std::time::{Duration, Instant};

use common::{add_profile, Lab};

const OBJECT: &str = "io.github.nm_mptcp1 /io/github/nm_mptcp1 io.github.nm_mptcp1.Manager";
const NOBODY: &str = "setpriv --reuid 65534 --regid 65534 --clear-groups";

/// `rounds` down/up cycles of p0, each event through the hook and the daemon.
fn cycles(lab: &Lab, rounds: usize) -> Duration {
    let started = Instant::now();
    lab.sh(&format!(
        "for i in $(seq {rounds}); do nmcli connection down p0 >/dev/null; nmcli connection up p0 >/dev/null; done"
    ));
    started.elapsed()
}

#[test]
fn a_describe_flood_by_anyone_delays_no_link_event() {
    let lab = Lab::start("flood");
    lab.nm_sysctl(0);
    lab.install_hook();
    lab.link("e0", "s0");
    add_profile(&lab, "p0", "e0", "ipv4.method manual ipv4.addresses 192.0.2.2/24 ipv4.gateway 192.0.2.1 ipv6.method disabled connection.mptcp-flags subflow");
    lab.sh("nmcli connection up p0 >/dev/null");
    // 49 more active profiles: the status each call asks for is a big one.
    for i in 1..50 {
        lab.link(&format!("d{i}"), &format!("t{i}"));
    }
    lab.sh("for i in $(seq 49); do
             nmcli connection add type ethernet ifname d$i con-name d$i ipv4.method manual \
                 ipv4.addresses 10.0.$i.2/24 ipv6.method disabled \
                 connection.mptcp-flags subflow >/dev/null
             nmcli connection up d$i >/dev/null
         done");
    assert_eq!(
        lab.sh("nmcli -g NAME connection show --active | grep -c '^d'")
            .trim(),
        "49"
    );
    lab.install_dbus_service();
    lab.start_daemon();
    lab.expect_endpoints(&[("192.0.2.2", "e0", "subflow")]);
    cycles(&lab, 2);
    let quiet = cycles(&lab, 20);

    // As `nobody`, eight Describe calls outstanding all the time, each answer followed at
    // once by the next call.
    let pids = lab.state_file("flood.pids");
    let flood = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/lab/describe_flood.py");
    lab.sh(&format!(
        "{NOBODY} /usr/bin/python3 {flood} 8 </dev/null >/dev/null 2>&1 & echo $! >{pids}"
    ));
    std::thread::sleep(Duration::from_secs(1));
    let flooded = cycles(&lab, 20);
    eprintln!("20 down/up cycles: {quiet:?} at rest, {flooded:?} under the flood");
    assert!(
        flooded < quiet * 2,
        "20 down/up cycles took {flooded:?} under the flood, {quiet:?} without\n{}",
        lab.daemon_log()
    );
    // The callers are served all the same, one more among them too.
    let described = lab.sh(&format!("{NOBODY} busctl call {OBJECT} Describe"));
    assert!(described.contains("192.0.2.2"), "{described}");
    lab.sh(&format!("kill $(cat {pids})"));
    lab.expect_endpoints(&[("192.0.2.2", "e0", "subflow")]);
    assert_eq!(lab.hook_failures(), Vec::<String>::new());
}
