//! One module per subcommand, as netavark does it: each takes its parsed arguments, calls the
//! application and prints. Nothing here decides.

pub(crate) mod check_config;
pub(crate) mod daemon;
pub(crate) mod hook;
pub(crate) mod metrics;
pub(crate) mod plan;
pub(crate) mod reconcile;
pub(crate) mod release;
pub(crate) mod resume;
pub(crate) mod status;
pub(crate) mod watch;

use std::io::Write;

use serde::Serialize;

use nm_mptcp_core::error::{Error, ErrorKind};

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

/// Print the running daemon's answer to `method` (`Describe`, `Plan`: the command's own JSON)
/// as the command prints its own; `None` when no daemon answers.
async fn print_from_daemon<T: serde::de::DeserializeOwned>(
    method: &str,
    json: bool,
    render: impl Fn(&T) -> String,
) -> Option<Result<(), Error>> {
    let answer = crate::adapters::dbus_service::ask(method).await?;
    Some(if json {
        emit(&format!("{answer}\n"))
    } else {
        daemon_answer::<T>(method, &answer).and_then(|value| emit(&render(&value)))
    })
}

/// The daemon's JSON answer to `method`, read back.
fn daemon_answer<T: serde::de::DeserializeOwned>(method: &str, answer: &str) -> Result<T, Error> {
    serde_json::from_str(answer)
        .map_err(|e| Error::new(ErrorKind::Daemon, format!("the daemon's {method}: {e}")))
}

/// Write to stdout; a closed or full stdout is an error (exit 1), not a panic.
pub(crate) fn emit(text: &str) -> Result<(), Error> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Error::new(ErrorKind::Internal, format!("cannot write the output: {e}")))
}
