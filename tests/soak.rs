//! Soak: up, down and reapply with random flag changes over four links, through the real
//! NetworkManager and dispatcher with the daemon running. At rest (every 25 cycles and at the
//! end) the kernel holds exactly what the profiles ask for, `reconcile` finds nothing to do,
//! the ledger holds exactly nm-mptcp's endpoints, and the daemon's memory and open files stay
//! flat. NM_MPTCP_SOAK_CYCLES sets the length (default 60; the long run is 1000),
//! NM_MPTCP_SOAK_SEED the sequence.

mod common;

use common::{four_links, link_endpoint, Lab};

/// A profile's flags and the kernel flags its endpoint gets (in `ip mptcp` words).
const FLAGS: &[(&str, &str)] = &[
    ("subflow", "subflow"),
    ("signal", "signal"),
    ("signal,subflow", "signal subflow"),
    ("subflow,backup", "subflow backup"),
    ("signal,backup", "signal backup"),
    ("subflow,fullmesh", "subflow fullmesh"),
];

/// The daemon's resident memory (KiB) and open files.
fn daemon_footprint(lab: &Lab) -> (u64, usize) {
    let pid = lab.sh(&format!("cat {}", lab.state_file("daemon.pid")));
    let pid = pid.trim();
    let rss = lab.sh(&format!("awk '/^VmRSS/ {{ print $2 }}' /proc/{pid}/status"));
    let fds = lab.sh(&format!("ls /proc/{pid}/fd | wc -l"));
    (rss.trim().parse().unwrap(), fds.trim().parse().unwrap())
}

#[test]
fn up_down_and_reapply_with_random_flags_stay_exact_and_flat() {
    let cycles: usize = std::env::var("NM_MPTCP_SOAK_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let mut seed: u64 = std::env::var("NM_MPTCP_SOAK_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed);
    let mut random = |n: usize| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) % n as u64) as usize
    };

    let lab = Lab::start("soak");
    lab.nm_sysctl(0);
    lab.install_hook();
    four_links(&lab);
    lab.start_daemon();
    let mut active = [false; 4];
    let mut flags = [0usize; 4]; // index into FLAGS; the profiles start as `subflow`
    let expected = |active: &[bool; 4], flags: &[usize; 4]| -> Vec<(String, String, String)> {
        (0..4)
            .filter(|&n| active[n])
            .map(|n| link_endpoint(n, FLAGS[flags[n]].1))
            .collect()
    };
    let mut footprint = None;
    for cycle in 1..=cycles {
        let n = random(4);
        let script = match (active[n], random(3)) {
            (false, _) => {
                active[n] = true;
                format!("nmcli connection up p{n} >/dev/null")
            }
            (true, 0) => {
                active[n] = false;
                format!("nmcli connection down p{n} >/dev/null")
            }
            (true, _) => {
                flags[n] = random(FLAGS.len());
                format!(
                    "nmcli connection modify p{n} connection.mptcp-flags {},also-without-default-route && nmcli device reapply e{n} >/dev/null",
                    FLAGS[flags[n]].0
                )
            }
        };
        lab.sh(&script);
        if cycle % 25 == 0 || cycle == cycles {
            lab.assert_at_rest(&expected(&active, &flags), &format!("cycle {cycle}"));
            // Memory and open files, measured from the first rest on (after warm-up).
            let now = daemon_footprint(&lab);
            let (rss, fds) = *footprint.get_or_insert(now);
            assert!(
                now.0 <= rss + 2048 && now.1 <= fds + 2,
                "cycle {cycle}: the daemon grew from {rss} KiB, {fds} files to {now:?}"
            );
        }
    }
    assert_eq!(lab.hook_failures(), Vec::<String>::new());
    eprintln!(
        "soak: {cycles} cycles, daemon from {footprint:?} to {:?} (KiB, open files)",
        daemon_footprint(&lab)
    );
}
