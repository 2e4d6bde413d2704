//! `nm-mptcp release`: give back everything nm-mptcp changed, and nothing else (a package's
//! removal runs it). What goes back is decided in the core (`changes::release`); this stops
//! the daemon first (it would put everything back at the next address change), then carries
//! the changes out under the lock, as a reconciliation does.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::context::Context;
use super::kernel::Kernel;
use super::reconcile::{execute, Refused, LOCK_WAIT};
use crate::adapters::control;
use crate::adapters::ledger_store::{lock_in, LedgerStore, DAEMON_LOCK};
use nm_mptcp_core::changes::{self, Changes, Current};
use nm_mptcp_core::error::{Error, ErrorKind};

/// How long a stopping daemon may take to finish what it is doing.
const DAEMON_STOP_WAIT: Duration = Duration::from_secs(5);

pub(crate) struct Released {
    pub changes: Changes,
    pub applied: usize,
    pub refused: Vec<Refused>,
    /// The daemon that was stopped first.
    pub daemon_stopped: Option<i32>,
}

pub(crate) async fn release(
    context: &Context,
    kernel: &mut impl Kernel,
) -> Result<Released, Error> {
    let dir = &context.run_dir;
    let daemon_stopped = stop_daemon(dir)?;
    let store = LedgerStore::lock_async(dir, LOCK_WAIT).await?;
    let ledger = store.load();
    let endpoints = kernel.endpoints().await?;
    let limits = kernel.limits().await?;
    let rp_filter = |interface: &str| kernel.rp_filter(interface);
    let changes = changes::release(&Current {
        kernel: &endpoints,
        limits,
        ledger: &ledger,
        addresses: &HashSet::new(),
        rp_filter: &rp_filter,
    });
    let executed = execute(kernel, &[], &changes, endpoints, &ledger).await?;
    if executed.ledger != ledger {
        store.save(&executed.ledger)?;
    }
    Ok(Released {
        changes,
        applied: executed.applied,
        refused: executed.refused,
        daemon_stopped,
    })
}

/// Stop the daemon that listens on the control socket, if any, and wait until it is gone
/// (its lock is free).
fn stop_daemon(dir: &Path) -> Result<Option<i32>, Error> {
    let Some(pid) = control::daemon_pid(dir)? else {
        return Ok(None);
    };
    match kill(Pid::from_raw(pid), Signal::SIGTERM) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
        Err(e) => {
            return Err(Error::new(
                ErrorKind::Daemon,
                format!("cannot stop the daemon (pid {pid}): {e}"),
            ))
        }
    }
    lock_in(dir, DAEMON_LOCK, DAEMON_STOP_WAIT).map_err(|e| {
        Error::new(
            ErrorKind::Daemon,
            format!("the daemon (pid {pid}) did not stop: {}", e.message),
        )
    })?;
    tracing::info!(pid, "daemon stopped");
    Ok(Some(pid))
}
