//! The sysctls nm-mptcp reads and writes, straight from /proc (never by running sysctl(8)).

use std::fs;
use std::io;

use nm_mptcp_core::model::{is_valid_interface_name, PathManager};

const MPTCP_ENABLED: &str = "/proc/sys/net/mptcp/enabled";
const PATH_MANAGER: &str = "/proc/sys/net/mptcp/path_manager";
const PM_TYPE: &str = "/proc/sys/net/mptcp/pm_type";

fn read_number(path: &str) -> Option<i64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// `net.mptcp.enabled` as NetworkManager reads it: `None` when the file is missing or does
/// not hold a number, else whether it is > 0.
pub(crate) fn mptcp_enabled() -> Option<bool> {
    read_number(MPTCP_ENABLED).map(|v| v > 0)
}

/// `net.mptcp.enabled` as process `pid` (NetworkManager) reads it, through its own root and
/// mount namespace (a container's, or a test lab's file bound over the sysctl); the host's
/// when that cannot be read.
pub(crate) fn mptcp_enabled_for(pid: Option<u32>) -> Option<bool> {
    pid.and_then(|pid| read_number(&format!("/proc/{pid}/root{MPTCP_ENABLED}")))
        .map(|v| v > 0)
        .or_else(mptcp_enabled)
}

pub(crate) fn enable_mptcp() -> io::Result<()> {
    fs::write(MPTCP_ENABLED, "1\n")
}

/// The kernel's path manager: "kernel" or "userspace" (`path_manager`, or `pm_type` 0/1 on
/// kernels before 6.15).
pub(crate) fn path_manager() -> Option<PathManager> {
    if let Ok(name) = fs::read_to_string(PATH_MANAGER) {
        return Some(PathManager::from(name.trim().to_owned()));
    }
    read_number(PM_TYPE).map(|t| match t {
        1 => PathManager::Userspace,
        _ => PathManager::Kernel,
    })
}

fn rp_filter_path(interface: &str) -> Option<String> {
    // A name the kernel would refuse (a '/' in it, "..") must not steer this path.
    is_valid_interface_name(interface)
        .then(|| format!("/proc/sys/net/ipv4/conf/{interface}/rp_filter"))
}

/// `net.ipv4.conf.IF.rp_filter`, if the interface exists.
pub(crate) fn rp_filter(interface: &str) -> Option<u8> {
    read_number(&rp_filter_path(interface)?).and_then(|v| u8::try_from(v).ok())
}

pub(crate) fn set_rp_filter(interface: &str, value: u8) -> io::Result<()> {
    let path = rp_filter_path(interface)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "bad interface name"))?;
    fs::write(path, format!("{value}\n"))
}

/// The running kernel's (major, minor), from `kernel.osrelease`.
pub(crate) fn kernel_release() -> Option<(u32, u32)> {
    let release = fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    let mut parts = release.trim().split(['.', '-']);
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}
