//! `nm-mptcp release`: give back everything nm-mptcp changed, and nothing else (a package's
//! removal runs it). What goes back is decided in the core (`changes::release`); this stops
//! the daemon first (it would put everything back at the next address change), then carries
//! the changes out under the lock, as a reconciliation does, and marks the host released so
//! that nothing of nm-mptcp's adds endpoints again until `nm-mptcp resume`.

use std::collections::HashSet;
use std::fs::File;
use std::path::Path;
use std::time::Duration;

use nix::fcntl::Flock;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::context::Context;
use super::kernel::Kernel;
use super::reconcile::{execute, survey, NmSource, Refused, LOCK_WAIT};
use crate::adapters::control;
use crate::adapters::kernel::sysctl;
use crate::adapters::ledger_store::{lock_in, LedgerStore, DAEMON_LOCK};
use crate::adapters::nm::Detail;
use nm_mptcp_core::changes::{self, Changes, Current};
use nm_mptcp_core::error::{Error, ErrorKind};
use nm_mptcp_core::model::{DesiredEndpoint, KernelEndpoint};
use nm_mptcp_core::ownership::Ledger;

/// How long a stopping daemon may take to finish what it is doing.
const DAEMON_STOP_WAIT: Duration = Duration::from_secs(5);

pub(crate) struct Released {
    pub changes: Changes,
    pub applied: usize,
    pub refused: Vec<Refused>,
    /// The daemon that was stopped first.
    pub daemon_stopped: Option<i32>,
    /// nm-mptcp's endpoints that NetworkManager's own support holds: left in the kernel,
    /// NetworkManager's now.
    pub left_to_nm: Vec<KernelEndpoint>,
    /// The ledger was corrupt: ownership was rebuilt from NetworkManager's profiles, as an
    /// event rebuilds it, and the limits' original values were lost with it.
    pub ledger_rebuilt: bool,
}

pub(crate) async fn release(
    context: &Context,
    kernel: &mut impl Kernel,
) -> Result<Released, Error> {
    let dir = &context.run_dir;
    // The daemon holds the ledger lock from a change to its record: once this holds it, no
    // change of the daemon's is half done, and it may be stopped. Its lock is held until the
    // host is marked released, so no daemon starts (bus activation) in between.
    let daemon = control::daemon_pid(dir)?;
    continue_daemon(daemon);
    let store = LedgerStore::lock_async(dir, LOCK_WAIT).await?;
    let (daemon_stopped, _no_daemon) = stop_daemon(dir, daemon)?;
    let (mut ledger, ledger_lost) = store.load_checked();
    let endpoints = kernel.endpoints().await?;
    let limits = kernel.limits().await?;
    let networkmanager = networkmanagers_endpoints(kernel, &ledger).await;
    if ledger_lost {
        let Some(held) = &networkmanager else {
            return Err(Error::new(
                ErrorKind::State,
                "the ledger is corrupt and NetworkManager cannot be read to rebuild it: nothing was given back",
            ));
        };
        ledger = Ledger::default().after_apply(&held.endpoints, &endpoints, &HashSet::new());
    }
    let kept_by_nm: &[DesiredEndpoint] = match &networkmanager {
        Some(held) if held.own_support => &held.endpoints,
        _ => &[],
    };
    let rp_filter = |interface: &str| kernel.rp_filter(interface);
    let current = Current {
        kernel: &endpoints,
        limits,
        ledger: &ledger,
        addresses: &HashSet::new(),
        rp_filter: &rp_filter,
    };
    let changes = changes::release(&current, kept_by_nm);
    let left_to_nm: Vec<KernelEndpoint> = changes::left_to_networkmanager(&current, kept_by_nm)
        .into_iter()
        .cloned()
        .collect();
    let executed = execute(kernel, &[], &changes, endpoints, &ledger).await?;
    let after = executed.ledger.without(&left_to_nm);
    if after != ledger {
        store.save(&after)?;
    }
    store.mark_released()?;
    Ok(Released {
        changes,
        applied: executed.applied,
        refused: executed.refused,
        daemon_stopped,
        left_to_nm,
        ledger_rebuilt: ledger_lost,
    })
}

/// `nm-mptcp resume`: nm-mptcp acts again after a release (a package's install or upgrade
/// runs it); whether it had been released.
pub(crate) fn resume(context: &Context) -> Result<bool, Error> {
    LedgerStore::lock(&context.run_dir, LOCK_WAIT)?.resume()
}

/// The endpoints NetworkManager would hold for its active profiles now (nm-mptcp's planner
/// follows its rules exactly), and whether its own support adds them (1.40 or later, with
/// `net.mptcp.enabled` on where NetworkManager reads it); `None` when it cannot be read.
struct NetworkManagersEndpoints {
    endpoints: Vec<DesiredEndpoint>,
    own_support: bool,
}

async fn networkmanagers_endpoints(
    kernel: &mut impl Kernel,
    ledger: &Ledger,
) -> Option<NetworkManagersEndpoints> {
    // NetworkManager's own rules: nm-mptcp's policies (metered_as_backup) are not its.
    let source = NmSource::Read(Detail::Planning);
    let survey = match survey(kernel, ledger, None, source, false).await {
        Ok(survey) => survey,
        Err(e) => {
            tracing::info!(error = %e, "NetworkManager not read: nothing is left to it");
            return None;
        }
    };
    let own_support = survey.plan.nm_version.adds_endpoints()
        && sysctl::mptcp_enabled_for(survey.nm_pid) == Some(true);
    Some(NetworkManagersEndpoints {
        endpoints: survey.plan.endpoints,
        own_support,
    })
}

/// A daemon stopped with SIGSTOP is continued, so that it can give the lock back and end.
fn continue_daemon(pid: Option<i32>) {
    if let Some(pid) = pid {
        let _ = kill(Pid::from_raw(pid), Signal::SIGCONT);
    }
}

/// Stop the daemon that listens on the control socket, if any, and wait until it is gone;
/// returns its pid and the daemon lock, held. One that does not end in time is killed: the
/// release goes on either way.
fn stop_daemon(dir: &Path, pid: Option<i32>) -> Result<(Option<i32>, Flock<File>), Error> {
    let not_stopped = |pid: i32, e: Error| {
        Error::new(
            ErrorKind::Daemon,
            format!("the daemon (pid {pid}) did not stop: {}", e.message),
        )
    };
    // No daemon answers on the socket: none runs, or one is starting (it holds its lock
    // before it listens); it is stopped as soon as it says who it is.
    let deadline = std::time::Instant::now() + DAEMON_STOP_WAIT;
    let pid = match pid {
        Some(pid) => pid,
        None => loop {
            match lock_in(dir, DAEMON_LOCK, Duration::ZERO) {
                Ok(lock) => return Ok((None, lock)),
                Err(e) if std::time::Instant::now() >= deadline => {
                    return Err(Error::new(ErrorKind::Daemon, e.message))
                }
                Err(_) => {}
            }
            if let Some(pid) = control::daemon_pid(dir)? {
                break pid;
            }
            std::thread::sleep(Duration::from_millis(50));
        },
    };
    let signal = |signal: Signal| match kill(Pid::from_raw(pid), signal) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
        Err(e) => Err(Error::new(
            ErrorKind::Daemon,
            format!("cannot stop the daemon (pid {pid}): {e}"),
        )),
    };
    signal(Signal::SIGTERM)?;
    let lock = match lock_in(dir, DAEMON_LOCK, DAEMON_STOP_WAIT) {
        Ok(lock) => lock,
        Err(_) => {
            tracing::warn!(pid, "the daemon did not stop in time; killing it");
            signal(Signal::SIGKILL)?;
            lock_in(dir, DAEMON_LOCK, DAEMON_STOP_WAIT).map_err(|e| not_stopped(pid, e))?
        }
    };
    tracing::info!(pid, "daemon stopped");
    Ok((Some(pid), lock))
}
