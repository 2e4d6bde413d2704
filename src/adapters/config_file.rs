//! Reading `/etc/nm-mptcp/config.toml` (or `NM_MPTCP_CONFIG`); the parsing is the core's.

use std::io;
use std::path::{Path, PathBuf};

use super::files::{read_regular, Links};

use nm_mptcp_core::config::{self, Config};
use nm_mptcp_core::error::{Error, ErrorKind};

pub(crate) const DEFAULT_PATH: &str = "/etc/nm-mptcp/config.toml";
/// Far more than any real configuration; a file linked to /dev/zero must not fill memory.
const MAX_SIZE: u64 = 64 * 1024;

/// The configuration file in use: `NM_MPTCP_CONFIG`, else /etc/nm-mptcp/config.toml.
pub(crate) fn path_from_environment() -> PathBuf {
    std::env::var_os("NM_MPTCP_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PATH))
}

/// Load the configuration; a missing file means every default.
pub(crate) fn load(path: &Path) -> Result<Config, Error> {
    let text = read_regular(path, MAX_SIZE, Links::Follow).and_then(|bytes| {
        String::from_utf8(bytes)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))
    });
    match text {
        Ok(text) => config::parse(&text, path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Config::default()),
        Err(e) => Err(Error::new(
            ErrorKind::Config,
            format!("{}: {e}", path.display()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_means_defaults() {
        assert_eq!(
            load(Path::new("/nonexistent/config.toml")).unwrap(),
            Config::default()
        );
    }
}
