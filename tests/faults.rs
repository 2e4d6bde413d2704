//! Faults and races in the real lab (NetworkManager, nm-dispatcher, kernel; NetworkManager's
//! own MPTCP support kept out of the way): NetworkManager restarted mid-event, the daemon
//! killed or stopped mid-event, an interface deleted mid-run, the kernel refusing (ENOENT,
//! EEXIST, the 8-endpoint cap with others' endpoints), a full /run, and dozens of concurrent
//! events with and without the daemon. Each ends with a sane exit status and a clear line,
//! the next event converges, and the foreign endpoint is never touched.

mod common;

use common::{four_links, link_endpoint, Lab, HOOK};

fn lab(tag: &str) -> Lab {
    let lab = Lab::start(tag);
    lab.nm_sysctl(0);
    lab.install_hook();
    four_links(&lab);
    lab
}

fn all_up(lab: &Lab) {
    lab.sh("for p in p0 p1 p2 p3; do nmcli connection up $p >/dev/null; done");
}

fn subflow_on(links: &[usize]) -> Vec<(String, String, String)> {
    links.iter().map(|&n| link_endpoint(n, "subflow")).collect()
}

#[test]
fn networkmanager_restarted_or_the_daemon_killed_mid_event_converge_on_the_next() {
    let lab = lab("fltnm");
    lab.start_daemon();
    all_up(&lab);
    lab.assert_at_rest(&subflow_on(&[0, 1, 2, 3]), "all up");

    // NetworkManager restarted while a profile goes down.
    lab.sh("nmcli connection down p3 >/dev/null &");
    lab.restart_networkmanager();
    lab.sh("sleep 1; nmcli connection show --active | grep -q p3 && nmcli connection down p3 >/dev/null || true");
    lab.sh("nmcli device reapply e0");
    lab.assert_at_rest(&subflow_on(&[0, 1, 2]), "after the NetworkManager restart");

    // The daemon killed in the middle of an event: the hook carries on alone.
    lab.sh(&format!(
        "nmcli connection down p2 >/dev/null & kill -9 $(cat {}); wait",
        lab.state_file("daemon.pid")
    ));
    lab.sh("nmcli device reapply e0");
    lab.assert_at_rest(&subflow_on(&[0, 1]), "after the daemon was killed");

    // The daemon stopped in the middle of an event: the hook sees it and works alone.
    lab.start_daemon();
    lab.sh(&format!(
        "kill -STOP $(cat {pid}); nmcli connection up p2 >/dev/null; kill -CONT $(cat {pid})",
        pid = lab.state_file("daemon.pid")
    ));
    lab.sh("nmcli device reapply e0");
    lab.assert_at_rest(&subflow_on(&[0, 1, 2]), "after the daemon was stopped");
    assert_eq!(lab.hook_failures(), Vec::<String>::new());
}

#[test]
fn an_interface_deleted_mid_run_and_kernel_refusals_are_clear_and_converge() {
    let lab = lab("fltkern");
    all_up(&lab);
    lab.assert_at_rest(&subflow_on(&[0, 1, 2, 3]), "all up");

    // e3 vanishes while reconciles run: each ends 0 or with a clear error, never a panic.
    let out = lab.sh(&format!(
        "for i in 1 2 3 4; do {HOOK} reconcile >/dev/null 2>>/tmp/nm-mptcp-fault.err & done; ip link del e3; wait; cat /tmp/nm-mptcp-fault.err; rm -f /tmp/nm-mptcp-fault.err"
    ));
    assert!(!out.contains("panicked"), "{out}");
    assert!(
        out.lines().all(|l| l.starts_with("nm-mptcp: ")),
        "one clear line each: {out}"
    );
    lab.sh("nmcli device reapply e0");
    lab.assert_at_rest(&subflow_on(&[0, 1, 2]), "after e3 vanished");

    // ENOENT: someone deleted nm-mptcp's endpoint before its own delete.
    lab.sh("id=$(ip mptcp endpoint show | awk '$1 == \"10.2.0.2\" { print $3 }'); ip mptcp endpoint delete id $id; nmcli connection down p2 >/dev/null");
    lab.assert_at_rest(&subflow_on(&[0, 1]), "after ENOENT");

    // EEXIST: the same endpoint already made by someone else just before the event: it is
    // adopted, not a failure.
    lab.sh("ip mptcp endpoint add 10.2.0.2 dev e2 subflow; nmcli connection up p2 >/dev/null");
    lab.assert_at_rest(&subflow_on(&[0, 1, 2]), "after EEXIST");

    // The cap with others' endpoints: with p1 and p2 down, six more foreign endpoints fill
    // the kernel's 8 with p0's; p1 coming up gets none (endpoint-cap), without an error.
    lab.sh("nmcli connection down p1 >/dev/null; nmcli connection down p2 >/dev/null
            for i in 10 11 12 13 14 15; do ip addr add 127.0.0.$i/8 dev lo; ip mptcp endpoint add 127.0.0.$i dev lo signal; done
            nmcli connection up p1 >/dev/null");
    let endpoints = lab.settled_endpoints(std::time::Duration::from_millis(500));
    assert_eq!(endpoints.len(), 8, "{endpoints:?}");
    assert!(
        endpoints.contains(&link_endpoint(0, "subflow")),
        "{endpoints:?}"
    );
    let status = String::from_utf8_lossy(&lab.nm_mptcp(&["status"]).stdout).into_owned();
    assert!(status.contains("endpoint-cap"), "{status}");
    lab.sh("for i in 10 11 12 13 14 15; do ip mptcp endpoint delete id $(ip mptcp endpoint show | awk -v a=127.0.0.$i '$1 == a { print $3 }'); done; nmcli device reapply e1");
    lab.assert_at_rest(&subflow_on(&[0, 1]), "after the cap");
    assert_eq!(lab.hook_failures(), Vec::<String>::new());
}

#[test]
fn a_full_run_directory_is_a_clear_error_and_the_next_event_converges() {
    let lab = lab("fltfull");
    lab.nm_mptcp(&["reconcile"]);
    // /run/nm-mptcp on a tmpfs of 16 KiB, filled up.
    lab.sh("mount -t tmpfs -o size=16k,mode=0700 tmpfs /run/nm-mptcp
            dd if=/dev/zero of=/run/nm-mptcp/filler bs=1k count=64 2>/dev/null || true");
    lab.sh("nmcli connection up p0 >/dev/null");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while lab.hook_failures().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let failures = lab.hook_failures();
    assert!(
        failures.iter().any(|l| l.contains("status 5")),
        "the hook failed with exit 5 (state): {failures:?}"
    );
    let log = std::fs::read_to_string(lab.state_file("dbus.log")).unwrap();
    assert!(log.contains("No space left on device"), "{log}");
    lab.sh("rm /run/nm-mptcp/filler");
    lab.sh("nmcli connection up p1 >/dev/null");
    lab.assert_at_rest(&subflow_on(&[0, 1]), "after /run filled up");
    lab.sh("umount /run/nm-mptcp");
}

#[test]
fn dozens_of_concurrent_events_with_and_without_the_daemon_converge() {
    let lab = lab("fltrace");
    lab.start_daemon();
    all_up(&lab);
    // Hooks as the dispatcher runs them, reapplies, reconciles and a flag change, all at once.
    let storm = format!(
        "for round in 1 2; do
           for i in 0 1 2 3; do
             NM_DISPATCHER_ACTION=up {HOOK} e$i up & NM_DISPATCHER_ACTION=dhcp4-change {HOOK} e$i dhcp4-change &
             nmcli device reapply e$i >/dev/null & {HOOK} reconcile >/dev/null &
           done
         done
         nmcli connection modify p1 connection.mptcp-flags signal,also-without-default-route
         nmcli device reapply e1 >/dev/null &
         wait"
    );
    // Every link `subflow` but e1, whose flags the storm changed.
    let with_e1 = |flags: &str| {
        let mut ours = subflow_on(&[0, 1, 2, 3]);
        ours[1] = link_endpoint(1, flags);
        ours
    };
    lab.sh(&storm);
    lab.assert_at_rest(&with_e1("signal"), "storm with the daemon");
    lab.kill_daemon();
    lab.sh(&storm.replace("signal,also", "subflow,backup,also"));
    lab.assert_at_rest(&with_e1("subflow backup"), "storm without the daemon");
    lab.sh("for p in p0 p1 p2 p3; do nmcli connection down $p >/dev/null & done; wait");
    lab.assert_at_rest(&[], "all down at once");
    assert_eq!(lab.hook_failures(), Vec::<String>::new());
}
