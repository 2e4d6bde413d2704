//! One module per subcommand, as netavark does it: each takes its parsed arguments, calls the
//! application and prints. Nothing here decides.

pub(crate) mod check_config;
pub(crate) mod daemon;
pub(crate) mod hook;
pub(crate) mod plan;
pub(crate) mod reconcile;
pub(crate) mod status;
pub(crate) mod watch;

use std::io::Write;

use serde::Serialize;

use crate::error::{Error, ErrorKind};

/// Print `value` as pretty JSON for programs, or as `render` writes it for people.
fn print<T: Serialize>(value: &T, json: bool, render: impl Fn(&T) -> String) -> Result<(), Error> {
    if json {
        let text = serde_json::to_string_pretty(value)
            .map_err(|e| Error::new(ErrorKind::Internal, format!("cannot encode JSON: {e}")))?;
        emit(&format!("{text}\n"))
    } else {
        emit(&render(value))
    }
}

/// Write to stdout; a closed or full stdout is an error (exit 1), not a panic.
pub(crate) fn emit(text: &str) -> Result<(), Error> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Error::new(ErrorKind::Internal, format!("cannot write the output: {e}")))
}
