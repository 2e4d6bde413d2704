//! Where this run of nm-mptcp keeps its state and finds its configuration: read from the
//! environment once, by the entry, and handed down to whatever needs it.

use std::path::PathBuf;

use nm_mptcp_core::config::Config;
use nm_mptcp_core::error::Error;

use crate::adapters::{config_file, ledger_store};

#[derive(Debug, Clone)]
pub(crate) struct Context {
    /// `NM_MPTCP_RUN_DIR`, else /run/nm-mptcp: the ledger, the locks, the control socket.
    pub run_dir: PathBuf,
    /// `NM_MPTCP_CONFIG`, else /etc/nm-mptcp/config.toml.
    pub config_path: PathBuf,
}

impl Context {
    pub(crate) fn from_environment() -> Context {
        Context {
            run_dir: ledger_store::run_dir_from_environment(),
            config_path: config_file::path_from_environment(),
        }
    }

    /// The configuration as the file says now (a missing file means every default).
    pub(crate) fn config(&self) -> Result<Config, Error> {
        config_file::load(&self.config_path)
    }
}
