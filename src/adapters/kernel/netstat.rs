//! The kernel's MPTCP counters of this network namespace, from /proc (never by running
//! nstat(8)).

use nm_mptcp_core::counters::Counters;

/// `None` on a kernel without MPTCP.
pub(crate) fn mptcp_counters() -> Option<Counters> {
    Counters::parse(&std::fs::read_to_string("/proc/self/net/netstat").ok()?)
}
