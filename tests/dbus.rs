//! nm-mptcp's D-Bus interface against a real system bus and NetworkManager: installed from
//! `dbus/` as a package installs it, started by the first caller (bus activation), mirroring
//! the kernel, signalling changes, open to read for everyone and closed to change for all but
//! root (the bus policy, and the method itself), never giving its name away.

mod common;

use common::{add_profile, Lab, HOOK};

const OBJECT: &str = "io.github.nm_mptcp1 /io/github/nm_mptcp1 io.github.nm_mptcp1.Manager";
const NOBODY: &str = "setpriv --reuid 65534 --regid 65534 --clear-groups";

fn dbus_lab(tag: &str) -> Lab {
    let lab = Lab::start(tag);
    lab.nm_sysctl(0);
    lab.install_hook();
    lab.link("e0", "s0");
    add_profile(&lab, "p0", "e0", "ipv4.method manual ipv4.addresses 192.0.2.2/24 ipv4.gateway 192.0.2.1 ipv6.method disabled connection.mptcp-flags subflow");
    lab.sh("nmcli connection up p0 >/dev/null");
    lab.expect_endpoints(&[("192.0.2.2", "e0", "subflow")]);
    lab.install_dbus_service();
    lab
}

/// `busctl` inside the lab; must succeed.
fn busctl(lab: &Lab, args: &str) -> String {
    lab.sh(&format!("busctl {args}"))
}

/// Poll until `check` holds for the output of `script` (the daemon works asynchronously).
fn eventually(lab: &Lab, script: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let out = lab.sh(script);
        if check(&out) {
            return out;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{script}: last {out}\n{}",
            lab.logs()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn the_first_caller_starts_the_daemon_and_properties_mirror_the_kernel() {
    let lab = dbus_lab("dbus");
    assert!(
        !lab.sh("ls /run/nm-mptcp").contains("control.sock"),
        "no daemon yet"
    );
    let interface = busctl(&lab, "introspect io.github.nm_mptcp1 /io/github/nm_mptcp1");
    assert!(
        interface.contains("io.github.nm_mptcp1.Manager"),
        "{interface}"
    );
    assert!(interface.contains(".Describe") && interface.contains(".Reconcile"));
    assert!(
        lab.sh("ls /run/nm-mptcp").contains("control.sock"),
        "activated"
    );

    let endpoints = busctl(&lab, &format!("get-property {OBJECT} Endpoints -j"));
    let value: serde_json::Value = serde_json::from_str(&endpoints).unwrap();
    let first = &value["data"][0];
    assert_eq!(first["Address"]["data"], "192.0.2.2", "{endpoints}");
    assert_eq!(first["Interface"]["data"], "e0");
    assert_eq!(first["Owner"]["data"], "nm-mptcp");
    assert_eq!(first["Profile"]["data"], "p0");
    assert_eq!(first["Flags"]["data"][0], "subflow");
    let limits = busctl(&lab, &format!("get-property {OBJECT} Limits"));
    assert!(limits.contains("\"Subflows\" u 2"), "{limits}");
    assert!(
        limits.contains("\"SubflowsSetting\" s \"auto\""),
        "where the limits come from: {limits}"
    );

    // Taking the link down changes Endpoints, in a PropertiesChanged signal.
    lab.sh("(timeout 8 dbus-monitor --system \"type=signal,sender=io.github.nm_mptcp1\" > /tmp/nm-mptcp-monitor.txt 2>&1 &); sleep 0.5");
    lab.sh("nmcli connection down p0 >/dev/null");
    lab.expect_endpoints(&[]);
    eventually(
        &lab,
        &format!("busctl get-property {OBJECT} Endpoints"),
        |out| out.trim() == "aa{sv} 0",
    );
    let signals = eventually(&lab, "cat /tmp/nm-mptcp-monitor.txt", |out| {
        out.contains("PropertiesChanged") && out.contains("\"Endpoints\"")
    });
    assert!(
        !signals.contains("\"Version\""),
        "Version is const: {signals}"
    );
    assert_eq!(lab.hook_failures(), Vec::<String>::new());

    // `status` asks the running daemon (so even `nobody` gets the ledger's owners, not
    // inferred ones) and prints what it prints without one.
    lab.sh("nmcli connection up p0 >/dev/null");
    eventually(
        &lab,
        &format!("busctl get-property {OBJECT} Endpoints"),
        |out| out.contains("192.0.2.2"),
    );
    // An endpoint added by hand sends no event: Describe reads the kernel again.
    lab.sh("ip mptcp endpoint add 203.0.113.9 dev e0 signal");
    let through = lab.sh(&format!("{HOOK} status --json"));
    assert!(through.contains("203.0.113.9"), "{through}");
    let as_nobody = lab.sh(&format!("{NOBODY} {HOOK} status --json"));
    assert_eq!(as_nobody, through);
    assert!(!through.contains("ledger-unreadable"), "{through}");
    let text_through = lab.sh(&format!("{HOOK} status"));
    // So does `plan` (its Plan method), for anyone.
    let plan_through = lab.sh(&format!("{HOOK} plan --json"));
    assert_eq!(
        lab.sh(&format!("{NOBODY} {HOOK} plan --json")),
        plan_through
    );
    let plan_text_through = lab.sh(&format!("{HOOK} plan"));
    let pid = busctl(&lab, "call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus GetConnectionUnixProcessID s io.github.nm_mptcp1");
    let pid = pid.trim().trim_start_matches("u ");
    lab.sh(&format!(
        "kill {pid}; while kill -0 {pid} 2>/dev/null; do sleep 0.05; done"
    ));
    // The same, but for what only the daemon knows: the counters' rise since it started.
    assert_eq!(
        without_since_start(&lab.sh(&format!("{HOOK} status --json"))),
        without_since_start(&through),
        "without the daemon"
    );
    assert_eq!(lab.sh(&format!("{HOOK} status")), text_through);
    assert_eq!(lab.sh(&format!("{HOOK} plan --json")), plan_through);
    assert_eq!(lab.sh(&format!("{HOOK} plan")), plan_text_through);
    let inferred = lab.sh(&format!("{NOBODY} {HOOK} status --json"));
    assert!(inferred.contains("ledger-unreadable"), "{inferred}");
}

#[test]
fn everyone_reads_only_root_reconciles_and_the_name_stays() {
    let lab = dbus_lab("dbusauth");
    busctl(&lab, "introspect io.github.nm_mptcp1 /io/github/nm_mptcp1");

    // Anyone may read the properties and call Describe, which is `status --json`.
    let limits = lab.sh(&format!("{NOBODY} busctl get-property {OBJECT} Limits"));
    assert!(limits.contains("Subflows"), "{limits}");
    let described = lab.sh(&format!("{NOBODY} busctl call {OBJECT} Describe -j"));
    let described: serde_json::Value = serde_json::from_str(&described).unwrap();
    let status: serde_json::Value =
        serde_json::from_str(described["data"][0].as_str().unwrap()).unwrap();
    assert_eq!(status["endpoints"][0]["address"], "192.0.2.2", "{status}");

    // Reconcile: refused by the bus policy for others...
    let refused = lab.exec(&[
        "bash",
        "-c",
        &format!("{NOBODY} busctl call {OBJECT} Reconcile"),
    ]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("Access denied"));
    // ...and by the method itself where a policy lets them through.
    let open = r#"<busconfig><policy context="default"><allow send_destination="io.github.nm_mptcp1"/></policy></busconfig>"#;
    std::fs::write(lab.state_file("zz-open.conf"), open).unwrap();
    lab.sh(&format!(
        "cp {} /etc/dbus-1/system.d/ && busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ReloadConfig",
        lab.state_file("zz-open.conf")
    ));
    // (dbus-send prints the error's own message; busctl only "Access denied".)
    let refused = lab.exec(&[
        "bash",
        "-c",
        &format!("{NOBODY} dbus-send --system --print-reply --dest=io.github.nm_mptcp1 /io/github/nm_mptcp1 io.github.nm_mptcp1.Manager.Reconcile"),
    ]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .contains("org.freedesktop.DBus.Error.AccessDenied: Reconcile is for root"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    // Root may.
    lab.sh("ip mptcp endpoint flush");
    busctl(&lab, &format!("call {OBJECT} Reconcile"));
    lab.expect_endpoints(&[("192.0.2.2", "e0", "subflow")]);

    // A second daemon neither starts nor takes the name.
    let owner = |lab: &Lab| {
        busctl(lab, "call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus GetConnectionUnixProcessID s io.github.nm_mptcp1")
    };
    let before = owner(&lab);
    let second = lab.nm_mptcp(&["daemon"]);
    assert_eq!(second.status.code(), Some(6));
    // One with a run directory of its own learns the name is taken before it touches the
    // kernel: limits and endpoints as they were, and nothing adopted into its ledger.
    lab.sh("ip mptcp limits set subflows 5 add_addr_accepted 5");
    let kernel_before = lab.sh("ip mptcp endpoint show; ip mptcp limits show");
    let elsewhere = lab.exec(&[
        "bash",
        "-c",
        &format!("NM_MPTCP_RUN_DIR=/run/nm-mptcp-2 timeout 10 {HOOK} daemon"),
    ]);
    assert_eq!(
        elsewhere.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&elsewhere.stderr)
    );
    assert!(String::from_utf8_lossy(&elsewhere.stderr).contains("NameTaken"));
    assert_eq!(owner(&lab), before);
    assert_eq!(
        lab.sh("ip mptcp endpoint show; ip mptcp limits show"),
        kernel_before
    );
    assert!(!lab.sh("ls /run/nm-mptcp-2").contains("ledger.json"));

    // A body that does not match a method's signature (none) is refused before any work.
    for method in ["Describe", "Plan", "Reconcile"] {
        let odd = lab.exec(&[
            "bash",
            "-c",
            &format!(
                "{NOBODY} busctl call {OBJECT} {method} s $(head -c 100000 /dev/zero | tr '\\0' x)"
            ),
        ]);
        assert!(!odd.status.success(), "{method}");
        let stderr = String::from_utf8_lossy(&odd.stderr);
        assert!(
            stderr.contains("Invalid argument")
                || stderr.contains("InvalidArgs")
                || stderr.contains("Signature mismatch"),
            "{method}: {stderr}"
        );
    }
}

/// `status --json` with the counters' `since_start` taken out.
fn without_since_start(json: &str) -> serde_json::Value {
    let mut status: serde_json::Value = serde_json::from_str(json).expect("status --json");
    for counter in status["counters"].as_array_mut().expect("counters") {
        counter["since_start"] = serde_json::Value::Null;
    }
    status
}
