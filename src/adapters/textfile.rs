//! The metrics file for node_exporter's textfile collector: DIR/nm_mptcp.prom, replaced at
//! once (written as nm_mptcp.prom.tmp, which the collector ignores, then renamed), so a
//! reader never sees half of it.

use std::path::Path;

use nm_mptcp_core::error::{Error, ErrorKind};
use nm_mptcp_core::escape::escaped;

use super::files;

/// The file name in the collector's directory.
pub(crate) const TEXTFILE: &str = "nm_mptcp.prom";

/// Replace DIR/nm_mptcp.prom with `text`, readable by the exporter's user.
pub(crate) fn write(dir: &Path, text: &str) -> Result<(), Error> {
    let path = dir.join(TEXTFILE);
    files::replace_with_mode(&path, text.as_bytes(), 0o644).map_err(|e| {
        Error::new(
            ErrorKind::Internal,
            format!("cannot write {}: {e}", escaped(&path.display().to_string())),
        )
    })
}
