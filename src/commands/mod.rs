//! One module per subcommand, as netavark does it.

pub mod check_config;
pub mod hook;
pub mod plan;
pub mod reconcile;
pub mod status;
pub mod watch;

use crate::error::Error;
use crate::reconcile::Outcome;

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
