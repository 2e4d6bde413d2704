//! The packages as users get them. `packaging/build` makes the .deb and the .rpm; their
//! contents, metadata and scripts are held to what they must install, lintian judges the
//! .deb, and the packaged binary runs. Then the .deb is installed with apt-get into a clean
//! Debian root with NetworkManager (trixie's 1.52, through an overlay: the lab's cached root
//! stays clean), where nothing runs systemd, and the seed scenario runs on what the package
//! installed alone: its dispatcher hook acts, its D-Bus name activates on the first call, its
//! man page is there, and `dpkg --purge` takes away nm-mptcp's endpoints and nothing else.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{host_sh as sh, packages, seed_topology, Lab, Nm, SEED_FLAGS};

const REPO: &str = env!("CARGO_MANIFEST_DIR");

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Every file both packages install (the rpm's zsh completion lives elsewhere: see `rpm`).
const FILES: &[&str] = &[
    "/etc/nm-mptcp/config.toml",
    "/usr/bin/nm-mptcp",
    "/usr/lib/NetworkManager/dispatcher.d/50-nm-mptcp",
    "/usr/lib/NetworkManager/dispatcher.d/pre-down.d/50-nm-mptcp",
    "/usr/lib/systemd/system/nm-mptcp.service",
    "/usr/share/bash-completion/completions/nm-mptcp",
    "/usr/share/dbus-1/interfaces/io.github.nm_mptcp1.Manager.xml",
    "/usr/share/dbus-1/system-services/io.github.nm_mptcp1.service",
    "/usr/share/dbus-1/system.d/io.github.nm_mptcp1.conf",
    "/usr/share/doc/nm-mptcp/README.md",
    "/usr/share/fish/vendor_completions.d/nm-mptcp.fish",
    "/usr/share/man/man8/nm-mptcp.8.gz",
];

/// The files and links (directories aside) of a `dpkg-deb -c` listing.
fn listed_files(listing: &str) -> BTreeSet<String> {
    listing
        .lines()
        .filter(|l| !l.starts_with('d'))
        .filter_map(|l| l.split_whitespace().nth(5))
        .map(|p| p.trim_start_matches('.').to_owned())
        .collect()
}

/// Lintian finds no error or warning in the package.
fn lintian_clean(deb: &str) {
    let lintian = Command::new("lintian")
        .args(["--fail-on", "error,warning"])
        .arg(deb)
        .output()
        .expect("lintian (apt-get install lintian)");
    let report = String::from_utf8_lossy(&lintian.stdout);
    assert!(lintian.status.success(), "{report}");
    assert!(
        !report
            .lines()
            .any(|l| l.starts_with("E:") || l.starts_with("W:")),
        "{report}"
    );
}

fn set(lines: &str) -> BTreeSet<String> {
    lines
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn expected(zsh: &str) -> BTreeSet<String> {
    FILES
        .iter()
        .map(|f| f.to_string())
        .chain([zsh.to_owned()])
        .collect()
}

#[test]
fn the_deb_installs_everything_depends_on_networkmanager_and_is_lintian_clean() {
    let (deb, _) = packages();
    let deb = deb.display();
    let listing = sh(&format!("dpkg-deb -c {deb}"));
    let files: BTreeSet<String> = listed_files(&listing)
        .into_iter()
        .filter(|p| !p.starts_with("/usr/share/doc/nm-mptcp/c") && !p.contains("lintian"))
        .collect();
    assert_eq!(
        files,
        expected("/usr/share/zsh/vendor-completions/_nm-mptcp")
    );
    for link in [
        "./usr/lib/NetworkManager/dispatcher.d/50-nm-mptcp -> ../../../bin/nm-mptcp",
        "./usr/lib/NetworkManager/dispatcher.d/pre-down.d/50-nm-mptcp -> ../50-nm-mptcp",
    ] {
        assert!(listing.contains(link), "relative link {link}: {listing}");
    }
    assert!(
        listing.contains("-rwxr-xr-x 0/0") && listing.contains("./usr/bin/nm-mptcp"),
        "{listing}"
    );
    assert_eq!(
        sh(&format!("dpkg-deb -f {deb} Depends")).trim(),
        "network-manager (>= 1.20)"
    );
    let control = sh(&format!(
        "d=$(mktemp -d); dpkg-deb -e {deb} $d; cat $d/conffiles; grep -c 'nm-mptcp release' $d/prerm; grep -c 'deb-systemd-helper enable' $d/postinst; grep -c ReloadConfig $d/postinst; rm -rf $d"
    ));
    assert_eq!(
        control, "/etc/nm-mptcp/config.toml\n1\n1\n1\n",
        "conffile, release on removal, the unit enabled, the bus reloaded"
    );

    // Lintian: no error or warning; every override says why, in a comment above it.
    lintian_clean(&deb.to_string());
    let overrides =
        std::fs::read_to_string(Path::new(REPO).join("packaging/debian/lintian-overrides"))
            .unwrap();
    let lines: Vec<&str> = overrides.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with("nm-mptcp:") {
            assert!(
                i > 0 && lines[i - 1].starts_with('#'),
                "override without a reason: {line}"
            );
        }
    }

    // The packaged binary runs, and is static (nothing for the loader to do).
    let version = sh(&format!(
        "d=$(mktemp -d); dpkg-deb -x {deb} $d; $d/usr/bin/nm-mptcp --version; file -L $d/usr/bin/nm-mptcp; zcat $d/usr/share/man/man8/nm-mptcp.8.gz | grep -c '^.SH \"D-BUS INTERFACE\"'; rm -rf $d"
    ));
    assert!(
        version.starts_with(&format!("nm-mptcp {VERSION}\n")),
        "{version}"
    );
    assert!(
        version.contains("static-pie linked") || version.contains("statically linked"),
        "{version}"
    );
}

#[test]
fn the_rpm_installs_everything_and_requires_networkmanager() {
    let (_, rpm) = packages();
    let rpm = rpm.display();
    // Fedora's place for zsh completions; cargo-generate-rpm makes no symlinks, so the
    // dispatcher entries are copies of the binary (listed alike).
    assert_eq!(
        set(&sh(&format!("rpm -qlp {rpm}")))
            .into_iter()
            .filter(|p| !p.starts_with("/usr/share/licenses/"))
            .collect::<BTreeSet<_>>(),
        expected("/usr/share/zsh/site-functions/_nm-mptcp")
    );
    let requires = sh(&format!("rpm -qpR {rpm}"));
    assert!(requires.contains("NetworkManager >= 1.20"), "{requires}");
    let flags = sh(&format!(
        "rpm -qp --qf '[%{{FILENAMES}} %{{FILEFLAGS:fflags}}\\n]' {rpm} | grep ^/etc/"
    ));
    assert_eq!(
        flags, "/etc/nm-mptcp/config.toml cn\n",
        "%config(noreplace)"
    );
    let scripts = sh(&format!("rpm -qp --scripts {rpm}"));
    for part in [
        "systemctl enable nm-mptcp.service",
        "try-restart",
        "nm-mptcp release",
        "ReloadConfig",
    ] {
        assert!(scripts.contains(part), "{part}: {scripts}");
    }
    let version = sh(&format!(
        "d=$(mktemp -d); cd $d; rpm2cpio {rpm} | cpio -idm --quiet; ./usr/bin/nm-mptcp --version; cmp ./usr/bin/nm-mptcp ./usr/lib/NetworkManager/dispatcher.d/50-nm-mptcp; cmp ./usr/bin/nm-mptcp ./usr/lib/NetworkManager/dispatcher.d/pre-down.d/50-nm-mptcp; cd /; rm -rf $d"
    ));
    assert_eq!(version, format!("nm-mptcp {VERSION}\n"));
}

#[test]
fn the_cockpit_page_is_its_own_package_lintian_clean_and_depending_on_the_bridge() {
    let (deb, rpm) = common::cockpit_packages();
    let (deb, rpm) = (deb.display(), rpm.display());
    let page = [
        "/usr/share/cockpit/nm-mptcp/index.html",
        "/usr/share/cockpit/nm-mptcp/manifest.json",
        "/usr/share/cockpit/nm-mptcp/nm-mptcp.css",
        "/usr/share/cockpit/nm-mptcp/nm-mptcp.js",
        "/usr/share/cockpit/nm-mptcp/patternfly.css",
    ];
    let files: BTreeSet<String> = listed_files(&sh(&format!("dpkg-deb -c {deb}")))
        .into_iter()
        .filter(|p| !p.starts_with("/usr/share/doc/"))
        .collect();
    assert_eq!(files, page.iter().map(|p| p.to_string()).collect());
    assert_eq!(sh(&format!("dpkg-deb -f {deb} Architecture")).trim(), "all");
    assert_eq!(
        sh(&format!("dpkg-deb -f {deb} Depends")).trim(),
        format!("cockpit-bridge (>= 287), nm-mptcp (>= {VERSION})")
    );
    lintian_clean(&deb.to_string());
    // The stylesheet is PatternFly as Cockpit 287 builds it, from the pinned package.
    let css = sh(&format!(
        "d=$(mktemp -d); dpkg-deb -x {deb} $d; grep -c 'pf-c-table' $d/usr/share/cockpit/nm-mptcp/patternfly.css; rm -rf $d"
    ));
    assert!(css.trim().parse::<u32>().unwrap() > 0, "{css}");

    assert_eq!(
        set(&sh(&format!("rpm -qlp {rpm}")))
            .into_iter()
            .filter(|p| p.starts_with("/usr/share/cockpit/nm-mptcp/"))
            .collect::<BTreeSet<_>>(),
        page.iter().map(|p| p.to_string()).collect()
    );
    assert_eq!(sh(&format!("rpm -qp --qf '%{{ARCH}}' {rpm}")), "noarch");
    let requires = sh(&format!("rpm -qpR {rpm}"));
    assert!(
        requires.contains("cockpit-bridge >= 287")
            && requires.contains(&format!("nm-mptcp >= {VERSION}")),
        "{requires}"
    );
}

/// An overlay over the lab's Debian root: what the test installs lands in `upper`.
struct Overlay {
    base: PathBuf,
}

impl Overlay {
    fn over(lower: &Path) -> Overlay {
        let base = std::env::temp_dir().join(format!("nm-mptcp-pkg-{}", std::process::id()));
        sh(&format!(
            "b={b}; umount -q $b/root 2>/dev/null || true; rm -rf $b; mkdir -p $b/upper $b/work $b/root
             mount -t overlay overlay -o lowerdir={lower},upperdir=$b/upper,workdir=$b/work $b/root",
            b = base.display(),
            lower = lower.display()
        ));
        Overlay { base }
    }

    fn root(&self) -> PathBuf {
        self.base.join("root")
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        let b = self.base.display();
        let _ = Command::new("bash")
            .args(["-c", &format!("umount -l {b}/root; rm -rf {b}")])
            .status();
    }
}

#[test]
fn the_deb_installed_with_apt_runs_the_seed_scenario_and_purge_gives_back_only_its_own() {
    let (deb, _) = packages();
    let overlay = Overlay::over(&Lab::root_of(Nm::V1_52));
    let lab = Lab::start_in_root("pkg", Nm::V1_52, &overlay.root());
    // NetworkManager's own support out of the way: every endpoint is the package's.
    lab.nm_sysctl(0);
    let local_deb = lab.state_file(&format!("nm-mptcp_{VERSION}.deb"));
    std::fs::copy(deb, &local_deb).unwrap();
    let installed = lab.sh(&format!(
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends {local_deb} 2>&1"
    ));
    assert!(installed.contains("Setting up nm-mptcp"), "{installed}");
    assert_eq!(
        lab.sh("command -v nm-mptcp; readlink /usr/lib/NetworkManager/dispatcher.d/50-nm-mptcp; zcat /usr/share/man/man8/nm-mptcp.8.gz | grep -c '^.TH nm-mptcp 8'"),
        "/usr/bin/nm-mptcp\n../../../bin/nm-mptcp\n1\n"
    );

    // The seed, with nothing copied by hand: the packaged hook acts on each `up`.
    seed_topology(&lab);
    lab.sh("ip mptcp limits set subflows 0 add_addr_accepted 0
            ip addr add 127.0.0.9/8 dev lo && ip mptcp endpoint add 127.0.0.9 dev lo signal");
    lab.sh(&format!(
        "for p in p0 p1 p2; do nmcli connection modify $p connection.mptcp-flags {SEED_FLAGS}; nmcli connection up $p >/dev/null; done"
    ));
    lab.expect_endpoints(&[
        ("127.0.0.9", "lo", "signal"),
        ("192.0.2.2", "enp4s0f0", "signal subflow"),
        ("198.51.100.2", "enp4s0f1", "signal subflow"),
        ("192.0.2.5", "enp6s0", "signal subflow"),
    ]);
    assert_eq!(
        lab.sh("ip mptcp limits show").trim(),
        "add_addr_accepted 2 subflows 3",
        "the chapter's limits"
    );
    assert!(
        std::fs::read_to_string(lab.state_file("dbus.log"))
            .unwrap()
            .contains("action=\"up\"}: applied"),
        "{}",
        lab.logs()
    );

    // The first D-Bus call starts the packaged daemon (activation file and policy).
    // (trixie's minimal root has dbus-send, not busctl.)
    let version = lab.sh("dbus-send --system --print-reply=literal --dest=io.github.nm_mptcp1 /io/github/nm_mptcp1 org.freedesktop.DBus.Properties.Get string:io.github.nm_mptcp1.Manager string:Version");
    assert_eq!(version.trim(), format!("variant       {VERSION}"));
    assert!(lab
        .sh("pgrep -a nm-mptcp")
        .contains("/usr/bin/nm-mptcp daemon"));

    // Purge: the daemon stops, nm-mptcp's endpoints and limits go; the hand-made one stays.
    let purged = lab.sh("DEBIAN_FRONTEND=noninteractive dpkg --purge nm-mptcp 2>&1");
    assert!(purged.contains("daemon (pid"), "{purged}");
    lab.expect_endpoints(&[("127.0.0.9", "lo", "signal")]);
    assert_eq!(
        lab.sh("ip mptcp limits show").trim(),
        "add_addr_accepted 0 subflows 0"
    );
    assert_eq!(
        lab.sh("for f in /usr/bin/nm-mptcp /usr/lib/NetworkManager/dispatcher.d/50-nm-mptcp /usr/share/dbus-1/system.d/io.github.nm_mptcp1.conf /etc/nm-mptcp/config.toml /run/nm-mptcp; do if [ -e $f ] || [ -L $f ]; then echo $f; fi; done"),
        "",
        "purged"
    );
    // (A stopped daemon may stay a zombie until the bus reaps it.)
    let left = lab.sh("ps -eo stat=,args= | awk '$1 !~ /^Z/ && $2 ~ /nm-mptcp$/'");
    assert!(left.is_empty(), "{left}");
    assert_eq!(lab.hook_failures(), Vec::<String>::new());
}
