//! One module per subcommand, as netavark does it: each takes its parsed arguments, calls the
//! application and prints. Nothing here decides.

pub(crate) mod check_config;
pub(crate) mod daemon;
pub(crate) mod hook;
pub(crate) mod plan;
pub(crate) mod reconcile;
pub(crate) mod status;
pub(crate) mod watch;

use serde::Serialize;

use crate::error::{Error, ErrorKind};

/// Print `value` as pretty JSON for programs, or as `render` writes it for people.
fn print<T: Serialize>(value: &T, json: bool, render: impl Fn(&T) -> String) -> Result<(), Error> {
    if json {
        let text = serde_json::to_string_pretty(value)
            .map_err(|e| Error::new(ErrorKind::Internal, format!("cannot encode JSON: {e}")))?;
        println!("{text}");
    } else {
        print!("{}", render(value));
    }
    Ok(())
}
