//! Kernel adapters: MPTCP endpoints over generic netlink, interface addresses over rtnetlink,
//! and the sysctl read from /proc.

pub mod addresses;
pub mod mptcp;
mod mptcp_wire;
pub mod sysctl;
