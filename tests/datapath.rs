//! End to end: three links shaped to 40 Mbit/s, one subnet each, profiles set only with
//! nmcli, endpoints only from the hook (NetworkManager's own support kept out of the way).
//! One MPTCP transfer must reach >= 80% of the 120 Mbit/s sum, against one path's ~38,
//! survive its first link going down, and use it again when it comes back.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use common::{add_profile, Lab};

const RATE_MBIT: f64 = 40.0;

fn transfer_script() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/lab/transfer.py")
        .display()
        .to_string()
}

/// One transfer from the client namespace to the peer for `seconds`; each action of `during`
/// runs once, at its offset from the start. Returns the bytes received in each second.
fn transfer(lab: &Lab, tcp: bool, seconds: u32, during: &[(Duration, &dyn Fn())]) -> Vec<u64> {
    let mut server = Command::new("ip")
        .args([
            "netns",
            "exec",
            &format!("{}-s", lab.name),
            "python3",
            &transfer_script(),
            "serve",
            "5201",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the transfer server");
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    let send = format!(
        "python3 {} send 192.0.2.1 5201 {seconds} {}",
        transfer_script(),
        if tcp { "--tcp" } else { "" }
    );
    thread::scope(|scope| {
        let client = scope.spawn(|| lab.sh(&send));
        let start = std::time::Instant::now();
        for (at, action) in during {
            thread::sleep(at.saturating_sub(start.elapsed()));
            action();
        }
        client.join().expect("the transfer broke");
    });
    let report: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    server.wait().unwrap();
    report["per_second"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect()
}

/// Mean rate in Mbit/s over whole seconds `from..to` of a per-second series.
fn rate(seconds: &[u64], from: usize, to: usize) -> f64 {
    let to = to.min(seconds.len());
    seconds[from..to].iter().sum::<u64>() as f64 * 8.0 / (to - from) as f64 / 1e6
}

fn shape(lab: &Lab, device: &str) {
    lab.sh(&format!(
        "tc qdisc replace dev {device} root tbf rate {RATE_MBIT}mbit burst 64kb latency 50ms"
    ));
}

#[test]
fn three_shaped_links_aggregate_and_survive_the_first_going_down_and_coming_back() {
    assert!(
        Path::new("/proc/sys/net/mptcp/enabled").exists(),
        "kernel without MPTCP"
    );
    let lab = Lab::start("data");
    lab.nm_sysctl(0);
    lab.install_hook();
    let links = [
        ("e0", "s0", "192.0.2"),
        ("e1", "s1", "198.51.100"),
        ("e2", "s2", "203.0.113"),
    ];
    for (client, server, net) in links {
        lab.link(client, server);
        lab.peer(&format!("ip addr add {net}.1/24 dev {server}"));
    }
    lab.peer("ip mptcp limits set subflows 8 add_addr_accepted 8");
    // Only the first link has a gateway; the others are the seed's also-without-default-route
    // case. The kernel binds each subflow to its endpoint's device, so no policy routing.
    add_profile(&lab, "p0", "e0", "ipv4.method manual ipv4.addresses 192.0.2.2/24 ipv4.gateway 192.0.2.1 ipv6.method disabled connection.mptcp-flags subflow");
    for (i, (client, _, net)) in links.iter().enumerate().skip(1) {
        add_profile(
            &lab,
            &format!("p{i}"),
            client,
            &format!("ipv4.method manual ipv4.addresses {net}.2/24 ipv6.method disabled connection.mptcp-flags subflow,also-without-default-route"),
        );
    }
    lab.sh("for p in p0 p1 p2; do nmcli connection up $p >/dev/null; done");
    lab.expect_endpoints(&[
        ("192.0.2.2", "e0", "subflow"),
        ("198.51.100.2", "e1", "subflow"),
        ("203.0.113.2", "e2", "subflow"),
    ]);
    for (client, ..) in links {
        shape(&lab, client);
    }

    let single = rate(&transfer(&lab, true, 5, &[]), 1, 5);
    let multi = rate(&transfer(&lab, false, 6, &[]), 1, 6);
    let sum = RATE_MBIT * links.len() as f64;
    eprintln!(
        "single path {single:.1} Mbit/s; MPTCP over 3 links {multi:.1} Mbit/s = {:.0}% of {sum} ({:.2}x single)",
        100.0 * multi / sum,
        multi / single
    );
    assert!(
        multi >= 0.8 * sum,
        "MPTCP reached {multi:.1} Mbit/s, under 80% of {sum}"
    );
    assert!(
        multi > 2.0 * single,
        "no aggregation: {multi:.1} vs single {single:.1}"
    );

    // Take the first link (the one the connection started on) down mid-transfer, then bring
    // it back: the running connection must get a subflow on it again (the kernel makes one
    // only if the limits allow it at the moment the endpoint is added).
    let down = || {
        lab.sh("nmcli connection down p0 >/dev/null");
        lab.expect_endpoints(&[
            ("198.51.100.2", "e1", "subflow"),
            ("203.0.113.2", "e2", "subflow"),
        ]);
    };
    let up = || {
        lab.sh("nmcli connection up p0 >/dev/null");
    };
    let series = transfer(
        &lab,
        false,
        13,
        &[
            (Duration::from_secs(3), &down),
            (Duration::from_secs(7), &up),
        ],
    );
    let while_down = rate(&series, 5, 7);
    let back_up = rate(&series, 10, 13);
    eprintln!(
        "first link down: {while_down:.1} Mbit/s; back up: {back_up:.1} Mbit/s; per second: {series:?}"
    );
    assert!(
        while_down >= 0.8 * 2.0 * RATE_MBIT,
        "after link 1 went down only {while_down:.1} Mbit/s over the remaining two links"
    );
    assert!(
        back_up >= 0.8 * sum,
        "link 1 came back but the connection reached only {back_up:.1} Mbit/s of {sum}"
    );
}
