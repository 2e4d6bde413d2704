//! nm-mptcp: NetworkManager's `connection.mptcp-flags` made into kernel MPTCP endpoints,
//! with NetworkManager's own rules, from a dispatcher hook.
//!
//! Functional core: `flags`, `planner`, `diff`, `snapshot` (pure, I/O-free).
//! Imperative shell: `nm` (D-Bus), `kernel` (netlink, /proc), `ledger` (/run), `reconcile`,
//! and `control`, the hook's line to a running `nm-mptcp daemon`.

pub mod commands;
pub mod config;
pub mod control;
pub mod diff;
pub mod dispatcher;
pub mod error;
pub mod flags;
pub mod kernel;
pub mod ledger;
pub mod limits;
pub mod logging;
pub mod model;
pub mod nm;
pub mod nm_conf;
pub mod nm_version;
pub mod planner;
pub mod reconcile;
pub mod rp_filter;
pub mod snapshot;
