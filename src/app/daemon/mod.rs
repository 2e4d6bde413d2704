//! The resident daemon (`nm-mptcp daemon`): follow NetworkManager's signals and the kernel's
//! address changes, keep the endpoints reconciled, and answer the hook over the control socket
//! and callers on the bus. Every decision is the held state's (`nm_mptcp_core::daemon`); this
//! loop only turns what arrives into events and hands them over (`shell` carries out the
//! actions that come back).

mod drift;
mod hook_socket;
mod modifies;
mod publish;
mod shell;

use std::time::Duration;

use futures_util::StreamExt;
use nm_mptcp_core::daemon::{Call, DaemonState, Event};
use nm_mptcp_core::error::{Error, ErrorKind};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::adapters::dbus_service::{self, Request};
use crate::adapters::kernel::addresses::AddressEvents;
use crate::adapters::kernel::netlink::NetlinkKernel;
use crate::adapters::ledger_store::{lock_in, DAEMON_LOCK};
use crate::adapters::nm::{self, Prefetch};
use crate::adapters::nm_conf_files::ConfPaths;
use crate::app::context::{released, Context};
use crate::app::reconcile::NM_TIMEOUT;
use publish::{Publisher, Reply};
use shell::Shell;

/// A pause after a failed accept (out of file descriptors), instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Run until the bus or the kernel's address socket closes.
pub(crate) async fn run(context: &Context) -> Result<(), Error> {
    let dir = &context.run_dir;
    if context.released() {
        return Err(released());
    }
    let _only_one = lock_in(dir, DAEMON_LOCK, Duration::ZERO).map_err(|e| match e.kind {
        ErrorKind::Busy => Error::new(ErrorKind::Busy, "another nm-mptcp daemon is running"),
        _ => e,
    })?;
    let bus = nm::system_bus().await?;
    let (mut signals, mut owner_changes) = nm::signals(&bus).await?;
    let mut addresses = AddressEvents::subscribe()?;
    let prefetch = nm::within(NM_TIMEOUT, Prefetch::load(&bus))
        .await
        .unwrap_or_else(|e| {
            tracing::debug!(error = %e, "no prefetch of NetworkManager's devices and profiles");
            Prefetch::default()
        });
    let listener = hook_socket::listen(dir)?;
    let (hook_sender, mut hook_requests) = mpsc::channel(hook_socket::PENDING_REQUESTS);
    let (published, mut calls) = match dbus_service::serve(&bus).await {
        Ok((published, calls)) => (Some(published), Some(calls)),
        Err(e) => {
            tracing::warn!(error = %e, "serving without the D-Bus interface");
            (None, None)
        }
    };
    let (finished, mut results) = mpsc::unbounded_channel();
    let config = context.config().ok();
    let check_interval = config.as_ref().and_then(|c| c.check_interval);
    let metrics_every = config
        .as_ref()
        .filter(|c| c.metrics_textfile.is_some())
        .map(|c| c.metrics_interval);
    let mut state = DaemonState::new(check_interval, metrics_every);
    let mut shell = Shell {
        context: context.clone(),
        bus: bus.clone(),
        kernel: NetlinkKernel::connect()?,
        prefetch,
        conf_paths: ConfPaths::default(),
        hooks: hook_socket::Hooks::default(),
        publisher: Publisher::new(context.clone(), bus, published),
        finished,
    };
    shell.feed(&mut state, [Event::Started]).await?;
    let closed = || Error::nm("the system bus connection closed");
    loop {
        let deadline = state.next_deadline().map(Instant::from_std);
        // An address change first (its endpoint is what NetworkManager's own support adds in
        // the same commit, while signals come in dozens around it), then the hook's events,
        // and callers on the bus last: none of them can hold up a link event.
        let events = tokio::select! {
            biased;
            changed = addresses.changed() => {
                changed.ok_or_else(|| Error::kernel("the address event socket closed"))?;
                addresses.drain();
                // The activation's signal may be queued still, behind the address.
                let mut events = Shell::queued_signals(&mut signals);
                events.push(Event::AddressChanged);
                events
            }
            Some(incoming) = hook_requests.recv() => {
                shell.hooks.take(incoming).map(Event::Hook).into_iter().collect()
            }
            accepted = listener.accept() => {
                match accepted {
                    Ok((stream, _)) => hook_socket::read_request(stream, hook_sender.clone()),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot accept a hook connection");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                }
                Vec::new()
            }
            message = signals.next() => {
                let message = message.ok_or_else(closed)?;
                message.ok().as_ref().and_then(nm::parse_signal).map(Event::Signal).into_iter().collect()
            }
            owner = owner_changes.next() => {
                let _ = owner.ok_or_else(closed)?;
                vec![Event::NmOwnerChanged]
            }
            Some(done) = results.recv() => {
                // The bus answered after routing every signal before: those come first.
                let mut events = Shell::queued_signals(&mut signals);
                events.push(shell.finished(done));
                events
            }
            () = sleep_until(deadline), if deadline.is_some() => vec![Event::Tick],
            Some(request) = next_call(&mut calls) => vec![shell.call(request)],
        };
        shell.feed(&mut state, events).await?;
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(deadline) = deadline {
        tokio::time::sleep_until(deadline).await;
    }
}

/// The next D-Bus call for the loop, or never without the D-Bus interface.
async fn next_call(calls: &mut Option<mpsc::Receiver<Request>>) -> Option<Request> {
    match calls {
        Some(calls) => calls.recv().await,
        None => std::future::pending().await,
    }
}

impl Shell {
    /// A D-Bus call, as the event the held state knows it by.
    fn call(&mut self, request: Request) -> Event {
        let (reply, call) = match request {
            Request::Watch => return Event::Watch,
            Request::Reconcile(reply) => (Reply::Done(reply), Call::Reconcile),
            Request::Describe(reply) => (Reply::Text(Call::Describe, reply), Call::Describe),
            Request::Plan(reply) => (Reply::Text(Call::Plan, reply), Call::Plan),
        };
        Event::Call(self.publisher.take_call(reply), call)
    }
}
