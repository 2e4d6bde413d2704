//! One module per subcommand, as netavark does it.

pub mod check_config;
pub mod daemon;
pub mod hook;
pub mod plan;
pub mod reconcile;
pub mod status;
pub mod watch;

use serde::Serialize;

use crate::dispatcher::Event;
use crate::error::Error;
use crate::reconcile::Outcome;

/// The one span of a dispatcher event, whether the hook or the daemon handles it.
fn event_span(event: &Event, action: &str) -> tracing::Span {
    tracing::info_span!("event", interface = event.interface_name(), action)
}

/// `[--json]`, the one option of the read-only commands.
fn json_flag(command: &str, args: &[String]) -> Result<bool, Error> {
    match args {
        [] => Ok(false),
        [flag] if flag == "--json" => Ok(true),
        other => Err(Error::usage(format!(
            "{command} takes only --json, got {other:?}"
        ))),
    }
}

/// Print `value` as pretty JSON for programs, or as `render` writes it for people.
fn print<T: Serialize>(value: &T, json: bool, render: fn(&T) -> String) -> Result<(), Error> {
    if json {
        let text = serde_json::to_string_pretty(value)
            .map_err(|e| Error::usage(format!("cannot encode JSON: {e}")))?;
        println!("{text}");
    } else {
        print!("{}", render(value));
    }
    Ok(())
}

/// The hook's and `reconcile`'s verdict: refusals that left the kernel off-plan fail the run.
fn verdict(outcome: &Outcome) -> Result<(), Error> {
    match outcome.refused.as_slice() {
        [] => Ok(()),
        refused => Err(Error::kernel(format!(
            "the kernel refused {} change(s): {}",
            refused.len(),
            refused
                .iter()
                .map(|r| format!("{}: {}", r.change, r.error))
                .collect::<Vec<_>>()
                .join("; ")
        ))),
    }
}
