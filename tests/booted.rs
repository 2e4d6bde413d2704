//! The .deb on a booted host, as users run it: systemd as PID 1 (systemd-nspawn), NetworkManager
//! started by systemd with its own MPTCP support on, the package installed with apt. The
//! hardened unit is enabled and active and writes what it must (limits, rp_filter, its run
//! directory) without a denial; the seed's endpoints and limits appear; bus activation starts
//! the unit; an upgrade restarts it; a NetworkManager restart changes no endpoint; removal
//! leaves NetworkManager's own endpoints and a hand-made one and gives back the rest (the
//! limits); purge leaves no file. On trixie (NetworkManager 1.52) and sid (1.58).

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{endpoint_set, packages, Endpoint};

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A booted container (tests/lab/booted.sh), stopped when dropped.
struct Host {
    name: String,
}

fn script() -> String {
    format!("{}/tests/lab/booted.sh", env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str]) -> Output {
    Command::new("bash")
        .arg(script())
        .args(args)
        .output()
        .expect("run tests/lab/booted.sh")
}

impl Host {
    fn boot(suite: &str) -> Host {
        let host = Host {
            name: format!("b{suite}{}", std::process::id() % 100_000),
        };
        let out = run(&["start", &host.name, suite]);
        assert!(
            out.status.success(),
            "boot {suite}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        host
    }

    /// A shell script in the container; it must succeed.
    fn sh(&self, script: &str) -> String {
        let out = run(&["exec", &self.name, "bash", "-ec", script]);
        assert!(
            out.status.success(),
            "in {}: {script}\nstdout: {}\nstderr: {}\njournal:\n{}",
            self.name,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.journal()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn journal(&self) -> String {
        let out = run(&[
            "exec",
            &self.name,
            "journalctl",
            "--no-pager",
            "-n",
            "60",
            "-o",
            "short-monotonic",
        ]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn link(&self, inside: &str, peer: &str) {
        let out = run(&["link", &self.name, inside, peer]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn put(&self, file: &Path) -> String {
        let out = run(&["put", &self.name, &file.to_string_lossy()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        format!("/var/tmp/{}", file.file_name().unwrap().to_string_lossy())
    }

    fn endpoints(&self) -> std::collections::BTreeSet<Endpoint> {
        self.sh("ip mptcp endpoint show")
            .lines()
            .map(|line| {
                let words: Vec<&str> = line.split_whitespace().collect();
                let dev = words
                    .iter()
                    .position(|w| *w == "dev")
                    .map(|i| words[i + 1])
                    .unwrap_or("");
                let flags: Vec<&str> = words
                    .iter()
                    .copied()
                    .filter(|w| ["signal", "subflow", "backup", "fullmesh"].contains(w))
                    .collect();
                (words[0].to_owned(), dev.to_owned(), flags.join(" "))
            })
            .collect()
    }

    /// Wait until the kernel holds exactly these endpoints.
    fn expect_endpoints(&self, expected: &[(&str, &str, &str)]) {
        let expected = endpoint_set(expected);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let got = self.endpoints();
            if got == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: endpoints\n  got      {got:?}\n  expected {expected:?}\n{}",
                self.name,
                self.journal()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn unit(&self, property: &str) -> String {
        self.sh(&format!("systemctl show -P {property} nm-mptcp.service"))
            .trim()
            .to_owned()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if std::env::var_os("LAB_KEEP").is_none() {
            run(&["stop", &self.name]);
        }
    }
}

const SEED: [(&str, &str, &str); 3] = [
    ("192.0.2.2", "enp4s0f0", "signal subflow"),
    ("198.51.100.2", "enp4s0f1", "signal subflow"),
    ("192.0.2.5", "enp6s0", "signal subflow"),
];

fn the_package_on_a_booted_host(suite: &str, nm_version: &str) {
    let (deb, _) = packages();
    let host = Host::boot(suite);
    assert!(
        host.sh("NetworkManager --version").starts_with(nm_version),
        "NetworkManager {nm_version} on {suite}"
    );
    let deb = host.put(&deb);
    let apt = format!(
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends {deb} 2>&1"
    );
    let installed = host.sh(&apt);
    assert!(installed.contains("Setting up nm-mptcp"), "{installed}");
    assert_eq!(host.unit("UnitFileState"), "enabled");
    assert_eq!(host.unit("ActiveState"), "active");

    // The seed's three links and profiles: NetworkManager's support and nm-mptcp agree.
    for (i, (_, device, _)) in SEED.iter().enumerate() {
        host.link(device, &format!("{}s{i}", &host.name[..4]));
    }
    host.sh(
        "nmcli connection add type ethernet ifname enp4s0f0 con-name p0 ipv4.method manual ipv4.addresses 192.0.2.2/24 ipv4.gateway 192.0.2.1 ipv6.method disabled >/dev/null
         nmcli connection add type ethernet ifname enp4s0f1 con-name p1 ipv4.method manual ipv4.addresses 198.51.100.2/24 ipv6.method disabled >/dev/null
         nmcli connection add type ethernet ifname enp6s0 con-name p2 ipv4.method manual ipv4.addresses 192.0.2.5/24 ipv6.method disabled >/dev/null
         for p in p0 p1 p2; do
             nmcli connection modify $p connection.mptcp-flags signal,subflow,also-without-default-route
             nmcli connection up $p >/dev/null
         done",
    );
    host.expect_endpoints(&SEED);
    assert_eq!(
        host.sh("ip mptcp limits show").trim(),
        "add_addr_accepted 2 subflows 3",
        "the chapter's limits, set by the hardened unit's daemon"
    );
    // Every endpoint nm-mptcp's to manage (adopted from NetworkManager or its own).
    let status = host.sh("nm-mptcp status --json");
    assert_eq!(
        status.matches("\"owner\": \"nm-mptcp\"").count(),
        3,
        "{status}"
    );

    // Bus activation: the first caller after a stop starts the unit again.
    host.sh("systemctl stop nm-mptcp.service");
    assert_eq!(host.unit("ActiveState"), "inactive");
    let version = host.sh("busctl get-property io.github.nm_mptcp1 /io/github/nm_mptcp1 io.github.nm_mptcp1.Manager Version");
    assert_eq!(version.trim(), format!("s \"{VERSION}\""));
    assert_eq!(host.unit("ActiveState"), "active");

    // An upgrade (here a reinstall) restarts the daemon.
    let before = host.unit("MainPID");
    let reinstalled = host.sh(&apt.replace("install -y", "install --reinstall -y"));
    assert!(reinstalled.contains("Setting up nm-mptcp"), "{reinstalled}");
    let after = host.unit("MainPID");
    assert!(
        after != before && after != "0",
        "MainPID {before} -> {after}"
    );
    assert_eq!(host.unit("ActiveState"), "active");

    // A NetworkManager restart changes no endpoint and no id.
    let ids = host.sh("ip mptcp endpoint show | sort");
    host.sh("systemctl restart NetworkManager && nm-online -q -t 30 || true");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(host.sh("ip mptcp endpoint show | sort"), ids);

    // The hardened unit wrote the limits, rp_filter and its run directory without a denial.
    let journal = host.sh("journalctl -u nm-mptcp.service -o cat --no-pager");
    for denial in [
        "Permission denied",
        "Read-only file system",
        "Operation not permitted",
    ] {
        assert!(!journal.contains(denial), "{denial}:\n{journal}");
    }
    assert!(journal.contains("daemon ready"), "{journal}");

    // Removal hands back: NetworkManager's endpoints of the profiles still up stay, and so
    // does a hand-made one; the limits go back to what they were.
    host.sh("ip addr add 127.0.0.9/8 dev lo && ip mptcp endpoint add 127.0.0.9 dev lo signal");
    let removed = host.sh("DEBIAN_FRONTEND=noninteractive apt-get remove -y -q nm-mptcp 2>&1");
    assert!(removed.contains("left to NetworkManager"), "{removed}");
    let mut kept = SEED.to_vec();
    kept.push(("127.0.0.9", "lo", "signal"));
    host.expect_endpoints(&kept);
    assert_eq!(
        host.sh("ip mptcp limits show").trim(),
        "add_addr_accepted 0 subflows 2",
        "the kernel's defaults, as before the package"
    );
    assert_eq!(host.unit("ActiveState"), "inactive");

    // Purge: no file of nm-mptcp's is left.
    host.sh("DEBIAN_FRONTEND=noninteractive apt-get purge -y -q nm-mptcp >/dev/null 2>&1");
    let left = host.sh(
        "for f in /usr/bin/nm-mptcp /usr/lib/NetworkManager/dispatcher.d/50-nm-mptcp \
             /usr/lib/NetworkManager/dispatcher.d/pre-down.d/50-nm-mptcp \
             /usr/lib/systemd/system/nm-mptcp.service /etc/systemd/system/multi-user.target.wants/nm-mptcp.service \
             /usr/share/dbus-1/system.d/io.github.nm_mptcp1.conf \
             /usr/share/dbus-1/system-services/io.github.nm_mptcp1.service /etc/nm-mptcp /run/nm-mptcp; do
             if [ -e $f ] || [ -L $f ]; then echo $f; fi
         done",
    );
    assert_eq!(left, "", "purged");
    host.expect_endpoints(&kept);
}

#[test]
fn trixie_networkmanager_1_52() {
    the_package_on_a_booted_host("trixie", "1.52");
}

#[test]
fn sid_networkmanager_1_58() {
    the_package_on_a_booted_host("sid", "1.58");
}
