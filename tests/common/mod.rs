//! Integration-test harness: a real NetworkManager, nm-dispatcher, system bus and kernel in
//! network namespaces (tests/lab/lab.sh), driven with nmcli and observed with ip(8).
#![allow(dead_code)] // each test binary uses part of the harness

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub const HOOK: &str = env!("CARGO_BIN_EXE_nm-mptcp");

/// An endpoint as `ip mptcp endpoint show` prints it: (address, device, flags).
pub type Endpoint = (String, String, String);

fn lab_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab/lab.sh")
}

/// A NetworkManager release the lab runs: the host's own (Debian 12), or one from a Debian
/// root that tests/lab/lab.sh builds once (`LAB_NM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nm {
    V1_42,
    V1_52,
    V1_58,
}

impl Nm {
    pub fn version(self) -> &'static str {
        match self {
            Nm::V1_42 => "1.42",
            Nm::V1_52 => "1.52",
            Nm::V1_58 => "1.58",
        }
    }

    /// Whether this version is to be tested: `NM_MPTCP_LAB_VERSIONS` (say `1.42,1.58`) narrows
    /// the default, every one.
    pub fn selected(self) -> bool {
        let Ok(list) = std::env::var("NM_MPTCP_LAB_VERSIONS") else {
            return true;
        };
        let versions: Vec<&str> = list.split(',').map(str::trim).collect();
        for v in &versions {
            assert!(
                [Nm::V1_42, Nm::V1_52, Nm::V1_58]
                    .iter()
                    .any(|nm| nm.version() == *v),
                "NM_MPTCP_LAB_VERSIONS: no NetworkManager {v:?} in the lab (1.42, 1.52, 1.58)"
            );
        }
        versions.contains(&self.version())
    }

    /// `laminar` came with 1.56.
    pub fn has_laminar(self) -> bool {
        self == Nm::V1_58
    }

    /// From 1.56 the built-in default (and `default` profiles) adds `laminar`.
    pub fn default_endpoint_flags(self) -> &'static str {
        match self {
            Nm::V1_42 | Nm::V1_52 => "subflow",
            Nm::V1_58 => "subflow laminar",
        }
    }
}

/// Run each named `fn(Nm)` as a test on every NetworkManager version, in modules `nm_1_42`,
/// `nm_1_52` and `nm_1_58`.
#[macro_export]
macro_rules! on_every_version {
    ($($test:ident),+ $(,)?) => {
        $crate::on_every_version!(@version nm_1_42, V1_42, $($test),+);
        $crate::on_every_version!(@version nm_1_52, V1_52, $($test),+);
        $crate::on_every_version!(@version nm_1_58, V1_58, $($test),+);
    };
    (@version $module:ident, $nm:ident, $($test:ident),+) => {
        mod $module {
            $(
                #[test]
                fn $test() {
                    let nm = $crate::common::Nm::$nm;
                    if !nm.selected() {
                        eprintln!("NetworkManager {} not in NM_MPTCP_LAB_VERSIONS", nm.version());
                        return;
                    }
                    super::$test(nm)
                }
            )+
        }
    };
}

pub struct Lab {
    pub name: String,
    pub nm: Nm,
}

impl Lab {
    /// Start a lab with the host's NetworkManager, named uniquely per test (and per
    /// process, for parallel runs).
    pub fn start(tag: &str) -> Lab {
        Lab::start_on(tag, Nm::V1_42)
    }

    /// Start a lab with NetworkManager `nm`; `tag` is at most 7 letters.
    pub fn start_on(tag: &str, nm: Nm) -> Lab {
        Lab::start_from(tag, nm, None)
    }

    /// Start a lab running NetworkManager `nm` from the Debian root `root` (see
    /// `Lab::root_of`), such as an overlay a test installs packages into.
    pub fn start_in_root(tag: &str, nm: Nm, root: &Path) -> Lab {
        Lab::start_from(tag, nm, Some(root))
    }

    /// The Debian root the lab runs NetworkManager `nm` from (built once).
    pub fn root_of(nm: Nm) -> PathBuf {
        let out = Command::new("bash")
            .arg(lab_script())
            .args(["root", nm.version()])
            .output()
            .expect("run tests/lab/lab.sh");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    }

    fn start_from(tag: &str, nm: Nm, root: Option<&Path>) -> Lab {
        assert!(
            nix_is_root(),
            "integration tests need root (network namespaces, NetworkManager)"
        );
        let name = match nm {
            Nm::V1_42 => format!("{tag}{}", std::process::id() % 10000),
            _ => format!("{tag}{}{}", &nm.version()[2..], std::process::id() % 1000),
        };
        let lab = Lab { name, nm };
        lab.script(&["stop", &lab.name]);
        let mut start = Command::new("bash");
        start
            .arg(lab_script())
            .args(["start", &lab.name])
            .env("LAB_NM", nm.version());
        if let Some(root) = root {
            start.env("LAB_ROOT_DIR", root);
        }
        let out = start.output().expect("run tests/lab/lab.sh");
        assert!(
            out.status.success(),
            "lab {} did not start:\n{}{}",
            lab.name,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        lab
    }

    fn script(&self, args: &[&str]) -> Output {
        Command::new("bash")
            .arg(lab_script())
            .args(args)
            .output()
            .expect("run tests/lab/lab.sh")
    }

    /// Run a command inside the NetworkManager namespace; returns the raw output.
    pub fn exec(&self, argv: &[&str]) -> Output {
        let mut args = vec!["exec", self.name.as_str()];
        args.extend_from_slice(argv);
        self.script(&args)
    }

    /// Run a shell snippet inside the NetworkManager namespace; it must succeed.
    pub fn sh(&self, script: &str) -> String {
        let out = self.exec(&["bash", "-ec", script]);
        assert!(
            out.status.success(),
            "in lab {}: {script}\nstdout: {}\nstderr: {}\nlogs:\n{}",
            self.name,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.logs()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run a shell snippet with the host's programs in the lab's network and mount
    /// namespaces, on the lab's system bus (the roots of 1.52 and 1.58 have no Cockpit,
    /// browser or busctl); it must succeed.
    pub fn host(&self, script: &str) -> String {
        let out = self.script(&["host", &self.name, "bash", "-ec", script]);
        assert!(
            out.status.success(),
            "host programs in lab {}: {script}\nstdout: {}\nstderr: {}",
            self.name,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run a shell snippet in the peer namespace; it must succeed.
    pub fn peer(&self, script: &str) -> String {
        let out = self.script(&["peer", &self.name, "bash", "-ec", script]);
        assert!(
            out.status.success(),
            "in peer of {}: {script}\n{}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A veth pair: `client` for NetworkManager, `server` up in the peer namespace.
    pub fn link(&self, client: &str, server: &str) {
        let out = self.script(&["link", &self.name, client, server]);
        assert!(
            out.status.success(),
            "link {client}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// What NetworkManager reads as net.mptcp.enabled (the hook reads the real one).
    pub fn nm_sysctl(&self, value: u8) {
        let out = self.script(&["nm-sysctl", &self.name, &value.to_string()]);
        assert!(out.status.success());
    }

    pub fn install_hook(&self) {
        let out = self.script(&["hook", &self.name, HOOK]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Install `dbus/` as a package does (policy, activation file for this binary).
    pub fn install_dbus_service(&self) {
        let out = self.script(&["dbus-install", &self.name, HOOK]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn uninstall_hook(&self) {
        let out = self.script(&["unhook", &self.name]);
        assert!(out.status.success());
    }

    /// Stop NetworkManager and start it again on the same state.
    pub fn restart_networkmanager(&self) {
        let out = self.script(&["restart-nm", &self.name]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// NetworkManager's complaints about the hook (a non-zero exit on some event).
    pub fn hook_failures(&self) -> Vec<String> {
        let log = std::fs::read_to_string(self.state_file("nm.log")).unwrap_or_default();
        log.lines()
            .filter(|l| l.contains("50-nm-mptcp failed"))
            .map(str::to_owned)
            .collect()
    }

    pub fn logs(&self) -> String {
        String::from_utf8_lossy(&self.script(&["logs", &self.name]).stdout).into_owned()
    }

    /// Run nm-mptcp inside the lab.
    pub fn nm_mptcp(&self, args: &[&str]) -> Output {
        let mut argv = vec![HOOK];
        argv.extend_from_slice(args);
        self.exec(&argv)
    }

    /// A file of the lab's state (its NetworkManager.conf, logs), seen from the host.
    /// Who owns each endpoint, as `nm-mptcp status --json` says.
    pub fn owners(&self) -> Vec<String> {
        let status: serde_json::Value =
            serde_json::from_slice(&self.nm_mptcp(&["status", "--json"]).stdout)
                .expect("status --json");
        status["endpoints"]
            .as_array()
            .expect("endpoints")
            .iter()
            .map(|e| e["owner"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    pub fn state_file(&self, name: &str) -> String {
        format!("/tmp/nm-mptcp-lab/{}/{name}", self.name)
    }

    /// Start `nm-mptcp daemon` in the lab (its log: `daemon_log`); returns once it listens.
    pub fn start_daemon(&self) {
        self.start_daemon_logging("info");
    }

    /// Start the daemon logging at `level` (`NM_MPTCP_LOG`): at debug, events that changed
    /// nothing are logged too.
    pub fn start_daemon_logging(&self, level: &str) {
        let (log, pid) = (self.state_file("daemon.log"), self.state_file("daemon.pid"));
        self.sh(&format!(
            "NM_MPTCP_LOG={level} setsid {HOOK} daemon >{log} 2>&1 </dev/null & echo $! >{pid}"
        ));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.daemon_log().contains("daemon ready") {
            assert!(
                Instant::now() < deadline,
                "the daemon did not start:\n{}",
                self.daemon_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kill the daemon as a crash would (its socket file stays behind).
    pub fn kill_daemon(&self) {
        let pid = self.state_file("daemon.pid");
        self.sh(&format!(
            "kill -9 $(cat {pid}); while kill -0 $(cat {pid}) 2>/dev/null; do sleep 0.05; done"
        ));
    }

    pub fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.state_file("daemon.log")).unwrap_or_default()
    }

    /// `nm-mptcp reconcile` beside NetworkManager's own endpoints (the usual host): it
    /// adopts them and changes nothing.
    pub fn reconcile_changes_nothing(&self, context: &str) {
        let before = self.endpoints();
        let out = self.nm_mptcp(&["reconcile"]);
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains(" 0 change(s)"),
            "{context}: reconcile beside NetworkManager: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            self.endpoints(),
            before,
            "{context}: reconcile changed NetworkManager's endpoints"
        );
    }

    /// The kernel's endpoints, as (address, device, flags) with ids left out.
    pub fn endpoints(&self) -> BTreeSet<Endpoint> {
        parse_endpoints(&self.sh("ip mptcp endpoint show"))
    }

    /// Wait until the kernel holds exactly `expected`; fail with the last state and the logs.
    pub fn expect_endpoints(&self, expected: &[(&str, &str, &str)]) {
        let expected = endpoint_set(expected);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let got = self.endpoints();
            if got == expected {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "lab {}: endpoints\n  got      {got:?}\n  expected {expected:?}\nlogs:\n{}",
                    self.name,
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The kernel flags (signal 1, subflow 2, backup 4, fullmesh 8) of the first endpoint for
    /// the IPv4 `address` after `act` brings the address: `bench/event_clock.py` watches from
    /// the moment the kernel announces it, dumping the endpoints every 0.1 ms, so an endpoint
    /// first added wrong and corrected later (after a read of NetworkManager, milliseconds)
    /// is caught.
    pub fn first_endpoint_flags(&self, address: &str, act: impl FnOnce()) -> u32 {
        use std::io::{BufRead, BufReader};
        let clock = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/event_clock.py");
        let mut watch = Reaped(
            Command::new("ip")
                .args(["netns", "exec", &format!("{}-c", self.name), "python3"])
                .arg(clock)
                .args([address, "15", "--flags"])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("start bench/event_clock.py"),
        );
        let mut lines = BufReader::new(watch.0.stdout.take().unwrap()).lines();
        let ready = lines.next().and_then(Result::ok);
        assert_eq!(ready.as_deref(), Some("ready"), "event_clock did not start");
        act();
        let result = lines.next().and_then(Result::ok).unwrap_or_default();
        assert!(
            watch.0.wait().expect("event_clock").success(),
            "no endpoint for {address}:\n{}",
            self.logs()
        );
        result
            .split_whitespace()
            .nth(1)
            .and_then(|flags| flags.parse().ok())
            .unwrap_or_else(|| panic!("event_clock printed {result:?}"))
    }

    /// Wait until the endpoint table has not changed for `quiet`.
    pub fn settled_endpoints(&self, quiet: Duration) -> BTreeSet<Endpoint> {
        let mut last = self.endpoints();
        let mut since = Instant::now();
        let deadline = Instant::now() + Duration::from_secs(20);
        while since.elapsed() < quiet && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            let now = self.endpoints();
            if now != last {
                last = now;
                since = Instant::now();
            }
        }
        last
    }
}

/// A child process killed and reaped when dropped, also when a test fails first.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if std::env::var_os("LAB_KEEP").is_none() {
            self.script(&["stop", &self.name]);
        }
    }
}

/// The RHEL chapter's three client links (enp4s0f0, enp4s0f1, enp6s0), each with a server
/// address on its peer, and their profiles p0 (with the only default route), p1 and p2, not
/// yet active and without MPTCP flags.
pub fn seed_topology(lab: &Lab) {
    for (client, server, server_address) in [
        ("enp4s0f0", "s0", "192.0.2.1/24"),
        ("enp4s0f1", "s1", "198.51.100.1/24"),
        ("enp6s0", "s2", "192.0.2.3/24"),
    ] {
        lab.link(client, server);
        lab.peer(&format!("ip addr add {server_address} dev {server}"));
    }
    add_profile(lab, "p0", "enp4s0f0", "ipv4.method manual ipv4.addresses 192.0.2.2/24 ipv4.gateway 192.0.2.1 ipv6.method disabled");
    add_profile(
        lab,
        "p1",
        "enp4s0f1",
        "ipv4.method manual ipv4.addresses 198.51.100.2/24 ipv6.method disabled",
    );
    add_profile(
        lab,
        "p2",
        "enp6s0",
        "ipv4.method manual ipv4.addresses 192.0.2.5/24 ipv6.method disabled",
    );
}

/// The chapter's flags.
pub const SEED_FLAGS: &str = "signal,subflow,also-without-default-route";

/// Endpoints written as (address, device, flags) literals.
pub fn endpoint_set(endpoints: &[(&str, &str, &str)]) -> BTreeSet<Endpoint> {
    endpoints
        .iter()
        .map(|(a, d, f)| (a.to_string(), d.to_string(), f.to_string()))
        .collect()
}

/// Parse `ip mptcp endpoint show` lines: `ADDR [port P] id N [flags...] [dev IF]`.
pub fn parse_endpoints(text: &str) -> BTreeSet<Endpoint> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let mut flags = Vec::new();
            let mut dev = String::new();
            let mut i = 1;
            while i < words.len() {
                match words[i] {
                    "id" | "port" => i += 1,
                    "dev" => {
                        dev = words.get(i + 1).unwrap_or(&"").to_string();
                        i += 1;
                    }
                    flag => flags.push(flag),
                }
                i += 1;
            }
            (words[0].to_string(), dev, flags.join(" "))
        })
        .collect()
}

fn nix_is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Add an ethernet profile with nmcli; `extra` are further `property value` pairs.
pub fn add_profile(lab: &Lab, name: &str, ifname: &str, extra: &str) {
    lab.sh(&format!(
        "nmcli connection add type ethernet ifname {ifname} con-name {name} autoconnect no {extra} >/dev/null"
    ));
}

/// The foreign endpoint the fault, race and soak tests keep beside nm-mptcp's: it must
/// survive everything.
pub const FOREIGN: (&str, &str, &str) = ("127.0.0.9", "lo", "signal");

/// Links e0..e3 (10.N.0.2/24; e0 with the only default route) with profiles p0..p3, each
/// `subflow` and also without a default route, not yet active; and the foreign endpoint.
pub fn four_links(lab: &Lab) {
    lab.sh("ip addr add 127.0.0.9/8 dev lo && ip mptcp endpoint add 127.0.0.9 dev lo signal");
    for i in 0..4 {
        lab.link(&format!("e{i}"), &format!("s{i}"));
        let gateway = if i == 0 { " ipv4.gateway 10.0.0.1" } else { "" };
        add_profile(
            lab,
            &format!("p{i}"),
            &format!("e{i}"),
            &format!("ipv4.method manual ipv4.addresses 10.{i}.0.2/24{gateway} ipv6.method disabled connection.mptcp-flags subflow,also-without-default-route"),
        );
    }
}

impl Lab {
    /// At rest after whatever happened: the kernel holds exactly `ours` and the foreign
    /// endpoint, `reconcile` finds nothing to do, and the ledger records exactly `ours` (no
    /// orphan, no leftover entry).
    pub fn assert_at_rest(&self, ours: &[(String, String, String)], context: &str) {
        let mut expected: Vec<(&str, &str, &str)> = ours
            .iter()
            .map(|(a, d, f)| (a.as_str(), d.as_str(), f.as_str()))
            .collect();
        expected.push(FOREIGN);
        self.expect_endpoints(&expected);
        let out = self.nm_mptcp(&["reconcile"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains(" 0 change(s)"),
            "{context}: reconcile at rest: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ledger =
            self.sh("cat /run/nm-mptcp/ledger.json 2>/dev/null || echo '{\"entries\": []}'");
        let ledger: serde_json::Value = serde_json::from_str(&ledger).unwrap();
        let mut recorded: Vec<String> = ledger["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["address"].as_str().unwrap().to_owned())
            .collect();
        recorded.sort();
        let mut wanted: Vec<String> = ours.iter().map(|(a, _, _)| a.clone()).collect();
        wanted.sort();
        assert_eq!(recorded, wanted, "{context}: the ledger");
    }
}

/// nm-mptcp's endpoint for profile pN on eN, with `ip mptcp` flags `flags`.
pub fn link_endpoint(n: usize, flags: &str) -> (String, String, String) {
    (format!("10.{n}.0.2"), format!("e{n}"), flags.to_owned())
}

/// Run a shell script; it must succeed. Returns its stdout.
pub fn host_sh(script: &str) -> String {
    let out = Command::new("bash")
        .args(["-ec", script])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "{script}\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What `packaging/build` printed: every package's path, built once for every test here,
/// with a target directory of its own (the one `cargo test` holds stays untouched).
fn built_packages() -> &'static str {
    static BUILT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| host_sh("CARGO_TARGET_DIR=target/package-build packaging/build"))
}

/// The package file whose name starts with `name` and ends with `suffix`.
fn built(name: &str, suffix: &str) -> PathBuf {
    let printed = built_packages();
    let path = printed
        .lines()
        .find(|l| {
            let file = l.rsplit('/').next().unwrap_or(l);
            file.starts_with(name) && l.ends_with(suffix)
        })
        .unwrap_or_else(|| panic!("no {name}*{suffix} in {printed}"));
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// nm-mptcp's .deb and .rpm.
pub fn packages() -> (PathBuf, PathBuf) {
    (built("nm-mptcp_", ".deb"), built("nm-mptcp-", ".rpm"))
}

/// cockpit-nm-mptcp's .deb and .rpm.
pub fn cockpit_packages() -> (PathBuf, PathBuf) {
    (
        built("cockpit-nm-mptcp_", ".deb"),
        built("cockpit-nm-mptcp-", ".rpm"),
    )
}
