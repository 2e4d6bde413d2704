//! nm-mptcp: NetworkManager's `connection.mptcp-flags` made into kernel MPTCP endpoints,
//! with NetworkManager's own rules, from a dispatcher hook or a resident daemon.
//!
//! Functional core, imperative shell. The core is the `nm-mptcp-core` crate (pure: it
//! depends on no adapter, and the compiler holds it to that); this crate is the shell:
//! `adapters` (D-Bus, netlink, /proc, files, the control socket), `app` (carrying out
//! reconciliations, the daemon, the watcher) and `commands` (one thin module per
//! subcommand), with the command line in `cli`. docs/architecture.md draws the arrows.

pub mod cli;

mod adapters;
mod app;
mod commands;
mod entry;

pub use entry::main;
