//! Kernel adapters: MPTCP endpoints and limits over generic netlink, interface addresses
//! over rtnetlink, and the sysctls in /proc; `NetlinkKernel` holds the sockets for as long
//! as its owner lives (the daemon keeps them).

pub(crate) mod addresses;
pub(crate) mod interfaces;
pub(crate) mod mptcp;
mod mptcp_wire;
pub(crate) mod netlink;
pub(crate) mod sysctl;
