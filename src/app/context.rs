//! Where this run of nm-mptcp keeps its state and finds its configuration: read from the
//! environment once, by the entry, and handed down to whatever needs it.

use std::path::PathBuf;

use nm_mptcp_core::config::Config;
use nm_mptcp_core::error::{Error, ErrorKind};

use crate::adapters::{config_file, ledger_store};

#[derive(Debug, Clone)]
pub(crate) struct Context {
    /// `NM_MPTCP_RUN_DIR`, else /run/nm-mptcp: the ledger, the locks, the control socket.
    pub run_dir: PathBuf,
    /// `NM_MPTCP_CONFIG`, else /etc/nm-mptcp/config.toml.
    pub config_path: PathBuf,
}

/// What a command that would act says after `nm-mptcp release`.
pub(crate) fn released() -> Error {
    Error::new(
        ErrorKind::State,
        "nm-mptcp was released (`nm-mptcp release`): `nm-mptcp resume` lets it act again",
    )
}

impl Context {
    pub(crate) fn from_environment() -> Context {
        Context {
            run_dir: ledger_store::run_dir_from_environment(),
            config_path: config_file::path_from_environment(),
        }
    }

    /// `nm-mptcp release` gave the host back, and nothing of nm-mptcp's may act on it until
    /// `nm-mptcp resume`.
    pub(crate) fn released(&self) -> bool {
        ledger_store::is_released(&self.run_dir)
    }

    /// The configuration as the file says now (a missing file means every default).
    pub(crate) fn config(&self) -> Result<Config, Error> {
        config_file::load(&self.config_path)
    }
}
