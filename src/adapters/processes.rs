//! Other programs on the host, from /proc.

use std::fs;

/// Whether a process of this name (its `comm`) runs.
pub(crate) fn running(name: &str) -> bool {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .any(|entry| {
            fs::read_to_string(entry.path().join("comm")).is_ok_and(|comm| comm.trim() == name)
        })
}
