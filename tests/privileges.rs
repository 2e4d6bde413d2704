//! Privileges in the real lab: nm-mptcp's state is root's alone (0700 directory, 0600
//! files and socket), and an unprivileged user can read the status but change nothing:
//! not the kernel, not the ledger, not the daemon (the D-Bus policy's side is in
//! tests/dbus.rs).

mod common;

use common::{add_profile, Lab};

const NOBODY: &str = "setpriv --reuid 65534 --regid 65534 --clear-groups";

#[test]
fn state_is_roots_alone_and_nobody_changes_anything() {
    let lab = Lab::start("priv");
    lab.nm_sysctl(0);
    lab.install_hook();
    lab.link("e0", "s0");
    add_profile(&lab, "p0", "e0", "ipv4.method manual ipv4.addresses 192.0.2.2/24 ipv4.gateway 192.0.2.1 ipv6.method disabled connection.mptcp-flags subflow");
    lab.start_daemon();
    lab.sh("nmcli connection up p0 >/dev/null");
    lab.expect_endpoints(&[("192.0.2.2", "e0", "subflow")]);
    let modes = lab.sh("stat -c '%U %a %n' /run/nm-mptcp /run/nm-mptcp/ledger.json /run/nm-mptcp/control.sock /run/nm-mptcp/lock");
    assert_eq!(
        modes,
        "root 700 /run/nm-mptcp\nroot 600 /run/nm-mptcp/ledger.json\nroot 600 /run/nm-mptcp/control.sock\nroot 600 /run/nm-mptcp/lock\n"
    );

    let before = lab.endpoints();
    for command in ["reconcile", "release"] {
        let out = lab.sh(&format!(
            "set +e; {NOBODY} {} {command} 2>&1; echo \"exit $?\"",
            common::HOOK
        ));
        let last = out.lines().last().unwrap_or_default();
        assert!(
            last != "exit 0" && !out.contains("panicked"),
            "{command}: {out}"
        );
        assert!(
            out.lines().next().unwrap().starts_with("nm-mptcp: "),
            "{command}: {out}"
        );
    }
    // A dispatcher event run by someone else cannot reach the daemon or the kernel.
    let out = lab.sh(&format!(
        "set +e; NM_DISPATCHER_ACTION=down {NOBODY} {} e0 down 2>&1; echo \"exit $?\"",
        common::HOOK
    ));
    assert!(!out.ends_with("exit 0\n"), "{out}");
    assert_eq!(lab.endpoints(), before, "nobody changed the kernel");
    assert!(lab
        .daemon_log()
        .lines()
        .all(|l| !l.contains("action=\"down\"")));

    // Reading is for everyone: the status works, and says it could not read the ledger.
    let status = lab.sh(&format!("{NOBODY} {} status", common::HOOK));
    assert!(status.contains("192.0.2.2"), "{status}");
}
