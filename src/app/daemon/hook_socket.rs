//! The control socket the hook hands its events to: one line in (`IFACE ACTION`), one verdict
//! out. Each connection is read on a task of its own, so a client that connects and says
//! nothing (or slowly) delays no one.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use nm_mptcp_core::daemon::{HookId, HookRequest};
use nm_mptcp_core::error::{Error, ErrorKind};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;

use crate::adapters::{control, dispatcher};

/// How long a client may take to send its one line.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);
/// How many read requests may wait for the daemon; more are answered Busy at once (the hook
/// then works alone).
pub(super) const PENDING_REQUESTS: usize = 32;

/// A hook's request line, read, with the way to answer it.
pub(super) struct Incoming {
    line: String,
    reply: OwnedWriteHalf,
}

/// The hooks waiting for their verdict, by the id the held state knows them by.
#[derive(Default)]
pub(super) struct Hooks {
    next_id: HookId,
    waiting: HashMap<HookId, Waiting>,
}

struct Waiting {
    reply: OwnedWriteHalf,
    interface: String,
    action: String,
}

impl Hooks {
    /// A request for the held state; `None` when it is answered here already (a line that is
    /// not an event, or an action nm-mptcp ignores).
    pub(super) fn take(&mut self, incoming: Incoming) -> Option<HookRequest> {
        let Incoming { line, mut reply } = incoming;
        let parsed = control::parse_request(&line).and_then(|words| dispatcher::parse(&words));
        let event = match parsed {
            Ok(event) if !matches!(event.action, dispatcher::Action::Ignored(_)) => event,
            Ok(_) => {
                tokio::spawn(async move { send_reply(&mut reply, &Ok(())).await });
                return None;
            }
            Err(e) => {
                tracing::warn!(request = %nm_mptcp_core::escape::escaped(line.trim_end()), error = %e, "hook event failed");
                tokio::spawn(async move { send_reply(&mut reply, &Err(e)).await });
                return None;
            }
        };
        self.next_id += 1;
        let id = self.next_id;
        let request = HookRequest {
            id,
            going_down: event.going_down().map(str::to_owned),
            refresh: event.action.refreshes_view(),
        };
        let waiting = Waiting {
            reply,
            interface: event.interface_name().to_owned(),
            action: event.action.name().to_owned(),
        };
        self.waiting.insert(id, waiting);
        Some(request)
    }

    /// The log span of a hook's event.
    pub(super) fn span(&self, id: HookId) -> tracing::Span {
        match self.waiting.get(&id) {
            Some(w) => super::super::event_span(&w.interface, &w.action),
            None => tracing::Span::none(),
        }
    }

    /// Answer a hook (it may have left: nothing to do then).
    pub(super) fn reply(&mut self, id: HookId, result: Result<(), Error>) {
        let Some(mut waiting) = self.waiting.remove(&id) else {
            return;
        };
        if let Err(e) = &result {
            let request = format!("{} {}", waiting.interface, waiting.action);
            tracing::warn!(request = %nm_mptcp_core::escape::escaped(&request), error = %e, "hook event failed");
        }
        tokio::spawn(async move { send_reply(&mut waiting.reply, &result).await });
    }
}

/// Read one connection's request line on a task of its own and hand it to the daemon's loop.
pub(super) fn read_request(stream: UnixStream, requests: mpsc::Sender<Incoming>) {
    tokio::spawn(async move {
        let (read, mut reply) = stream.into_split();
        let mut line = String::new();
        let mut reader = BufReader::new(read.take(control::MAX_LINE as u64));
        let read = tokio::time::timeout(REQUEST_TIMEOUT, reader.read_line(&mut line)).await;
        let failed = match read {
            // Connected and closed: nothing asked, nothing to answer.
            Ok(Ok(0)) => return,
            Ok(Ok(_)) => match requests.try_send(Incoming { line, reply }) {
                Ok(()) => return,
                Err(e) => {
                    reply = e.into_inner().reply;
                    Error::new(ErrorKind::Busy, "the daemon has too many requests waiting")
                }
            },
            Ok(Err(e)) => Error::new(ErrorKind::Daemon, format!("reading the request: {e}")),
            Err(_) => Error::new(ErrorKind::Daemon, "no request within 1 s"),
        };
        tracing::debug!(error = %failed, "hook connection dropped");
        send_reply(&mut reply, &Err(failed)).await;
    });
}

async fn send_reply(reply: &mut OwnedWriteHalf, result: &Result<(), Error>) {
    if let Err(e) = reply
        .write_all(control::reply_line(result).as_bytes())
        .await
    {
        tracing::debug!(error = %e, "the hook left before its answer");
    }
}

/// The control socket, replacing one a dead daemon left (the daemon lock says none runs).
pub(super) fn listen(dir: &Path) -> Result<UnixListener, Error> {
    let path = control::socket_path(dir);
    let state = |what: &str, e: std::io::Error| {
        Error::new(ErrorKind::State, format!("{what} {}: {e}", path.display()))
    };
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(state("cannot remove the stale socket", e))
        }
        _ => {}
    }
    let listener = UnixListener::bind(&path).map_err(|e| state("cannot listen on", e))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| state("cannot restrict", e))?;
    Ok(listener)
}
