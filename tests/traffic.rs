//! "Is MPTCP working here?" against real MPTCP traffic through the lab's links, on every
//! NetworkManager version: the second link's missing route to the peer is found during a
//! transfer, named with the nmcli command that fixes it, and once that command ran the
//! transfer uses both links (counted by `status`, witnessed by the peer's per-link byte
//! counters and the throughput with each link shaped); a peer without MPTCP, the userspace
//! path manager and mptcpd are named; the metrics pass `promtool check metrics` and the
//! textfile is replaced atomically while a reader loops.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Duration;

use common::{add_profile, Lab, Nm};
use serde_json::Value;

const RATE_MBIT: f64 = 40.0;
const PEER: &str = "10.99.0.1";

fn transfer_script() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/lab/transfer.py")
        .display()
        .to_string()
}

/// Two links to a peer that, like a router, serves MPTCP on an address beyond them
/// (10.99.0.1 on its loopback) and answers ARP only for addresses on the asking link. e0
/// has the default route through 192.0.2.1; e1 gets its address by DHCP, whose router
/// (198.51.100.1) NetworkManager keeps out of the routes (`ipv4.never-default`), with the
/// seed's `subflow,also-without-default-route`. Endpoints come from the hook alone.
fn two_links(nm: Nm, tag: &str) -> Lab {
    let lab = Lab::start_on(tag, nm);
    lab.nm_sysctl(0);
    lab.install_hook();
    lab.link("e0", "s0");
    lab.link("e1", "s1");
    lab.peer(&format!(
        "ip addr add 192.0.2.1/24 dev s0
         ip addr add 198.51.100.1/24 dev s1
         ip addr add {PEER}/32 dev lo
         sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.s1.arp_ignore=1
         ip mptcp limits set subflows 8 add_addr_accepted 8
         dnsmasq --port=0 --interface=s1 --bind-interfaces --no-resolv --no-hosts \
           --pid-file= --dhcp-leasefile=/dev/null --dhcp-authoritative \
           --dhcp-range=198.51.100.50,198.51.100.60,255.255.255.0,1h \
           --log-facility=/dev/null"
    ));
    add_profile(
        &lab,
        "p0",
        "e0",
        "ipv4.method manual ipv4.addresses 192.0.2.2/24 ipv4.gateway 192.0.2.1 ipv6.method disabled connection.mptcp-flags subflow",
    );
    add_profile(
        &lab,
        "p1",
        "e1",
        "ipv4.method auto ipv4.never-default yes ipv6.method disabled connection.mptcp-flags subflow,also-without-default-route",
    );
    lab.sh("nmcli connection up p0 >/dev/null && nmcli connection up p1 >/dev/null");
    let endpoints = lab.settled_endpoints(Duration::from_millis(500));
    assert_eq!(endpoints.len(), 2, "{endpoints:?}");
    lab
}

/// Run a shell snippet in the lab's network namespace with the host's programs (the roots
/// of 1.52 and 1.58 have no python3 or mptcpd); it must succeed.
fn net(lab: &Lab, script: &str) -> String {
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &format!("{}-c", lab.name),
            "bash",
            "-ec",
            script,
        ])
        .output()
        .expect("ip netns exec");
    assert!(
        out.status.success(),
        "in {}: {script}\n{}",
        lab.name,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A transfer server in the peer for one connection; its report is read by `finish`.
fn serve(lab: &Lab, port: u16) -> Child {
    let mut server = Command::new("ip")
        .args(["netns", "exec", &format!("{}-s", lab.name), "python3"])
        .args([&transfer_script(), "serve", &port.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the transfer server");
    let mut first = String::new();
    BufReader::new(server.stdout.as_mut().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first.trim(), "ready");
    server
}

/// Mean Mbit/s over the whole seconds after the first of the server's report.
fn finish(mut server: Child) -> f64 {
    let mut report = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut report)
        .unwrap();
    server.wait().unwrap();
    let report: Value = serde_json::from_str(&report).expect("transfer report");
    let seconds: Vec<u64> = report["per_second"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    let whole = &seconds[1..seconds.len().saturating_sub(1).max(2)];
    whole.iter().sum::<u64>() as f64 * 8.0 / whole.len() as f64 / 1e6
}

/// `status --json` and `status` taken `after` into a transfer of `seconds` to the peer;
/// returns them, the transfer's rate and the bytes each peer link received.
fn status_during_transfer(
    lab: &Lab,
    seconds: u32,
    after: Duration,
) -> (Value, String, f64, [u64; 2]) {
    let rx = || -> [u64; 2] {
        let read = |dev: &str| {
            lab.peer(&format!("cat /sys/class/net/{dev}/statistics/rx_bytes"))
                .trim()
                .parse::<u64>()
                .unwrap()
        };
        [read("s0"), read("s1")]
    };
    let before = rx();
    let server = serve(lab, 5201);
    let send = format!("python3 {} send {PEER} 5201 {seconds}", transfer_script());
    let status = thread::scope(|scope| {
        let client = scope.spawn(|| net(lab, &send));
        thread::sleep(after);
        let status = lab.nm_mptcp(&["status", "--json"]);
        let text = lab.nm_mptcp(&["status"]);
        client.join().expect("the transfer broke");
        (status, String::from_utf8_lossy(&text.stdout).into_owned())
    });
    let (status, text) = status;
    let rate = finish(server);
    let after_rx = rx();
    let status: Value = serde_json::from_slice(&status.stdout).expect("status --json");
    eprintln!("nm-mptcp status, {after:?} into a transfer:\n{text}");
    (
        status,
        text,
        rate,
        [after_rx[0] - before[0], after_rx[1] - before[1]],
    )
}

fn warnings<'a>(status: &'a Value, code: &str) -> Vec<&'a Value> {
    status["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["code"] == code)
        .collect()
}

/// The endpoint of `interface` in `status`.
fn endpoint<'a>(status: &'a Value, interface: &str) -> &'a Value {
    status["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["interface"] == interface)
        .unwrap_or_else(|| panic!("no endpoint on {interface}: {status}"))
}

fn no_route_to_the_peer_is_named_with_its_fix_and_the_fix_brings_the_second_link_in(nm: Nm) {
    let lab = two_links(nm, "noroute");
    for dev in ["e0", "e1"] {
        net(
            &lab,
            &format!(
                "tc qdisc replace dev {dev} root tbf rate {RATE_MBIT}mbit burst 64kb latency 50ms"
            ),
        );
    }
    let (status, text, one_link, bytes) = status_during_transfer(&lab, 6, Duration::from_secs(3));
    let found = warnings(&status, "no-route-to-peer");
    assert_eq!(found.len(), 1, "{status:#}");
    let warning = found[0];
    assert_eq!(warning["interface"], "e1");
    assert_eq!(warning["peer"], PEER);
    assert_eq!(warning["gateway"], "198.51.100.1");
    let command = warning["command"].as_str().expect("a fix").to_owned();
    assert!(
        command.starts_with("nmcli connection modify ")
            && command.contains(&format!("+ipv4.routes \"{PEER}/32 198.51.100.1\""))
            && command.ends_with("nmcli device reapply e1"),
        "{command}"
    );
    assert!(
        text.contains("MPTCP now: 1 connection(s)") && text.contains(&command),
        "{text}"
    );
    assert_eq!(endpoint(&status, "e1")["subflows"], 0, "{status:#}");
    assert!(
        bytes[1] < 1_000_000,
        "the second link carried {} bytes",
        bytes[1]
    );

    lab.sh(&command);
    net(&lab, &format!(
        "for i in $(seq 50); do ip route get {PEER} oif e1 | grep -q via && exit 0; sleep 0.1; done; exit 1"
    ));
    lab.settled_endpoints(Duration::from_millis(500));
    let (status, _, two_links, bytes) = status_during_transfer(&lab, 6, Duration::from_secs(3));
    assert!(
        warnings(&status, "no-route-to-peer").is_empty(),
        "{status:#}"
    );
    for dev in ["e0", "e1"] {
        let e = endpoint(&status, dev);
        assert!(e["subflows"].as_u64() >= Some(1), "{dev}: {status:#}");
        assert_eq!(e["connections"], 1, "{dev}: {status:#}");
    }
    assert_eq!(status["usage"]["connections"], 1, "{status:#}");
    assert!(
        status["usage"]["subflows"].as_u64() >= Some(2),
        "{status:#}"
    );
    eprintln!(
        "one link {one_link:.1} Mbit/s; after the fix {two_links:.1} Mbit/s; peer received s0 {} MB, s1 {} MB",
        bytes[0] / 1_000_000,
        bytes[1] / 1_000_000
    );
    assert!(
        bytes[0] > 5_000_000 && bytes[1] > 5_000_000,
        "both links must carry the transfer: {bytes:?}"
    );
    assert!(
        two_links > 1.6 * one_link,
        "two links {two_links:.1} Mbit/s against one {one_link:.1}"
    );
}

fn a_peer_without_mptcp_the_userspace_path_manager_and_mptcpd_are_named(nm: Nm) {
    let lab = two_links(nm, "fallbk");
    // A plain TCP server: the connection falls back.
    lab.peer(&format!(
        "setsid python3 -c 'import socket,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((\"{PEER}\", 5301)); s.listen(); c, _ = s.accept(); time.sleep(30)' >/dev/null 2>&1 </dev/null &"
    ));
    net(&lab, &format!(
        "setsid python3 -c 'import socket,time
for i in range(50):
    try:
        s=socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262); s.connect((\"{PEER}\", 5301)); break
    except OSError: time.sleep(0.1)
time.sleep(30)' >/dev/null 2>&1 </dev/null &
        for i in $(seq 50); do ss -tnH state established dst {PEER} | grep -q . && exit 0; sleep 0.1; done; exit 1"
    ));
    let status: Value =
        serde_json::from_slice(&lab.nm_mptcp(&["status", "--json"]).stdout).unwrap();
    let fallback = warnings(&status, "fallback-to-tcp");
    assert_eq!(fallback.len(), 1, "{status:#}");
    assert_eq!(fallback[0]["peers"][0], format!("{PEER}:5301"));
    assert_eq!(fallback[0]["interfaces"][0], "e0");
    assert_eq!(status["usage"]["fallen_back"], 1);
    let counters = status["counters"].as_array().unwrap();
    let synack = counters
        .iter()
        .find(|c| c["counter"] == "MPCapableFallbackSYNACK")
        .unwrap();
    assert!(synack["value"].as_u64() >= Some(1), "{synack}");

    let pm = if Path::new("/proc/sys/net/mptcp/path_manager").exists() {
        ("net.mptcp.path_manager", "userspace", "kernel")
    } else {
        ("net.mptcp.pm_type", "1", "0")
    };
    lab.sh(&format!("sysctl -qw {}={}", pm.0, pm.1));
    let status: Value =
        serde_json::from_slice(&lab.nm_mptcp(&["status", "--json"]).stdout).unwrap();
    assert_eq!(
        warnings(&status, "userspace-path-manager").len(),
        1,
        "{status:#}"
    );
    lab.sh(&format!("sysctl -qw {}={}", pm.0, pm.2));

    // mptcpd, announcing an address NetworkManager does not manage.
    let before = lab.endpoints();
    net(&lab, &format!(
        "ip addr add 192.0.2.77/24 dev e0
         setsid {UNPACKED}/usr/libexec/mptcpd --log=stderr --path-manager=addr_adv \
           --plugin-dir={UNPACKED}/usr/lib/x86_64-linux-gnu/mptcpd --addr-flags=subflow \
           --notify-flags=existing,skip_link_local,skip_loopback >/dev/null 2>&1 </dev/null &
         for i in $(seq 50); do ip mptcp endpoint show | grep -q 192.0.2.77 && exit 0; sleep 0.1; done
         exit 1"
    ));
    let status: Value =
        serde_json::from_slice(&lab.nm_mptcp(&["status", "--json"]).stdout).unwrap();
    let mptcpd = warnings(&status, "mptcpd-running");
    assert_eq!(mptcpd.len(), 1, "{status:#}");
    let named: Vec<&str> = mptcpd[0]["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(
        named
            .iter()
            .any(|e| e.starts_with("192.0.2.77 id ") && e.ends_with(" on e0")),
        "{named:?}"
    );
    // A reconcile and a link event elsewhere (a reapply of e0 would have NetworkManager drop
    // the address it does not know, and mptcpd its endpoint with it).
    assert!(lab.nm_mptcp(&["reconcile"]).status.success());
    lab.sh("nmcli connection up p1 >/dev/null");
    let after = lab.settled_endpoints(Duration::from_millis(500));
    assert!(
        after.iter().any(|(address, ..)| address == "192.0.2.77"),
        "nm-mptcp deleted mptcpd's endpoint: {after:?}"
    );
    assert!(before.is_subset(&after), "{before:?} {after:?}");
    net(&lab, "pkill -x mptcpd || true");
}

/// Where `tests/run` unpacks promtool and mptcpd from Debian's packages.
const UNPACKED: &str = "/var/cache/nm-mptcp-lab/unpacked";

fn promtool() -> String {
    format!("{UNPACKED}/usr/bin/promtool")
}

fn metrics_pass_promtool_and_the_textfile_is_replaced_whole(nm: Nm) {
    let lab = two_links(nm, "metrics");
    let dir = lab.state_file("textfile");
    let config = lab.state_file("config.toml");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        &config,
        format!("[metrics]\ntextfile = \"{dir}\"\ninterval = 1\n"),
    )
    .unwrap();
    let printed = lab.nm_mptcp(&["metrics"]);
    assert!(printed.status.success());
    let text = String::from_utf8(printed.stdout).unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    for family in [
        "nm_mptcp_endpoints{",
        "nm_mptcp_address_decisions{",
        "nm_mptcp_limit_subflows ",
        "nm_mptcp_connections ",
        "nm_mptcp_kernel_events_total{counter=\"MPCapableSYNTX\"}",
    ] {
        assert!(text.contains(family), "{family} missing:\n{text}");
    }
    let check = Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(text.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(
        check.status.success() && check.stdout.is_empty() && check.stderr.is_empty(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );

    // The daemon keeps the file current each second; `metrics --textfile` replaces it too,
    // as fast as it can, while a reader loops: every read is a whole file.
    lab.sh(&format!(
        "export NM_MPTCP_CONFIG={config}; setsid {} daemon >{} 2>&1 </dev/null & echo $! >{}",
        common::HOOK,
        lab.state_file("daemon.log"),
        lab.state_file("daemon.pid")
    ));
    let file = format!("{dir}/nm_mptcp.prom");
    lab.sh(&format!(
        "for i in $(seq 100); do [ -s {file} ] && exit 0; sleep 0.1; done; exit 1"
    ));
    let reads = lab.sh(&format!(
        "for i in $(seq 20); do {} metrics --textfile {dir}; done &
         writer=$!; n=0; bad=0
         while kill -0 $writer 2>/dev/null || [ $n -lt 200 ]; do
           tail -n1 {file} | grep -qx '# EOF' || bad=$((bad + 1)); n=$((n + 1))
         done
         wait $writer; echo $n $bad",
        common::HOOK
    ));
    let counts: Vec<u64> = reads
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    assert!(
        counts[0] >= 200 && counts[1] == 0,
        "reads, torn: {counts:?}"
    );
    let mode = lab.sh(&format!("stat -c %a {file}"));
    assert_eq!(mode.trim(), "644");
    let check = Command::new("bash")
        .args([
            "-c",
            &format!("{} check metrics < {file} 2>&1; echo rc=$?", promtool()),
        ])
        .output()
        .unwrap();
    let check = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.trim(), "rc=0", "{check}");
    lab.kill_daemon();
}

on_every_version!(
    no_route_to_the_peer_is_named_with_its_fix_and_the_fix_brings_the_second_link_in,
    a_peer_without_mptcp_the_userspace_path_manager_and_mptcpd_are_named,
    metrics_pass_promtool_and_the_textfile_is_replaced_whole,
);
