//! The address watcher (`nm-mptcp watch`): reconcile on every kernel address change until no
//! device waits for addresses any more, or the time is up. SLAAC, DHCPv6 and the end of duplicate
//! address detection come after `up` with no dispatcher event of their own, so the hook
//! starts this, detached, when an event leaves addresses on their way.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::context::Context;
use super::event_span;
use super::reconcile::{self, NmSource};
use crate::adapters::files::{self, Links};
use crate::adapters::kernel::addresses::AddressEvents;
use crate::adapters::kernel::netlink::NetlinkKernel;
use crate::adapters::ledger_store::lock_in;
use crate::adapters::nm::Detail;
use nm_mptcp_core::changes::Backing;
use nm_mptcp_core::error::{Error, ErrorKind};
/// Address changes come in bursts (address, then its flags); act once per burst.
const DEBOUNCE: Duration = Duration::from_millis(200);
const LOCK_FILE: &str = "watch.lock";
const DEADLINE_FILE: &str = "watch-until";

/// Watch for `seconds` (or until an earlier watcher's later deadline).
pub(crate) async fn run(context: &Context, seconds: u64) -> Result<(), Error> {
    let dir = &context.run_dir;
    if context.released() {
        return Ok(());
    }
    extend_deadline(dir, seconds)?;
    // One watcher at a time; a second one only pushed the first one's deadline out.
    let _lock = match lock_in(dir, LOCK_FILE, Duration::ZERO) {
        Ok(lock) => lock,
        Err(e) if e.kind == ErrorKind::Busy => return Ok(()),
        Err(e) => return Err(e),
    };
    let span = event_span("none", "watch");
    let _entered = span.enter();
    let mut events = AddressEvents::subscribe()?;
    let mut kernel = NetlinkKernel::connect()?;
    loop {
        let Some(remaining) = time_left(dir) else {
            return Ok(());
        };
        tokio::select! {
            changed = events.changed() => {
                if changed.is_none() {
                    return Ok(());
                }
                tokio::time::sleep(DEBOUNCE).await;
                events.drain();
                let apply = reconcile::apply(context, &mut kernel, None, NmSource::Read(Detail::Planning), Backing::Signals);
                let applied = apply.await;
                if reconcile::kernel_failed(&applied) {
                    kernel.reconnect();
                }
                match applied {
                    Ok(outcome) if !outcome.plan.awaiting_addresses => {
                        tracing::info!(endpoints = outcome.plan.endpoints.len(), "addresses settled");
                        return Ok(());
                    }
                    Ok(_) => {}
                    Err(_) if context.released() => return Ok(()),
                    Err(e) => tracing::warn!(error = %e, "reconcile after an address change failed"),
                }
            }
            _ = tokio::time::sleep(remaining) => {}
        }
    }
}

/// Start a detached watcher (its own process group, no inherited output, so the dispatcher
/// neither waits for it nor kills it with the hook).
pub(crate) fn spawn() {
    use std::os::unix::process::CommandExt;
    let started = std::env::current_exe().and_then(|exe| {
        Command::new(exe)
            // The hook may be a copy named 50-nm-mptcp, which would make `watch` an event.
            .arg0("nm-mptcp")
            .arg("watch")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
    });
    match started {
        Ok(child) => tracing::debug!(
            pid = child.id(),
            "watching for addresses still on their way"
        ),
        Err(e) => tracing::warn!(error = %e, "cannot start the address watcher"),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn extend_deadline(dir: &Path, seconds: u64) -> Result<(), Error> {
    let _lock = lock_in(dir, "watch-until.lock", Duration::from_secs(1))?;
    let until = read_deadline(dir).max(now() + seconds);
    files::replace(&dir.join(DEADLINE_FILE), until.to_string().as_bytes()).map_err(|e| {
        Error::new(
            ErrorKind::State,
            format!("cannot write {}: {e}", dir.join(DEADLINE_FILE).display()),
        )
    })
}

fn read_deadline(dir: &Path) -> u64 {
    files::read_regular(&dir.join(DEADLINE_FILE), 64, Links::Refuse)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

fn time_left(dir: &Path) -> Option<Duration> {
    let left = read_deadline(dir).saturating_sub(now());
    (left > 0).then(|| Duration::from_secs(left))
}
