//! The Cockpit page in a real browser: Debian's headless Chromium (through python3-selenium
//! and chromium-driver) on the page cockpit-ws serves in the lab, against the lab's
//! NetworkManager, system bus and nm-mptcp's daemon (bus-activated), with the seed's three
//! profiles. cockpit-ws runs a local session without TLS or login (`--local-session`): as
//! root for the administrator, and as `nobody` for a session without administrative access,
//! which must stay read only. On every NetworkManager version: Cockpit and the browser are the
//! host's, on the lab's bus. The README's screenshot is this run's (docs/cockpit.png, from
//! NetworkManager 1.42, Debian 12's).

mod common;

use std::path::Path;
use std::process::Command;

use common::{seed_topology, Lab, Nm, SEED_FLAGS};

/// How long the page rests while the browser script counts what it asks of the daemon: a
/// little over the page's Watch renewal (30 s), so one renewal at least falls in it.
const REST_SECONDS: u32 = 35;

fn repo(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(path)
        .display()
        .to_string()
}

/// The page from this tree, with PatternFly as packaging/build gets it, under `share`.
fn stage_page(share: &str) {
    let page = format!("{share}/cockpit/nm-mptcp");
    std::fs::create_dir_all(&page).unwrap();
    for file in ["manifest.json", "index.html", "nm-mptcp.js", "nm-mptcp.css"] {
        std::fs::copy(repo(&format!("cockpit/{file}")), format!("{page}/{file}")).unwrap();
    }
    let css = Command::new(repo("packaging/cockpit-css"))
        .arg(&page)
        .status()
        .unwrap();
    assert!(css.success(), "packaging/cockpit-css");
    let readable = Command::new("chmod")
        .args(["-R", "a+rX", share])
        .status()
        .unwrap();
    assert!(readable.success());
}

/// cockpit-ws on `port` as `user`, each session with its own bridge, serving `share`. Its
/// local session serves one browser session: readiness is its listening socket, not a
/// request.
fn cockpit_ws(lab: &Lab, share: &str, port: u16, user: &str) {
    let home = lab.state_file(&format!("home-{user}"));
    let log = lab.state_file(&format!("cockpit-ws-{port}.log"));
    lab.host(&format!(
        "mkdir -p {home}; chown {user} {home}
         setsid setpriv --reuid={user} --regid=$(id -g {user}) --init-groups \
           env HOME={home} XDG_RUNTIME_DIR={home} XDG_DATA_DIRS={share}:/usr/share \
           /usr/lib/cockpit/cockpit-ws --port {port} --address 127.0.0.1 \
           --local-session=cockpit-bridge >{log} 2>&1 </dev/null &
         for i in $(seq 100); do
           ss -Hltn \"sport = :{port}\" | grep -q . && exit 0
           sleep 0.1
         done
         cat {log}; exit 1"
    ));
}

on_every_version!(the_page_shows_the_seed_follows_a_link_down_and_lets_only_an_admin_change_flags);

fn the_page_shows_the_seed_follows_a_link_down_and_lets_only_an_admin_change_flags(nm: Nm) {
    let lab = Lab::start_on("cockpit", nm);
    lab.nm_sysctl(0);
    lab.install_hook();
    lab.install_dbus_service();
    seed_topology(&lab);
    lab.sh(&format!(
        "for p in p0 p1 p2; do
           nmcli connection modify $p connection.mptcp-flags {SEED_FLAGS}
           nmcli connection up $p >/dev/null
         done"
    ));
    lab.expect_endpoints(&[
        ("192.0.2.2", "enp4s0f0", "signal subflow"),
        ("198.51.100.2", "enp4s0f1", "signal subflow"),
        ("192.0.2.5", "enp6s0", "signal subflow"),
    ]);
    let share = lab.state_file("share");
    stage_page(&share);
    cockpit_ws(&lab, &share, 9090, "root");
    cockpit_ws(&lab, &share, 9091, "nobody");

    let page = "/cockpit/@localhost/nm-mptcp/index.html";
    let screenshot = match nm {
        Nm::V1_42 => repo("docs/cockpit.png"),
        _ => lab.state_file("cockpit.png"),
    };
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &format!("{}-c", lab.name),
            "/usr/bin/python3",
        ])
        .arg(repo("tests/lab/cockpit_page.py"))
        .args([
            lab.name.clone(),
            format!("http://127.0.0.1:9090{page}"),
            format!("http://127.0.0.1:9091{page}"),
            screenshot,
            REST_SECONDS.to_string(),
            (if nm.has_laminar() {
                "laminar"
            } else {
                "no-laminar"
            })
            .to_owned(),
        ])
        .output()
        .expect("run the browser");
    assert!(
        out.status.success(),
        "{}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        lab.logs()
    );
    let figures: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).expect("figures");
    eprintln!("{figures}");
    assert_eq!(figures["endpoints"], 3);
    assert!(figures["down_shown_ms"].as_u64() <= Some(1000), "{figures}");
    let saved = figures["saved_flags"].as_str().unwrap();
    let bits = u32::from_str_radix(saved.trim_start_matches("0x"), 16).unwrap_or(0);
    assert!(saved.contains("backup") || bits & 0x40 != 0, "{saved}");
    // The page renews its Watch every 30 s (once or twice in 35 s) and otherwise only listens
    // to signals.
    let method_calls = figures["rest_method_calls"].as_u64().unwrap();
    eprintln!(
        "the page at rest, {REST_SECONDS} s: {method_calls} method calls to the daemon, {} signals from it",
        figures["rest_signals"]
    );
    assert!(
        (1..=2).contains(&method_calls),
        "the page polls, or lets its Watch lapse: {figures}"
    );
}
