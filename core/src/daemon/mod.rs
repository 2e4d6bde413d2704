//! The resident daemon's decisions, as a state machine without I/O (sans-I/O): the shell
//! (`src/app/daemon/`) turns sockets, signals and timers into `Event`s, hands each to
//! `DaemonState::handle` with the time, and carries out the `Action`s it gets back, feeding
//! their results in as events. docs/architecture.md has the table of both.

mod actions;
mod events;
mod state;
#[cfg(test)]
mod tests;

pub use actions::{Action, PrefetchChange, Reconciliation, Scope};
pub use events::{Activation, Call, CallId, Cause, Event, HookId, HookRequest, NmSignal, Purpose};
pub use state::{DaemonState, CALL_GAP, PROVISIONAL_FOR, PUBLISH_LATEST, PUBLISH_QUIET};
