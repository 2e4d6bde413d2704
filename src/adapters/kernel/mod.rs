//! Kernel adapters: MPTCP endpoints and limits over generic netlink, interface addresses
//! and route lookups over rtnetlink, subflows over sock_diag, and the sysctls and counters
//! in /proc; `NetlinkKernel` holds the sockets for as long
//! as its owner lives (the daemon keeps them).

pub(crate) mod addresses;
pub(crate) mod interfaces;
pub(crate) mod mptcp;
mod mptcp_wire;
pub(crate) mod netlink;
pub(crate) mod netstat;
pub(crate) mod routes;
pub(crate) mod sock_diag;
pub(crate) mod sysctl;
