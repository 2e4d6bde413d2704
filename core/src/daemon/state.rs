//! The daemon's held state and every decision it makes: events and the time in, actions out
//! (`handle`, then `next_action` until none). Nothing here waits, reads a clock or does I/O,
//! so each race between NetworkManager, the kernel and the hook is a sequence of events a
//! unit test can replay.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use crate::changes::Backing;
use crate::error::Error;
use crate::modified::{ComparedProfile, ModifiedProfile};
use crate::nm_conf::NmConf;
use crate::nm_view::{NmDevice, NmView};

use super::actions::{Action, PrefetchChange, Reconciliation, Scope};
use super::events::{Activation, Call, CallId, Cause, Event, HookRequest, NmSignal, Purpose};

/// Publish once events pause this long ...
pub const PUBLISH_QUIET: Duration = Duration::from_millis(50);
/// ... and at the latest this long after the first of them: building the status costs about
/// as much as a reconciliation, so a burst publishes once, and never in front of a hook.
pub const PUBLISH_LATEST: Duration = Duration::from_millis(500);
/// How long a provisional device may stand in for a read one.
pub const PROVISIONAL_FOR: Duration = Duration::from_secs(1);
/// The least time between two dry runs for `Describe` and `Plan`: calls in between wait and
/// share the next one, so no caller gets an answer older than its call, and callers together
/// cost at most a few dry runs a second, always behind the hook's events.
pub const CALL_GAP: Duration = Duration::from_millis(250);
/// While a client watches (`Watch` on D-Bus), the connections and counters are read and
/// published this often: at most one kernel dump a second, however many watch ...
pub const WATCHED_EVERY: Duration = Duration::from_secs(1);
/// ... for this long after its last `Watch`: a client that goes away costs nothing after.
pub const WATCH_LEASE: Duration = Duration::from_secs(60);

/// What the daemon knows and has under way.
#[derive(Debug)]
pub struct DaemonState {
    /// `[daemon] check_interval`: how often to look for nm-mptcp's endpoints and limits gone
    /// missing without an event; `None`: never.
    check_interval: Option<Duration>,
    /// NetworkManager's view as last read, with its configuration files; `None` until a read
    /// succeeds, and while NetworkManager is away.
    view: Option<NmView>,
    nm_conf: NmConf,
    /// A signal since the last read began says the view may be out of date.
    stale: bool,
    /// Devices of activations not in the view yet, with when their signal came.
    provisional: Vec<(Instant, NmDevice)>,
    /// When the last completed read began, and whether one is under way.
    read_since: Option<Instant>,
    reading: bool,
    /// Reads begun, and the number of the last one completed: a waiter that needs a read
    /// begun after some moment waits for a number above the count then.
    reads_begun: u64,
    reads_done: u64,
    presence_asked: bool,
    /// Reconciliations and dry runs waiting for NetworkManager's presence or a read.
    waiters: Vec<Waiter>,
    /// Prefetch changes and activations, in the order their signals came: an activation is
    /// resolved only once the changes before it are followed.
    follows: VecDeque<Follow>,
    following: bool,
    /// The first reconciliation is done and its status published.
    ready: bool,
    publish_due: Option<(Instant, Instant)>,
    /// `Describe`/`Plan` calls waiting for the next dry run, and when one may run.
    calls: Vec<CallId>,
    refreshing: bool,
    refresh_not_before: Option<Instant>,
    next_drift_check: Option<Instant>,
    /// How often a metrics textfile is rewritten (`[metrics]`); `None`: no file.
    metrics_every: Option<Duration>,
    watched_until: Option<Instant>,
    /// When the connections and counters are next read and published, while sampling.
    next_sample: Option<Instant>,
    compare_due: bool,
    compare_running: bool,
    /// When the comparison under way (or the last one) began.
    compare_began: Option<Instant>,
    /// Active profiles modified since they were applied, as last compared.
    modified: Vec<ModifiedProfile>,
    /// When each saved profile (object path) was last updated, and last applied (activated,
    /// or reapplied by nm-mptcp): only a saved change since it was applied is reapplied.
    saved_updated: HashMap<String, Instant>,
    applied_at: HashMap<String, Instant>,
    /// The saved flags when a comparison last found them applied: an `Updated` that leaves
    /// them so (a secret saved, the same value set again) is no reason to reapply.
    in_sync_flags: HashMap<String, u32>,
    /// Modifies left to the user, already reported.
    left_to_user: HashSet<(String, String, u32)>,
    outbox: VecDeque<Action>,
}

#[derive(Debug)]
struct Waiter {
    goal: Goal,
    going_down: Option<String>,
    backing: Backing,
    /// Read NetworkManager again even without a signal.
    refresh: bool,
    stage: Stage,
    /// A hook whose read failed is tried once more (NetworkManager quitting mid-read is
    /// then seen as absent).
    retried: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Goal {
    Reconcile(Purpose),
    /// A dry run for the waiting `Describe` and `Plan` calls.
    Refresh,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Waiting for the bus to say NetworkManager is there (and so that every signal it sent
    /// before has been seen); `asked`: the check under way covers it.
    Presence { asked: bool },
    /// Waiting for the view, read by a read numbered above `after` if set.
    View { after: Option<u64> },
}

#[derive(Debug)]
enum Follow {
    Change(PrefetchChange),
    Activation(Instant, Activation),
}

impl DaemonState {
    pub fn new(check_interval: Option<Duration>, metrics_every: Option<Duration>) -> DaemonState {
        DaemonState {
            check_interval: check_interval.filter(|i| !i.is_zero()),
            metrics_every: metrics_every.map(|i| i.max(WATCHED_EVERY)),
            watched_until: None,
            next_sample: None,
            view: None,
            nm_conf: NmConf::default(),
            stale: true,
            provisional: Vec::new(),
            read_since: None,
            reading: false,
            reads_begun: 0,
            reads_done: 0,
            presence_asked: false,
            waiters: Vec::new(),
            follows: VecDeque::new(),
            following: false,
            ready: false,
            publish_due: None,
            calls: Vec::new(),
            refreshing: false,
            refresh_not_before: None,
            next_drift_check: None,
            compare_due: false,
            compare_running: false,
            compare_began: None,
            modified: Vec::new(),
            saved_updated: HashMap::new(),
            applied_at: HashMap::new(),
            in_sync_flags: HashMap::new(),
            left_to_user: HashSet::new(),
            outbox: VecDeque::new(),
        }
    }

    /// The next action to carry out, in order.
    pub fn next_action(&mut self) -> Option<Action> {
        self.outbox.pop_front()
    }

    /// When the daemon next has something to do by itself (`Event::Tick`); `None`: only an
    /// event wakes it.
    pub fn next_deadline(&self) -> Option<Instant> {
        let publish = self.publish_due.map(|(quiet, latest)| quiet.min(latest));
        let refresh = self
            .refresh_not_before
            .filter(|_| !self.calls.is_empty() && !self.refresh_waiting());
        [publish, refresh, self.next_drift_check, self.next_sample]
            .into_iter()
            .flatten()
            .min()
    }

    /// The view a reconciliation or a dry run plans with: the one read, with the provisional
    /// devices of activations signalled since (a second at most, and none the view has).
    pub fn planning_view(&self, scope: Scope, now: Instant) -> Option<Cow<'_, NmView>> {
        let view = self.view.as_ref()?;
        let provisional: Vec<NmDevice> = self.live_provisional(view, now).cloned().collect();
        if scope == Scope::AtOnce && self.stale {
            if provisional.is_empty() {
                return None;
            }
            return Some(Cow::Owned(NmView {
                devices: provisional,
                ..*view
            }));
        }
        if provisional.is_empty() {
            return Some(Cow::Borrowed(view));
        }
        let mut merged = view.clone();
        merged.devices.extend(provisional);
        Some(Cow::Owned(merged))
    }

    /// Whether `planning_view(scope, now)` has something to reconcile with (and NetworkManager
    /// is not starting), without building it: the shell builds it once, when it reconciles.
    fn plannable(&self, scope: Scope, now: Instant) -> bool {
        let Some(view) = self.view.as_ref().filter(|v| !v.starting) else {
            return false;
        };
        !(scope == Scope::AtOnce && self.stale) || self.live_provisional(view, now).next().is_some()
    }

    /// The provisional devices still standing in: younger than `PROVISIONAL_FOR`, and not in
    /// the view read.
    fn live_provisional<'a>(
        &'a self,
        view: &'a NmView,
        now: Instant,
    ) -> impl Iterator<Item = &'a NmDevice> {
        self.provisional
            .iter()
            .filter(move |(since, device)| {
                now.saturating_duration_since(*since) < PROVISIONAL_FOR
                    && !view.devices.iter().any(|d| d.interface == device.interface)
            })
            .map(|(_, device)| device)
    }

    /// NetworkManager's configuration files, as read with the view or on an activation.
    pub fn nm_conf(&self) -> &NmConf {
        &self.nm_conf
    }

    /// Active profiles modified since they were applied, as last compared.
    pub fn modified(&self) -> &[ModifiedProfile] {
        &self.modified
    }

    pub fn handle(&mut self, now: Instant, event: Event) {
        match event {
            Event::Started => {
                // The bus name first: a second daemon (another run directory) learns it is
                // one before it touches the kernel.
                self.outbox.push_back(Action::ClaimName);
                self.next_drift_check = self.check_interval.map(|i| now + i);
                self.next_sample = self.metrics_every.map(|i| now + i);
                self.compare_due = true;
                self.observe(Cause::Start);
            }
            Event::AddressChanged => {
                self.reconcile_at_once(now);
                if self.stale || self.view.is_none() {
                    self.observe(Cause::AddressChange);
                }
            }
            Event::Signal(signal) => self.on_signal(now, signal),
            Event::NmOwnerChanged => {
                self.stale = true;
                self.observe(Cause::NetworkManagerRestart);
            }
            Event::Hook(request) => self.on_hook(request),
            Event::Call(id, call) => self.on_call(now, id, call),
            Event::PresenceChecked(present) => self.on_presence(now, present),
            Event::NmRead { began, result } => self.on_read(now, began, result),
            Event::NmConfReloaded(conf) => self.nm_conf = conf,
            Event::PrefetchFollowed => self.following = false,
            Event::ActivationResolved { noticed, devices } => {
                self.following = false;
                self.absorb_activation(now, noticed, devices);
            }
            Event::Reconciled { purpose, result } => {
                if result.is_ok() {
                    self.publish_soon(now);
                }
                self.complete(purpose, result);
            }
            Event::DriftChecked {
                drifted,
                apply_on_modify,
            } => {
                if drifted {
                    self.observe(Cause::Repair);
                }
                // `apply_on_modify` turned on while a profile waits to be applied: no signal
                // says so, the configuration file does.
                if apply_on_modify && !self.modified.is_empty() {
                    self.compare_due = true;
                }
            }
            Event::ProfilesCompared {
                result,
                apply_on_modify,
            } => self.on_compared(now, result, apply_on_modify),
            Event::Refreshed(result) => {
                self.refreshing = false;
                self.refresh_not_before = Some(now + CALL_GAP);
                let calls = std::mem::take(&mut self.calls);
                self.outbox.push_back(Action::AnswerCalls(calls, result));
            }
            Event::Watch => {
                self.watched_until = Some(now + WATCH_LEASE);
                // The first sample at once, then every WATCHED_EVERY.
                if self.next_sample.is_none_or(|at| at > now + WATCHED_EVERY) {
                    self.next_sample = Some(now);
                }
            }
            Event::Tick => self.on_tick(now),
        }
        self.provisional
            .retain(|(since, _)| now.saturating_duration_since(*since) < PROVISIONAL_FOR);
        self.advance_follows();
        self.advance_waiters(now);
        if self.compare_due && !self.compare_running {
            self.compare_due = false;
            self.compare_running = true;
            self.compare_began = Some(now);
            self.outbox.push_back(Action::CompareProfiles);
        }
    }

    fn on_signal(&mut self, now: Instant, signal: NmSignal) {
        let follow = match signal {
            NmSignal::ActivationAdded(activation) => {
                self.applied_at.insert(activation.profile.clone(), now);
                self.stale = true;
                self.observe(Cause::NetworkManager);
                // NetworkManager commits no address of its own for these.
                (!activation.vpn && !activation.external)
                    .then_some(Follow::Activation(now, activation))
            }
            NmSignal::ObjectsChanged | NmSignal::PlanningInputChanged => {
                self.stale = true;
                self.observe(Cause::NetworkManager);
                None
            }
            NmSignal::DeviceAdded(path) => {
                self.stale = true;
                self.observe(Cause::NetworkManager);
                Some(Follow::Change(PrefetchChange::ReadDevice(path)))
            }
            NmSignal::DeviceRemoved(path) => {
                self.stale = true;
                self.observe(Cause::NetworkManager);
                Some(Follow::Change(PrefetchChange::ForgetDevice(path)))
            }
            NmSignal::ProfileAdded(path) => Some(Follow::Change(PrefetchChange::ReadProfile(path))),
            NmSignal::ProfileRemoved(path) => {
                self.saved_updated.remove(&path);
                self.applied_at.remove(&path);
                self.in_sync_flags.remove(&path);
                Some(Follow::Change(PrefetchChange::ForgetProfile(path)))
            }
            NmSignal::ProfileUpdated(path) => {
                self.compare_due = true;
                self.saved_updated.insert(path.clone(), now);
                Some(Follow::Change(PrefetchChange::ReadProfile(path)))
            }
        };
        self.follows.extend(follow);
    }

    fn on_hook(&mut self, request: HookRequest) {
        self.waiters.push(Waiter {
            goal: Goal::Reconcile(Purpose::Hook(request.id)),
            going_down: request.going_down,
            backing: Backing::Event,
            refresh: request.refresh,
            stage: Stage::Presence { asked: false },
            retried: false,
        });
    }

    fn on_call(&mut self, now: Instant, id: CallId, call: Call) {
        match call {
            Call::Reconcile => self.waiters.push(Waiter {
                goal: Goal::Reconcile(Purpose::Call(id)),
                going_down: None,
                backing: Backing::Event,
                refresh: true,
                stage: Stage::View {
                    after: Some(self.reads_begun),
                },
                retried: false,
            }),
            Call::Describe | Call::Plan => {
                self.calls.push(id);
                self.schedule_refresh(now);
            }
        }
    }

    /// A dry run for the waiting calls, as soon as the gap since the last one allows.
    fn schedule_refresh(&mut self, now: Instant) {
        if self.calls.is_empty()
            || self.refresh_waiting()
            || self.refresh_not_before.is_some_and(|t| now < t)
        {
            return;
        }
        let after = (self.stale || self.view.is_none()).then_some(self.reads_begun);
        self.waiters.push(Waiter {
            goal: Goal::Refresh,
            going_down: None,
            backing: Backing::Event,
            refresh: false,
            stage: Stage::View { after },
            retried: false,
        });
    }

    fn refresh_waiting(&self) -> bool {
        self.refreshing || self.waiters.iter().any(|w| w.goal == Goal::Refresh)
    }

    fn on_presence(&mut self, now: Instant, present: Result<bool, Error>) {
        self.presence_asked = false;
        let (asked, rest): (Vec<Waiter>, Vec<Waiter>) = std::mem::take(&mut self.waiters)
            .into_iter()
            .partition(|w| w.stage == Stage::Presence { asked: true });
        self.waiters = rest;
        match present {
            Ok(true) => {
                for mut waiter in asked {
                    let read = waiter.refresh || self.stale || self.view.is_none();
                    waiter.stage = Stage::View {
                        after: read.then_some(self.reads_begun),
                    };
                    self.waiters.push(waiter);
                }
            }
            Ok(false) => {
                // It is stopping, or starting and not on the bus yet (1.52 sends an event
                // then): nothing can be read now, and the daemon reconciles as soon as its
                // name is back, so an event is done, not failed.
                self.view = None;
                self.outbox.push_back(Action::NoteNmAbsent);
                for waiter in asked {
                    let result = match waiter.goal {
                        Goal::Reconcile(Purpose::Hook(_) | Purpose::Observed(_)) => Ok(()),
                        _ => Err(Error::nm("NetworkManager is not on the bus")),
                    };
                    self.finish(now, waiter.goal, result);
                }
            }
            Err(e) => {
                for waiter in asked {
                    self.finish(now, waiter.goal, Err(e.clone()));
                }
            }
        }
    }

    fn on_read(&mut self, now: Instant, began: Instant, result: Result<(NmView, NmConf), Error>) {
        self.reading = false;
        self.reads_done = self.reads_begun;
        match result {
            Ok((view, conf)) => {
                // The read saw every activation signalled before it began: their provisional
                // devices are done (one kept longer would come back once its device left the
                // view, while its addresses are being removed).
                self.provisional.retain(|(since, _)| *since > began);
                self.read_since = Some(began);
                self.view = Some(view);
                self.nm_conf = conf;
            }
            Err(e) => {
                self.view = None;
                let e = e.context("reading NetworkManager");
                for mut waiter in std::mem::take(&mut self.waiters) {
                    match waiter.stage {
                        Stage::View { .. } if is_hook(&waiter) && !waiter.retried => {
                            waiter.retried = true;
                            waiter.stage = Stage::Presence { asked: false };
                            self.waiters.push(waiter);
                        }
                        Stage::View { .. } => self.finish(now, waiter.goal, Err(e.clone())),
                        Stage::Presence { .. } => self.waiters.push(waiter),
                    }
                }
            }
        }
    }

    /// Reconcile at once with the view in hand (an address came or went, an activation was
    /// signalled): NetworkManager's own support adds its endpoint in the same commit as the
    /// address. One such reconciliation queued is enough: it moves behind what came since.
    fn reconcile_at_once(&mut self, now: Instant) {
        if !self.plannable(Scope::AtOnce, now) {
            return;
        }
        let order = Action::Reconcile(Reconciliation {
            purpose: Purpose::Observed(Cause::AddressChange),
            scope: Scope::AtOnce,
            going_down: None,
            backing: Backing::Signals,
        });
        self.outbox.retain(|queued| *queued != order);
        self.outbox.push_back(order);
    }

    /// An activation's devices become provisional, unless a completed read already saw it;
    /// NetworkManager's configuration files are read again first (an activation uses them as
    /// NetworkManager last loaded them, perhaps on an `nmcli general reload` no signal
    /// announces).
    fn absorb_activation(&mut self, now: Instant, noticed: Instant, devices: Vec<NmDevice>) {
        if devices.is_empty() || self.read_since.is_some_and(|read| noticed <= read) {
            return;
        }
        self.provisional
            .extend(devices.into_iter().map(|d| (noticed, d)));
        self.outbox.push_back(Action::ReloadNmConf);
        self.reconcile_at_once(now);
    }

    fn advance_follows(&mut self) {
        if self.following {
            return;
        }
        let Some(next) = self.follows.pop_front() else {
            return;
        };
        self.following = true;
        self.outbox.push_back(match next {
            Follow::Change(change) => Action::FollowPrefetch(change),
            Follow::Activation(noticed, activation) => Action::ResolveActivation {
                noticed,
                activation,
            },
        });
    }

    /// Settle the host for something the daemon noticed: one such waiter not yet asking the
    /// bus covers every cause until it does.
    fn observe(&mut self, cause: Cause) {
        let queued = self.waiters.iter().any(|w| {
            matches!(w.goal, Goal::Reconcile(Purpose::Observed(_)))
                && w.stage == Stage::Presence { asked: false }
        });
        if !queued {
            self.waiters.push(Waiter {
                goal: Goal::Reconcile(Purpose::Observed(cause)),
                going_down: None,
                backing: Backing::Signals,
                refresh: false,
                stage: Stage::Presence { asked: false },
                retried: false,
            });
        }
    }

    fn advance_waiters(&mut self, now: Instant) {
        if !self.presence_asked {
            let mut ask = false;
            for waiter in &mut self.waiters {
                if waiter.stage == (Stage::Presence { asked: false }) {
                    waiter.stage = Stage::Presence { asked: true };
                    ask = true;
                }
            }
            if ask {
                self.presence_asked = true;
                self.outbox.push_back(Action::CheckPresence);
            }
        }
        let (has_view, reads_done) = (self.view.is_some(), self.reads_done);
        let (ready, waiting): (Vec<Waiter>, Vec<Waiter>) = std::mem::take(&mut self.waiters)
            .into_iter()
            .partition(|w| match w.stage {
                Stage::View { after } => has_view && after.is_none_or(|n| reads_done > n),
                Stage::Presence { .. } => false,
            });
        self.waiters = waiting;
        let read_wanted = self
            .waiters
            .iter()
            .any(|w| matches!(w.stage, Stage::View { .. }));
        for waiter in ready {
            self.dispatch(now, waiter);
        }
        if read_wanted && !self.reading {
            // Cleared first: a signal during the read makes the view stale again.
            self.stale = false;
            self.reading = true;
            self.reads_begun += 1;
            self.outbox.push_back(Action::ReadNm { began: now });
        }
    }

    /// The view is there: carry out what the waiter waited for.
    fn dispatch(&mut self, now: Instant, waiter: Waiter) {
        let Goal::Reconcile(purpose) = waiter.goal else {
            self.refreshing = true;
            self.outbox.push_back(Action::Refresh);
            return;
        };
        if !self.plannable(Scope::Held, now) {
            // NetworkManager is starting: nothing to plan with yet.
            self.complete(purpose, Ok(()));
            return;
        }
        self.outbox.push_back(Action::Reconcile(Reconciliation {
            purpose,
            scope: Scope::Held,
            going_down: waiter.going_down,
            backing: waiter.backing,
        }));
    }

    fn finish(&mut self, now: Instant, goal: Goal, result: Result<(), Error>) {
        match goal {
            Goal::Reconcile(purpose) => self.complete(purpose, result),
            Goal::Refresh => {
                // A failed refresh is spaced like one that worked.
                self.refresh_not_before = Some(now + CALL_GAP);
                let calls = std::mem::take(&mut self.calls);
                self.outbox.push_back(Action::AnswerCalls(calls, result));
            }
        }
    }

    /// A reconciliation is done (or will not happen): answer whoever waits for it.
    fn complete(&mut self, purpose: Purpose, result: Result<(), Error>) {
        match purpose {
            Purpose::Hook(id) => self.outbox.push_back(Action::ReplyHook(id, result)),
            Purpose::Call(id) => self.outbox.push_back(Action::AnswerReconcile(id, result)),
            Purpose::Observed(cause) => {
                if let Err(error) = result {
                    self.outbox.push_back(Action::LogFailure { cause, error });
                }
                if !self.ready {
                    // Callers that activated the daemon waited for this status.
                    self.ready = true;
                    self.publish_due = None;
                    self.outbox
                        .push_back(Action::Publish(self.modified.clone()));
                    self.outbox.push_back(Action::Ready);
                }
            }
        }
    }

    fn publish_soon(&mut self, now: Instant) {
        let latest = self
            .publish_due
            .map_or(now + PUBLISH_LATEST, |(_, latest)| latest);
        self.publish_due = Some((now + PUBLISH_QUIET, latest));
    }

    fn on_tick(&mut self, now: Instant) {
        if let Some((quiet, latest)) = self.publish_due {
            if now >= quiet.min(latest) {
                self.publish_due = None;
                self.outbox
                    .push_back(Action::Publish(self.modified.clone()));
                // Events paused: what is applied may have changed (an up, a reapply), so the
                // saved and applied profiles are compared again, off the events' path.
                self.compare_due = true;
            }
        }
        if let (Some(due), Some(interval)) = (self.next_drift_check, self.check_interval) {
            if now >= due {
                self.next_drift_check = Some(now + interval);
                // A dry run against the view in hand; a stale one is being settled anyway.
                if self.view.is_some() && !self.stale && self.waiters.is_empty() {
                    self.outbox.push_back(Action::CheckDrift);
                }
            }
        }
        self.schedule_refresh(now);
        self.sample(now);
    }

    /// Read and publish the connections and counters (a publication reads them) while a
    /// client watches or a metrics file is kept; nothing otherwise.
    fn sample(&mut self, now: Instant) {
        let watched = self.watched_until.is_some_and(|until| now < until);
        let every = if watched {
            Some(WATCHED_EVERY)
        } else {
            self.watched_until = None;
            self.metrics_every
        };
        let Some(every) = every else {
            self.next_sample = None;
            return;
        };
        match self.next_sample {
            Some(at) if now >= at => {
                // Before the first status there is nothing to publish yet; it comes anyway.
                if self.ready && self.publish_due.is_none() {
                    self.outbox
                        .push_back(Action::Publish(self.modified.clone()));
                }
                self.next_sample = Some(now + every);
            }
            Some(at) if at > now + every => self.next_sample = Some(now + every),
            Some(_) => {}
            None => self.next_sample = Some(now + every),
        }
    }

    /// Keep the modified profiles for the status, and with `apply_on_modify` reapply each one
    /// whose saved side changed (`Settings.Connection.Updated`) since it was applied (its
    /// activation, or nm-mptcp's reapply), in `connection.mptcp-flags` alone. A change of the
    /// applied side alone (`nmcli device modify`) sends no `Updated`: it stays.
    fn on_compared(
        &mut self,
        now: Instant,
        result: Result<Vec<ComparedProfile>, Error>,
        apply_on_modify: bool,
    ) {
        self.compare_running = false;
        let compared = match result {
            Ok(compared) => compared,
            Err(error) => {
                self.outbox.push_back(Action::LogCompareFailure(error));
                return;
            }
        };
        let modified: Vec<ModifiedProfile> = compared
            .iter()
            .filter(|p| p.modified())
            .map(|p| p.profile.clone())
            .collect();
        if modified != self.modified {
            self.modified = modified;
            self.publish_soon(now);
        }
        for p in compared {
            let m = &p.profile;
            if !m.flags_modified() {
                self.in_sync_flags
                    .insert(p.saved_path.clone(), m.saved_flags);
                // What is saved is applied, as of when the comparison began: an `Updated`
                // before then is done with.
                if let Some(began) = self.compare_began {
                    let applied = self.applied_at.entry(p.saved_path.clone()).or_insert(began);
                    *applied = (*applied).max(began);
                }
                continue;
            }
            let saved_changed_since_applied =
                self.saved_updated
                    .get(&p.saved_path)
                    .is_some_and(|updated| {
                        self.applied_at
                            .get(&p.saved_path)
                            .is_none_or(|applied| updated > applied)
                    });
            let saved_flags_changed = self
                .in_sync_flags
                .get(&p.saved_path)
                .is_none_or(|flags| *flags != m.saved_flags);
            if !apply_on_modify || !saved_changed_since_applied || !saved_flags_changed {
                continue;
            }
            if m.only_flags_modified() {
                self.applied_at.insert(p.saved_path.clone(), now);
                self.outbox.push_back(Action::Reapply(p));
            } else {
                let key = (m.profile.uuid.clone(), m.interface.clone(), m.saved_flags);
                if self.left_to_user.insert(key) {
                    self.outbox.push_back(Action::LeaveToUser(m.clone()));
                }
            }
        }
    }
}

fn is_hook(waiter: &Waiter) -> bool {
    matches!(waiter.goal, Goal::Reconcile(Purpose::Hook(_)))
}
