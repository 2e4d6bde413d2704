//! The resident daemon (`nm-mptcp daemon`): follow NetworkManager's signals and the kernel's
//! address changes, keep the endpoints reconciled, and answer the hook over the control socket. A
//! dispatcher event then costs a reconciliation against a view already in hand instead of
//! a fresh connection and a full read of NetworkManager (one call at a time on its side).

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use tokio::time::Instant;

use futures_util::{FutureExt, StreamExt};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;
use tracing::Instrument;

use std::sync::{Arc, RwLock};

use super::kernel::Kernel;
use super::reconcile::{self, NmSource, NM_TIMEOUT};
use super::{event_span, verdict};
use crate::adapters::config_file;
use crate::adapters::control;
use crate::adapters::dbus_service::{self, Request};
use crate::adapters::dispatcher::{self, Action};
use crate::adapters::kernel::addresses::AddressEvents;
use crate::adapters::kernel::netlink::NetlinkKernel;
use crate::adapters::ledger_store::{lock_in, read_ledger, run_dir, DAEMON_LOCK};
use crate::adapters::nm::{self, Detail, Prefetch};
use crate::adapters::nm_conf_files::{self, ConfPaths};
use crate::changes::Backing;
use crate::diff::Operation;
use crate::error::{Error, ErrorKind};
use crate::modified::ModifiedProfile;
use crate::nm_conf::NmConf;
use crate::nm_view::{NmDevice, NmView};
use crate::planner::Plan;
use crate::report::escaped;

/// How long a client may take to send its one line.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);
/// The bus daemon answers at once; NetworkManager's reads have `NM_TIMEOUT`.
const PRESENCE_TIMEOUT: Duration = Duration::from_secs(1);
/// A pause after a failed accept (out of file descriptors), instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// See `Daemon::publish_due`.
const PUBLISH_QUIET: Duration = Duration::from_millis(50);
const PUBLISH_LATEST: Duration = Duration::from_millis(500);
/// How long a provisional device (see `Prefetch`) may stand in for a read one.
const PROVISIONAL_FOR: Duration = Duration::from_secs(1);

/// Run until the bus or the kernel's address socket closes.
pub(crate) async fn run() -> Result<(), Error> {
    let dir = run_dir();
    let _only_one = lock_in(&dir, DAEMON_LOCK, Duration::ZERO).map_err(|e| match e.kind {
        ErrorKind::Busy => Error::new(ErrorKind::Busy, "another nm-mptcp daemon is running"),
        _ => e,
    })?;
    let bus = nm::system_bus().await?;
    let (signals, mut owner_changes) = nm::signals(&bus).await?;
    let addresses = AddressEvents::subscribe()?;
    let prefetch = match nm::within(NM_TIMEOUT, Prefetch::load(&bus)).await {
        Ok(prefetch) => prefetch,
        Err(e) => {
            tracing::debug!(error = %e, "no prefetch of NetworkManager's devices and profiles");
            Prefetch::default()
        }
    };
    let listener = listen(&dir)?;
    let (hook_sender, mut hook_requests) = mpsc::channel(PENDING_REQUESTS);
    let (modify_sender, mut modify_results) = mpsc::channel(1);
    let (published, mut requests) = match dbus_service::serve(&bus).await {
        Ok((published, requests)) => (Some(published), Some(requests)),
        Err(e) => {
            tracing::warn!(error = %e, "serving without the D-Bus interface");
            (None, None)
        }
    };
    let mut daemon = Daemon {
        bus,
        signals,
        addresses,
        kernel: NetlinkKernel::connect()?,
        view: None,
        nm_conf: NmConf::default(),
        nm_conf_paths: ConfPaths::default(),
        noticed: Noticed {
            stale: true,
            modify_check_due: true,
            to_follow: Vec::new(),
        },
        prefetch,
        provisional: Vec::new(),
        read_since: None,
        published,
        plan: None,
        publish_due: None,
        left_to_user: HashSet::new(),
        modified: Vec::new(),
        modify_in_flight: false,
        modify_sender,
    };
    // Read once: drift is checked on this interval from the start.
    let check_interval = config_file::load(&config_file::path())
        .ok()
        .and_then(|c| c.check_interval);
    let mut drift_check =
        tokio::time::interval(check_interval.unwrap_or(Duration::from_secs(86_400)));
    drift_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    drift_check.reset();
    daemon.settle_observed("start").await;
    if daemon.published.is_some() {
        // A caller that activated the daemon reads a full status.
        daemon.publish_due = None;
        daemon.republish().await;
        let claim = dbus_service::claim_name(&daemon.bus);
        match draining(&mut daemon.signals, &mut daemon.noticed, claim).await {
            Ok(()) => tracing::info!(name = dbus_service::NAME, "serving on the system bus"),
            Err(e) if e.kind == ErrorKind::Busy => return Err(e),
            Err(e) => tracing::warn!(error = %e, "serving without the D-Bus interface"),
        }
    }
    tracing::info!(socket = %control::socket_path(&dir).display(), "daemon ready");
    let closed = || Error::nm("the system bus connection closed");
    loop {
        tokio::select! {
            // An address change first: its endpoint is what NetworkManager's own support adds
            // in the same commit, while signals come in dozens around it.
            biased;
            changed = daemon.addresses.changed() => {
                if changed.is_none() {
                    return Err(Error::kernel("the address event socket closed"));
                }
                daemon.addresses.drain();
                daemon.settle_on_address().await;
            }
            message = daemon.signals.next() => {
                let message = message.ok_or_else(closed)?;
                daemon.noticed.note(message);
                daemon.drain_signals();
                daemon.follow_noticed().await;
                if daemon.noticed.stale {
                    daemon.settle_observed("networkmanager").await;
                }
            }
            owner = owner_changes.next() => {
                if owner.is_none() {
                    return Err(closed());
                }
                daemon.noticed.stale = true;
                daemon.settle_observed("networkmanager-restart").await;
            }
            _ = sleep_until_due(daemon.publish_due), if daemon.publish_due.is_some() => {
                daemon.publish_due = None;
                // Events paused: what is applied may have changed (an up, a reapply), so the
                // saved and applied profiles are compared again, off the events' path.
                daemon.noticed.modify_check_due = true;
                daemon.republish().await;
            }
            _ = std::future::ready(()), if !daemon.noticed.to_follow.is_empty() => {
                daemon.follow_noticed().await;
            }
            _ = drift_check.tick(), if check_interval.is_some() => {
                daemon.repair_drift().await;
                // A modify whose signal came while the daemon was busy is found here.
                daemon.noticed.modify_check_due = true;
            }
            _ = std::future::ready(()), if daemon.noticed.modify_check_due && !daemon.modify_in_flight => {
                daemon.check_modifies();
            }
            Some(pending) = modify_results.recv() => daemon.on_modifies(pending).await,
            // Signals consumed while the daemon was busy (see `draining`) still count.
            _ = std::future::ready(()), if daemon.noticed.stale && daemon.view.is_some() => {
                daemon.settle_observed("networkmanager").await;
            }
            Some(request) = next_request(&mut requests) => match request {
                Request::Reconcile(reply) => {
                    let span = event_span("none", "dbus-reconcile");
                    let settled = daemon.settle(None, true, Backing::Event).instrument(span).await;
                    if let Err(e) = &settled {
                        tracing::warn!(error = %e, "Reconcile over D-Bus failed");
                    }
                    // The caller may have given up waiting; nothing to do then.
                    let _ = reply.send(settled);
                }
                Request::Plan(reply) => {
                    let _ = reply.send(daemon.plan().await);
                }
                Request::Describe(reply) => {
                    let _ = reply.send(daemon.describe().await);
                }
            },
            Some(request) = hook_requests.recv() => daemon.answer(request).await,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => read_request(stream, hook_sender.clone()),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot accept a hook connection");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }
}

/// Until a publication is due: the quiet time after the last event, or the latest time.
async fn sleep_until_due(due: Option<(Instant, Instant)>) {
    if let Some((quiet, latest)) = due {
        tokio::time::sleep_until(quiet.min(latest)).await;
    }
}

/// The next D-Bus call for the loop, or never without the D-Bus interface.
async fn next_request(
    requests: &mut Option<tokio::sync::mpsc::Receiver<Request>>,
) -> Option<Request> {
    match requests {
        Some(requests) => requests.recv().await,
        None => std::future::pending().await,
    }
}

/// What NetworkManager's signals told the daemon, wherever they were consumed.
#[derive(Default)]
struct Noticed {
    /// A signal said the view may be out of date.
    stale: bool,
    /// A profile was modified, events paused or the daemon just started: see
    /// `check_modifies`.
    modify_check_due: bool,
    /// Signals for `Prefetch` (activations, devices and profiles coming and going).
    to_follow: Vec<(Instant, zbus::Message)>,
}

impl Noticed {
    fn note(&mut self, message: zbus::Result<zbus::Message>) {
        let Ok(message) = message else { return };
        self.modify_check_due |= nm::profile_updated(&message);
        self.stale |= nm::signal_matters(&message);
        if Prefetch::follows(&message) {
            self.to_follow.push((Instant::now(), message));
        }
    }
}

/// Await `work` while consuming NetworkManager's signals into `noticed`: zbus reads the bus
/// only while each stream has room, so awaiting a reply behind a full signal queue would
/// wait for ever.
async fn draining<T>(
    signals: &mut zbus::MessageStream,
    noticed: &mut Noticed,
    work: impl std::future::Future<Output = T>,
) -> T {
    tokio::pin!(work);
    loop {
        tokio::select! {
            done = &mut work => return done,
            Some(message) = signals.next() => noticed.note(message),
        }
    }
}

/// The view to plan with: the one read (borrowed, as on every event), with the provisional
/// devices of activations signalled since it began. `only_provisional` (an address change
/// acted on while a signal made the view stale): the provisional devices alone, since a stale
/// view may hold a device being torn down, whose last addresses would get their endpoints
/// back; `None` when there are none.
fn planning_view<'a>(
    view: &'a NmView,
    provisional: &[(Instant, NmDevice)],
    only_provisional: bool,
) -> Option<std::borrow::Cow<'a, NmView>> {
    let devices = provisional.iter().map(|(_, d)| d.clone());
    if only_provisional {
        if provisional.is_empty() {
            return None;
        }
        return Some(std::borrow::Cow::Owned(NmView {
            devices: devices.collect(),
            ..*view
        }));
    }
    if provisional.is_empty() {
        return Some(std::borrow::Cow::Borrowed(view));
    }
    let mut merged = view.clone();
    merged.devices.extend(devices);
    Some(std::borrow::Cow::Owned(merged))
}

/// A hook's request line, read, with the way to answer it.
struct HookRequest {
    line: String,
    reply: OwnedWriteHalf,
}

/// How many read requests may wait for the daemon; more are answered Busy at once (the hook
/// then works alone).
const PENDING_REQUESTS: usize = 32;

/// Read one hook connection's request line on a task of its own, so that a client that
/// connects and says nothing (or slowly) delays no one, and hand it to the daemon's loop.
fn read_request(stream: UnixStream, requests: mpsc::Sender<HookRequest>) {
    tokio::spawn(async move {
        let (read, mut reply) = stream.into_split();
        let mut line = String::new();
        let mut reader = BufReader::new(read.take(control::MAX_LINE as u64));
        let read = tokio::time::timeout(REQUEST_TIMEOUT, reader.read_line(&mut line)).await;
        let failed = match read {
            // Connected and closed: nothing asked, nothing to answer.
            Ok(Ok(0)) => return,
            Ok(Ok(_)) => match requests.try_send(HookRequest { line, reply }) {
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
fn listen(dir: &Path) -> Result<UnixListener, Error> {
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

struct Daemon {
    bus: zbus::Connection,
    signals: zbus::MessageStream,
    /// The kernel's address changes.
    addresses: AddressEvents,
    /// Netlink sockets held for the daemon's lifetime.
    kernel: NetlinkKernel,
    /// Where the D-Bus interface reads the status from; `None` without the interface.
    published: Option<Arc<RwLock<dbus_service::Published>>>,
    /// The last reconciliation's plan, for a status with the kernel read again.
    plan: Option<Plan>,
    /// When the last reconciliations are to be published on D-Bus: once events pause for
    /// `PUBLISH_QUIET`, at most `PUBLISH_LATEST` after the first (building the status costs
    /// about as much as a reconciliation; a burst of events publishes once, and never in
    /// front of the hook's next event).
    publish_due: Option<(Instant, Instant)>,
    /// NetworkManager's view as last read; `None` until a read succeeds.
    view: Option<NmView>,
    /// NetworkManager's configuration files, read with the view and on each activation.
    nm_conf: NmConf,
    /// Where NetworkManager reads them, as of the last read of it.
    nm_conf_paths: ConfPaths,
    /// What signals said.
    noticed: Noticed,
    /// NetworkManager's devices and saved profiles, for activations to be known at once.
    prefetch: Prefetch,
    /// Devices of activations not in the view yet, with when their signal came.
    provisional: Vec<(Instant, NmDevice)>,
    /// When the last completed read of NetworkManager began.
    read_since: Option<Instant>,
    /// Active profiles modified since they were applied, as last compared.
    modified: Vec<ModifiedProfile>,
    /// A comparison is under way (`check_modifies`), and where its answer goes.
    modify_in_flight: bool,
    modify_sender: mpsc::Sender<Result<Vec<nm::Pending>, Error>>,
    /// Modifies `on_modifies` left for the user, already logged.
    left_to_user: HashSet<(String, String, u32)>,
}

impl Daemon {
    /// Consume the signals already queued.
    fn drain_signals(&mut self) {
        while let Some(Some(message)) = self.signals.next().now_or_never() {
            self.noticed.note(message);
        }
    }

    /// Activations become provisional devices at once; then devices and profiles that came,
    /// changed or went are read for the prefetch.
    async fn follow_noticed(&mut self) {
        self.take_activations().await;
        for (_, message) in std::mem::take(&mut self.noticed.to_follow) {
            let follow = nm::within(NM_TIMEOUT, self.prefetch.follow(&self.bus, &message));
            if let Err(e) = draining(&mut self.signals, &mut self.noticed, follow).await {
                tracing::debug!(error = %e, "cannot follow a change of NetworkManager's");
            }
        }
    }

    /// Turn the activations noticed into provisional devices, and act at once if there were
    /// any: their address may have come first. Acting drains signals, which may bring
    /// another.
    async fn take_activations(&mut self) {
        while self.absorb_activations() {
            self.settle_held_on_address().await;
        }
    }

    /// Read NetworkManager's configuration files again, where the running NetworkManager
    /// reads them (its command line, as of the last read of it: in the moment after a
    /// restart the process of the view is gone).
    fn read_nm_conf(&mut self) {
        self.nm_conf = nm_conf_files::read(&self.nm_conf_paths);
    }

    /// Turn the activations among the signals noticed into provisional devices (no call to
    /// NetworkManager: this runs between an address and its endpoint); whether there were
    /// any. NetworkManager's configuration files are read again then: an activation uses
    /// them as NetworkManager last loaded them, perhaps by an `nmcli general reload` that
    /// no signal announces.
    fn absorb_activations(&mut self) -> bool {
        let before = self.provisional.len();
        let prefetch = &self.prefetch;
        let provisional = &mut self.provisional;
        let read_since = self.read_since;
        self.noticed
            .to_follow
            .retain(|(noticed, message)| match prefetch.activation(message) {
                Some(devices) => {
                    // An activation a completed read has already seen needs no stand-in.
                    if read_since.is_none_or(|read| *noticed > read) {
                        provisional.extend(devices.into_iter().map(|d| (*noticed, d)));
                    }
                    false
                }
                None => true,
            });
        let absorbed = self.provisional.len() > before;
        if absorbed {
            self.read_nm_conf();
        }
        absorbed
    }

    /// Forget provisional devices older than a second or that the view now has.
    fn prune_provisional(&mut self) {
        let Some(view) = self.view.as_ref() else {
            return;
        };
        self.provisional.retain(|(since, device)| {
            since.elapsed() < PROVISIONAL_FOR
                && !view.devices.iter().any(|d| d.interface == device.interface)
        });
    }

    /// Whether NetworkManager is on the bus; its answer is also the point by which every
    /// signal it sent before has been seen.
    async fn networkmanager_present(&mut self) -> Result<bool, Error> {
        let bus = self.bus.clone();
        self.meanwhile(nm::within(PRESENCE_TIMEOUT, nm::present(&bus)))
            .await
    }

    /// Await `work` (a call to the bus, which takes milliseconds while NetworkManager is
    /// busy activating) while following signals, turning activations into provisional
    /// devices and acting on each address change with the view in hand: an activation's
    /// first address must not wait behind it.
    async fn meanwhile<T>(&mut self, work: impl std::future::Future<Output = T>) -> T {
        tokio::pin!(work);
        loop {
            tokio::select! {
                biased;
                Some(()) = self.addresses.changed() => {
                    self.addresses.drain();
                    self.settle_held_on_address().await;
                }
                done = &mut work => return done,
                Some(message) = self.signals.next() => self.noticed.note(message),
            }
            // Noticed just now, or by the reconciliation above while it drained signals.
            self.take_activations().await;
        }
    }

    /// Read NetworkManager again if asked or a signal made the view stale.
    async fn refresh_view(&mut self, refresh: bool) -> Result<(), Error> {
        if refresh || self.noticed.stale || self.view.is_none() {
            // Cleared first: a signal that arrives during the read makes it stale again.
            self.noticed.stale = false;
            // Everything status shows (external activations too): the D-Bus interface
            // publishes what `nm-mptcp status` prints.
            let bus = self.bus.clone();
            let started = Instant::now();
            let read = self
                .meanwhile(nm::within(NM_TIMEOUT, nm::read_with(&bus, Detail::Full)))
                .await;
            match read {
                Ok(view) => {
                    // The read saw every activation signalled before it began: their
                    // provisional devices are done (one kept longer would come back once
                    // its device left the view, while its addresses are being removed).
                    self.provisional.retain(|(since, _)| *since > started);
                    self.read_since = Some(started);
                    self.nm_conf_paths = ConfPaths::of_process(view.pid);
                    self.view = Some(view);
                    self.read_nm_conf();
                }
                Err(e) => {
                    self.view = None;
                    return Err(e.context("reading NetworkManager"));
                }
            }
        }
        Ok(())
    }

    /// What a dispatcher event would do now, changing nothing, not even the daemon's own
    /// state: the held view when it is current, else one read for this alone (a stale view
    /// stays stale, so the reconciliation it calls for still happens).
    async fn dry_run(&mut self) -> Result<reconcile::Outcome, Error> {
        let (read_now, conf_now);
        let source = match &self.view {
            Some(view) if !self.noticed.stale => NmSource::Held(view, &self.nm_conf),
            _ => {
                let read = nm::within(NM_TIMEOUT, nm::read_with(&self.bus, Detail::Full));
                read_now = draining(&mut self.signals, &mut self.noticed, read)
                    .await
                    .map_err(|e| e.context("reading NetworkManager"))?;
                conf_now = nm_conf_files::read_of_process(read_now.pid);
                NmSource::Held(&read_now, &conf_now)
            }
        };
        let dry_run = reconcile::dry_run(&mut self.kernel, source);
        draining(&mut self.signals, &mut self.noticed, dry_run).await
    }

    /// Put back what is nm-mptcp's and went missing without an event (`ip mptcp endpoint
    /// flush`, an endpoint deleted by hand, limits reset): what a dispatcher event would add
    /// or set now is done now. Others' endpoints are not nm-mptcp's to put back.
    async fn repair_drift(&mut self) {
        let Ok(outcome) = self.dry_run().await else {
            return;
        };
        let changes = &outcome.changes;
        let missing: Vec<String> = changes
            .operations
            .iter()
            .filter(|op| matches!(op, Operation::Add(_)))
            .map(ToString::to_string)
            .collect();
        let limits_off = changes.limits != changes.limits_before;
        if missing.is_empty() && !limits_off {
            return;
        }
        tracing::info!(
            missing = ?missing,
            limits = %changes.limits_before,
            wanted_limits = %changes.limits,
            "repair: endpoints or limits of nm-mptcp's changed without an event"
        );
        self.settle_observed("repair").await;
    }

    /// Compare the active profiles' saved and applied settings on a task of its own (a few
    /// calls to NetworkManager, which must not hold up an address that needs its endpoint):
    /// the answer comes back through `modify_results` to `on_modifies`.
    fn check_modifies(&mut self) {
        self.noticed.modify_check_due = false;
        self.modify_in_flight = true;
        let (bus, results) = (self.bus.clone(), self.modify_sender.clone());
        tokio::spawn(async move {
            let pending = nm::within(NM_TIMEOUT, nm::pending_modifies(&bus)).await;
            let _ = results.send(pending).await;
        });
    }

    /// Keep the modified profiles for the status, and with `[profiles] apply_on_modify` ask
    /// NetworkManager to reapply each one whose saved settings differ from the applied ones
    /// only in `connection.mptcp-flags`, with the applied connection's version (a change in
    /// between makes the reapply fail rather than overwrite it). A modify that changed more is
    /// left to the user, as `status` says.
    async fn on_modifies(&mut self, pending: Result<Vec<nm::Pending>, Error>) {
        self.modify_in_flight = false;
        let pending = match pending {
            Ok(pending) => pending,
            Err(e) => {
                tracing::warn!(error = %e, "cannot compare saved and applied profiles");
                return;
            }
        };
        let modified: Vec<ModifiedProfile> = pending.iter().map(|p| p.profile.clone()).collect();
        if modified != self.modified {
            self.modified = modified;
            self.publish_soon();
        }
        if !config_file::load(&config_file::path()).is_ok_and(|c| c.apply_on_modify) {
            return;
        }
        for p in pending.iter().filter(|p| p.profile.flags_modified()) {
            let m = &p.profile;
            let (applied, saved) = (
                ModifiedProfile::flag_words(m.applied_flags),
                ModifiedProfile::flag_words(m.saved_flags),
            );
            let profile = escaped(&m.profile.id);
            let interface = escaped(&m.interface);
            if !m.only_flags_modified() {
                let key = (m.profile.uuid.clone(), m.interface.clone(), m.saved_flags);
                if self.left_to_user.insert(key) {
                    tracing::info!(
                        profile, interface, applied, saved, changed = ?m.changed,
                        "modified profile left to the user: more than connection.mptcp-flags changed"
                    );
                }
                continue;
            }
            let reapply = nm::within(NM_TIMEOUT, nm::reapply(&self.bus, p));
            match draining(&mut self.signals, &mut self.noticed, reapply).await {
                Ok(()) => tracing::info!(
                    profile,
                    interface,
                    applied,
                    saved,
                    "reapplied a modified profile (apply_on_modify)"
                ),
                Err(e) => tracing::warn!(profile, interface, error = %e, "reapply failed"),
            }
        }
    }

    /// `plan --json`, for the D-Bus `Plan`.
    async fn plan(&mut self) -> Result<String, Error> {
        let outcome = self.dry_run().await?;
        serde_json::to_string_pretty(&outcome)
            .map_err(|e| Error::new(ErrorKind::Internal, format!("cannot encode JSON: {e}")))
    }

    /// `status --json` as of now, for the D-Bus `Describe` (published as well).
    async fn describe(&mut self) -> Result<String, Error> {
        let outcome = self.dry_run().await?;
        self.publish(&outcome.plan).await
    }

    /// Read NetworkManager again if needed, then reconcile against the view.
    async fn settle(
        &mut self,
        going_down: Option<&str>,
        refresh: bool,
        backing: Backing,
    ) -> Result<(), Error> {
        self.refresh_view(refresh).await?;
        self.settle_view(going_down, backing, false).await
    }

    /// An address came or went. NetworkManager's own support adds its endpoint in the same
    /// commit as the address, and a read of NetworkManager first would cost milliseconds:
    /// the view in hand (with the provisional devices of activations under way) is acted on
    /// at once; then, if a signal made it stale, NetworkManager is read and the host settled
    /// once more.
    async fn settle_on_address(&mut self) {
        self.settle_held_on_address().await;
        if self.noticed.stale || self.view.is_none() {
            self.settle_observed("address-change").await;
        }
    }

    async fn settle_held_on_address(&mut self) {
        if self.view.is_none() {
            return;
        }
        // The activation's signal may be queued still, behind the address.
        self.drain_signals();
        self.absorb_activations();
        let settled = self
            .settle_view(None, Backing::Signals, true)
            .instrument(event_span("none", "address-change"))
            .await;
        if let Err(e) = settled {
            tracing::warn!(error = %e, "reconciling after an address change failed");
        }
    }

    /// Reconcile against the view in hand.
    async fn settle_view(
        &mut self,
        going_down: Option<&str>,
        backing: Backing,
        address_only: bool,
    ) -> Result<(), Error> {
        self.prune_provisional();
        let only_provisional = address_only && self.noticed.stale;
        let Some(view) = self
            .view
            .as_ref()
            .and_then(|view| planning_view(view, &self.provisional, only_provisional))
            .filter(|v| !v.starting)
        else {
            tracing::debug!("nothing to plan with yet (NetworkManager starting, or a stale view)");
            return Ok(());
        };
        let source = NmSource::Held(&view, &self.nm_conf);
        let apply = reconcile::apply(&mut self.kernel, going_down, source, backing);
        let applied = draining(&mut self.signals, &mut self.noticed, apply).await;
        drop(view);
        if reconcile::kernel_failed(&applied) {
            self.kernel.reconnect();
        }
        let outcome = applied?;
        if outcome.changes.is_empty() && outcome.refused.is_empty() {
            tracing::debug!(endpoints = outcome.plan.endpoints.len(), "reconciled");
        } else {
            tracing::info!(
                endpoints = outcome.plan.endpoints.len(),
                changes = outcome.applied,
                "reconciled"
            );
        }
        let verdict = verdict(&outcome.refused);
        self.plan = Some(outcome.plan);
        self.publish_soon();
        verdict
    }

    /// Publish the status once events pause (see `publish_due`).
    fn publish_soon(&mut self) {
        let now = Instant::now();
        let latest = self
            .publish_due
            .map_or(now + PUBLISH_LATEST, |(_, latest)| latest);
        self.publish_due = Some((now + PUBLISH_QUIET, latest));
    }

    /// Publish the last reconciliation's status, with the kernel as it is now.
    async fn republish(&mut self) {
        let Some(plan) = self.plan.take() else {
            return;
        };
        if let Err(e) = self.publish(&plan).await {
            tracing::warn!(error = %e, "cannot publish the status on D-Bus");
        }
        self.plan = Some(plan);
    }

    /// Publish a plan's status on the D-Bus interface (its properties); returns it as
    /// `status --json` prints it.
    async fn publish(&mut self, plan: &Plan) -> Result<String, Error> {
        let published = self
            .published
            .as_ref()
            .ok_or_else(|| Error::new(ErrorKind::Daemon, "no D-Bus interface"))?;
        let published = published.clone();
        let published_now = async {
            let kernel = self.kernel.endpoints().await?;
            let limits = self.kernel.limits().await?;
            let dir = run_dir();
            let ledger = read_ledger(&dir);
            let config = config_file::load(&config_file::path())?;
            let modified = self.modified.clone();
            let status = super::status::report(
                plan,
                &kernel,
                limits,
                Some(&ledger),
                &dir,
                &config,
                &modified,
            );
            dbus_service::publish(&self.bus, &published, status).await
        };
        published_now.await
    }

    /// `settle` for what the daemon notices itself (signals, address changes, its start):
    /// nothing while NetworkManager is away, and failures are logged, not fatal.
    async fn settle_observed(&mut self, cause: &'static str) {
        let span = event_span("none", cause);
        let settled = async {
            if !self.networkmanager_present().await? {
                tracing::debug!("NetworkManager is not on the bus; nothing to follow");
                self.view = None;
                return Ok(());
            }
            self.settle(None, false, Backing::Signals).await
        };
        if let Err(e) = settled.instrument(span).await {
            tracing::warn!(cause, error = %e, "reconciling failed");
        }
    }

    /// Carry out a hook's request and answer it.
    async fn answer(&mut self, request: HookRequest) {
        let HookRequest { line, mut reply } = request;
        let result = self.handle(&line).await;
        if let Err(e) = &result {
            tracing::warn!(request = %escaped(line.trim_end()), error = %e, "hook event failed");
        }
        send_reply(&mut reply, &result).await;
    }

    async fn handle(&mut self, line: &str) -> Result<(), Error> {
        let words = control::parse_request(line)?;
        let event = dispatcher::parse(&words)?;
        if let Action::Ignored(_) = event.action {
            return Ok(());
        }
        let span = event_span(event.interface_name(), event.action.name());
        async {
            // NetworkManager signals what it did before it calls the dispatcher, and the bus
            // answers this after routing those signals here: once it has, they are queued.
            if !self.networkmanager_present().await? {
                // It is stopping, or starting and not on the bus yet (1.52 sends an event
                // then): nothing can be read now, and the daemon reconciles as soon as its
                // name is back, so the event is done, not failed.
                tracing::info!("NetworkManager is not on the bus; reconciling when it is back");
                self.view = None;
                return Ok(());
            }
            self.drain_signals();
            self.settle(
                event.going_down(),
                event.action.refreshes_view(),
                Backing::Event,
            )
            .await
        }
        .instrument(span)
        .await
    }
}
