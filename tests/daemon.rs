//! `nm-mptcp daemon` against a real NetworkManager: it takes the hook's events, follows
//! NetworkManager without them, keeps others' endpoints and its own across a NetworkManager
//! restart and when a device leaves NetworkManager's view still configured, and the hook
//! carries on alone when the daemon dies. NetworkManager's own MPTCP
//! support is kept out of the way, so every endpoint seen is nm-mptcp's.

mod common;

use common::{add_profile, endpoint_set, Lab, Nm, HOOK};

on_every_version!(
    the_daemon_takes_events_follows_networkmanager_and_the_hook_survives_it,
    the_daemons_first_endpoint_is_already_networkmanagers
);

fn the_daemon_takes_events_follows_networkmanager_and_the_hook_survives_it(nm: Nm) {
    let lab = Lab::start_on("dmn", nm);
    lab.nm_sysctl(0);
    lab.install_hook();
    lab.link("e0", "s0");
    lab.link("e1", "s1");
    lab.sh("ip addr add 127.0.0.9/8 dev lo && ip mptcp endpoint add 127.0.0.9 dev lo signal");
    add_profile(&lab, "p0", "e0", "ipv4.method manual ipv4.addresses 192.0.2.2/24 ipv4.gateway 192.0.2.1 ipv6.method disabled connection.mptcp-flags subflow");
    add_profile(&lab, "p1", "e1", "ipv4.method manual ipv4.addresses 198.51.100.2/24 ipv6.method disabled connection.mptcp-flags signal,also-without-default-route");
    // At debug: the hook's event is logged even when the daemon, following NetworkManager,
    // already did the work (newer versions signal the reapply too; which comes first varies).
    lab.start_daemon_logging("debug");

    // A second daemon refuses to start.
    let second = lab.nm_mptcp(&["daemon"]);
    assert_eq!(second.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&second.stderr).contains("another nm-mptcp daemon"));

    lab.sh("nmcli connection up p0 >/dev/null");
    lab.expect_endpoints(&[
        ("127.0.0.9", "lo", "signal"),
        ("192.0.2.2", "e0", "subflow"),
    ]);

    // A flags-only reapply sends no signal that says so: the hook's event, handed to the
    // daemon, makes it read NetworkManager again.
    lab.sh("nmcli connection modify p0 connection.mptcp-flags signal,subflow && nmcli device reapply e0");
    lab.expect_endpoints(&[
        ("127.0.0.9", "lo", "signal"),
        ("192.0.2.2", "e0", "signal subflow"),
    ]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !lab
        .daemon_log()
        .contains(r#"event{interface="e0" action="reapply"}"#)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the reapply did not go through the daemon:\n{}",
            lab.daemon_log()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    // Without the hook, the daemon follows NetworkManager's signals on its own.
    lab.uninstall_hook();
    lab.sh("nmcli connection up p1 >/dev/null");
    lab.expect_endpoints(&[
        ("127.0.0.9", "lo", "signal"),
        ("192.0.2.2", "e0", "signal subflow"),
        ("198.51.100.2", "e1", "signal"),
    ]);
    lab.install_hook();

    // A NetworkManager restart changes nothing: same endpoints, same ids.
    let before = lab.sh("ip mptcp endpoint show | sort");
    lab.restart_networkmanager();
    lab.sh("nmcli --wait 20 general status >/dev/null");
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(lab.sh("ip mptcp endpoint show | sort"), before);

    // It still follows NetworkManager after the restart (a new unique name on the bus).
    lab.uninstall_hook();
    lab.sh("nmcli connection down p1 >/dev/null");
    lab.expect_endpoints(&[
        ("127.0.0.9", "lo", "signal"),
        ("192.0.2.2", "e0", "signal subflow"),
    ]);
    // NetworkManager drops a device from its view but leaves it configured (as it does with
    // every device when it quits): signals alone take no endpoint away from an address
    // that is still there.
    lab.sh("nmcli device set e0 managed no");
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(
        lab.endpoints(),
        endpoint_set(&[
            ("127.0.0.9", "lo", "signal"),
            ("192.0.2.2", "e0", "signal subflow")
        ])
    );
    assert!(
        lab.daemon_log()
            .contains("changes wait for a dispatcher event"),
        "{}",
        lab.daemon_log()
    );
    lab.install_hook();

    // The daemon dies (its socket stays behind): the hook does the work itself, and its
    // event is authoritative: the unmanaged device's endpoint goes, as NetworkManager's would.
    lab.kill_daemon();
    lab.sh("nmcli connection up p1 >/dev/null");
    lab.expect_endpoints(&[
        ("127.0.0.9", "lo", "signal"),
        ("198.51.100.2", "e1", "signal"),
    ]);
    let out = lab.exec(&[HOOK, "e0", "up"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    assert!(lab.hook_failures().is_empty(), "{:?}", lab.hook_failures());
}

/// The daemon adds an activation's endpoint as the kernel announces its address, before any
/// read of NetworkManager, from the profile the activation's signal names: that first
/// endpoint must already be the one NetworkManager makes, down to a default from
/// NetworkManager.conf loaded by `nmcli general reload` (which no signal announces). No hook:
/// every endpoint is the daemon's. (On 1.42 the activation's address comes before any read
/// of NetworkManager that would load the files anyway: without the re-read on activation,
/// the first endpoint there has the old default.)
fn the_daemons_first_endpoint_is_already_networkmanagers(nm: Nm) {
    let lab = Lab::start_on("first", nm);
    lab.nm_sysctl(0);
    lab.link("e0", "s0");
    add_profile(&lab, "p0", "e0", "ipv4.method manual ipv4.addresses 192.0.2.2/24 ipv4.gateway 192.0.2.1 ipv6.method disabled");
    lab.start_daemon();
    for (default, kernel_flags, shown) in [("0x22", 2, "subflow"), ("0x12", 1, "signal")] {
        lab.sh(&format!(
            "printf '[connection-mptcp]\\nconnection.mptcp-flags={default}\\n' \
               > /etc/NetworkManager/conf.d/50-mptcp.conf && nmcli general reload conf"
        ));
        let first = lab.first_endpoint_flags("192.0.2.2", || {
            lab.sh("nmcli connection up p0 >/dev/null");
        });
        assert_eq!(
            first,
            kernel_flags,
            "default {default}: the first endpoint's flags\n{}",
            lab.daemon_log()
        );
        lab.expect_endpoints(&[("192.0.2.2", "e0", shown)]);
        lab.sh("nmcli connection down p0 >/dev/null");
        lab.expect_endpoints(&[]);
    }
}

/// Clients that connect and say nothing, a storm of connect-and-close, and a stopped daemon:
/// no hook waits for them, none fails, and the daemon's log stays quiet.
#[test]
fn idle_clients_and_a_stopped_daemon_delay_no_hook() {
    let lab = Lab::start("dmnidle");
    lab.nm_sysctl(0);
    lab.install_hook();
    lab.link("e0", "s0");
    add_profile(&lab, "p0", "e0", "ipv4.method manual ipv4.addresses 192.0.2.2/24 ipv4.gateway 192.0.2.1 ipv6.method disabled connection.mptcp-flags subflow");
    lab.start_daemon();
    let socket = "/run/nm-mptcp/control.sock";
    lab.sh(&format!(
        "setsid python3 -c 'import socket, time
idle = []
for _ in range(30):
    s = socket.socket(socket.AF_UNIX); s.connect(\"{socket}\"); idle.append(s)
for _ in range(1000):
    s = socket.socket(socket.AF_UNIX); s.connect(\"{socket}\"); s.close()
time.sleep(30)' >/dev/null 2>&1 </dev/null &"
    ));
    std::thread::sleep(std::time::Duration::from_millis(500));
    let started = std::time::Instant::now();
    lab.sh("nmcli connection up p0 >/dev/null");
    lab.expect_endpoints(&[("192.0.2.2", "e0", "subflow")]);
    lab.sh("nmcli connection down p0 >/dev/null");
    lab.expect_endpoints(&[]);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "30 idle clients delayed the hook: {:?}",
        started.elapsed()
    );
    let log = lab.daemon_log();
    assert!(
        log.contains(r#"action="pre-down"}"#),
        "through the daemon:\n{log}"
    );
    assert!(
        log.lines().filter(|l| l.contains("WARN")).count() < 5,
        "connect-and-close is no warning:\n{log}"
    );

    // Stopped: the hook sees it and works alone at once.
    let pid = lab.sh(&format!("cat {}", lab.state_file("daemon.pid")));
    lab.sh(&format!("kill -STOP {}", pid.trim()));
    let started = std::time::Instant::now();
    lab.sh("nmcli connection up p0 >/dev/null");
    lab.expect_endpoints(&[("192.0.2.2", "e0", "subflow")]);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    lab.sh(&format!("kill -CONT {}", pid.trim()));
    assert!(
        lab.logs().contains("is stopped; working alone"),
        "{}",
        lab.logs()
    );
    assert_eq!(lab.hook_failures(), Vec::<String>::new());
}
