//! The sysctls nm-mptcp reads, straight from /proc (never by running sysctl(8)).

use std::fs;

const MPTCP_ENABLED: &str = "/proc/sys/net/mptcp/enabled";

/// `net.mptcp.enabled` as NetworkManager reads it: `None` when the file is missing or does
/// not hold a number, else whether it is > 0.
pub fn mptcp_enabled() -> Option<bool> {
    let text = fs::read_to_string(MPTCP_ENABLED).ok()?;
    text.trim().parse::<i64>().ok().map(|v| v > 0)
}
