//! nm-mptcp's functional core: NetworkManager's `connection.mptcp-flags` rules and everything
//! nm-mptcp decides, as pure functions over plain data. Nothing here does I/O or knows about
//! D-Bus, netlink or files: the adapters in the `nm-mptcp` crate bring the data in, and the
//! compiler keeps it that way (this crate depends on none of them).

pub mod changes;
pub mod config;
pub mod counters;
pub mod daemon;
pub mod diagnose;
pub mod diff;
pub mod error;
pub mod escape;
pub mod flags;
pub mod limits;
pub mod metrics;
pub mod model;
pub mod modified;
pub mod nm_conf;
pub mod nm_version;
pub mod nm_view;
pub mod ownership;
pub mod planner;
pub mod report;
pub mod rp_filter;
pub mod snapshot;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod usage;
