//! The imperative shell's edges: each adapter brings one outside thing into the core's plain
//! data, or carries a decision out. None of them decides anything.

pub(crate) mod config_file;
pub(crate) mod control;
pub(crate) mod dbus_service;
pub(crate) mod dispatcher;
pub(crate) mod files;
pub(crate) mod kernel;
pub(crate) mod ledger_store;
pub(crate) mod nm;
pub(crate) mod nm_conf_files;
pub(crate) mod processes;
pub(crate) mod textfile;
