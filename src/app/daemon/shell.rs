//! Carrying out the held state's actions: each is one call to an adapter, done here at once
//! or on a task of its own whose result comes back to the loop as `Finished`. Nothing here
//! decides; results go back into the held state as events.

use std::time::Instant;

use futures_util::{FutureExt, StreamExt};
use nm_mptcp_core::daemon::{Action, DaemonState, Event, PrefetchChange, Purpose, Reconciliation};
use nm_mptcp_core::error::Error;
use nm_mptcp_core::modified::ComparedProfile;
use nm_mptcp_core::nm_conf::NmConf;
use nm_mptcp_core::nm_view::NmView;
use tokio::sync::mpsc;
use tracing::Instrument;

use super::hook_socket::Hooks;
use super::publish::Publisher;
use super::{drift, modifies};
use crate::adapters::control;
use crate::adapters::dbus_service;
use crate::adapters::kernel::netlink::NetlinkKernel;
use crate::adapters::nm::{self, Detail, Fetched, Prefetch};
use crate::adapters::nm_conf_files::{self, ConfPaths};
use crate::app::context::Context;
use crate::app::reconcile::{self, NmSource, NM_TIMEOUT};
use crate::app::{event_span, verdict};

/// The bus daemon answers at once; NetworkManager's reads have `NM_TIMEOUT`.
const PRESENCE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// What a task of the shell's brings back to the loop.
pub(super) enum Finished {
    Presence(Result<bool, Error>),
    Read {
        began: Instant,
        result: Result<(NmView, ConfPaths, NmConf), Error>,
    },
    Prefetch(Result<Fetched, Error>),
    Compared {
        result: Result<Vec<ComparedProfile>, Error>,
        apply_on_modify: bool,
    },
}

pub(super) struct Shell {
    pub context: Context,
    pub bus: zbus::Connection,
    /// Netlink sockets held for the daemon's lifetime.
    pub kernel: NetlinkKernel,
    /// NetworkManager's devices and saved profiles, for activations to be known at once.
    pub prefetch: Prefetch,
    /// Where NetworkManager reads its configuration, as of the last read of it (in the moment
    /// after a restart the process of the view is gone).
    pub conf_paths: ConfPaths,
    pub hooks: Hooks,
    pub publisher: Publisher,
    /// Where the tasks' results go.
    pub finished: mpsc::UnboundedSender<Finished>,
}

impl Shell {
    /// Hand events to the held state, then carry out every action it asks for.
    pub(super) async fn feed(
        &mut self,
        state: &mut DaemonState,
        events: impl IntoIterator<Item = Event>,
    ) -> Result<(), Error> {
        let now = Instant::now();
        for event in events {
            state.handle(now, event);
        }
        while let Some(action) = state.next_action() {
            self.carry_out(state, action).await?;
        }
        Ok(())
    }

    /// A task's result, as the event it is (the prefetch and the configuration paths are
    /// kept here first).
    pub(super) fn finished(&mut self, finished: Finished) -> Event {
        match finished {
            Finished::Presence(present) => Event::PresenceChecked(present),
            Finished::Read { began, result } => Event::NmRead {
                began,
                result: result.map(|(view, paths, conf)| {
                    self.conf_paths = paths;
                    (view, conf)
                }),
            },
            Finished::Prefetch(fetched) => {
                match fetched {
                    Ok(fetched) => self.prefetch.apply(fetched),
                    Err(e) => {
                        tracing::debug!(error = %e, "cannot follow a change of NetworkManager's")
                    }
                }
                Event::PrefetchFollowed
            }
            Finished::Compared {
                result,
                apply_on_modify,
            } => Event::ProfilesCompared {
                result,
                apply_on_modify,
            },
        }
    }

    /// The signals already queued, as events.
    pub(super) fn queued_signals(signals: &mut zbus::MessageStream) -> Vec<Event> {
        let mut events = Vec::new();
        while let Some(Some(message)) = signals.next().now_or_never() {
            events.extend(
                message
                    .ok()
                    .as_ref()
                    .and_then(nm::parse_signal)
                    .map(Event::Signal),
            );
        }
        events
    }

    async fn carry_out(&mut self, state: &mut DaemonState, action: Action) -> Result<(), Error> {
        match action {
            Action::CheckPresence => self.spawn(|bus| async move {
                Finished::Presence(nm::within(PRESENCE_TIMEOUT, nm::present(&bus)).await)
            }),
            Action::ReadNm { began } => self.spawn(move |bus| async move {
                // Everything status shows (external activations too): the D-Bus interface
                // publishes what `nm-mptcp status` prints.
                let result = nm::within(NM_TIMEOUT, nm::read_with(&bus, Detail::Full))
                    .await
                    .map(|view| {
                        let paths = ConfPaths::of_process(view.pid);
                        let conf = nm_conf_files::read(&paths);
                        (view, paths, conf)
                    });
                Finished::Read { began, result }
            }),
            Action::ReloadNmConf => {
                let conf = nm_conf_files::read(&self.conf_paths);
                state.handle(Instant::now(), Event::NmConfReloaded(conf));
            }
            Action::FollowPrefetch(change) => self.follow(change),
            Action::ResolveActivation {
                noticed,
                activation,
            } => {
                let devices = self.prefetch.devices_of(&activation);
                state.handle(
                    Instant::now(),
                    Event::ActivationResolved { noticed, devices },
                );
            }
            Action::Reconcile(order) => {
                let result = self.reconcile(state, &order).await;
                let purpose = order.purpose;
                state.handle(Instant::now(), Event::Reconciled { purpose, result });
            }
            Action::ReplyHook(id, result) => self.hooks.reply(id, result),
            Action::AnswerCalls(ids, result) => self.publisher.answer(ids, result),
            Action::AnswerReconcile(id, result) => self.publisher.answer_reconcile(id, result),
            Action::Refresh => {
                let result =
                    match state.planning_view(nm_mptcp_core::daemon::Scope::Held, Instant::now()) {
                        Some(view) => {
                            let (conf, modified) = (state.nm_conf(), state.modified());
                            self.publisher
                                .refresh(&mut self.kernel, &view, conf, modified)
                                .await
                        }
                        None => Err(Error::nm("NetworkManager has not been read")),
                    };
                state.handle(Instant::now(), Event::Refreshed(result));
            }
            Action::Publish(modified) => {
                self.publisher.republish(&mut self.kernel, &modified).await
            }
            Action::ClaimName => {
                if self.publisher.serving() {
                    match dbus_service::claim_name(&self.bus).await {
                        Ok(()) => {
                            tracing::info!(name = dbus_service::NAME, "serving on the system bus")
                        }
                        Err(e) if e.kind == nm_mptcp_core::error::ErrorKind::Busy => return Err(e),
                        Err(e) => tracing::warn!(error = %e, "serving without the D-Bus interface"),
                    }
                }
            }
            Action::Ready => {
                let socket = control::socket_path(&self.context.run_dir);
                tracing::info!(socket = %socket.display(), "daemon ready");
            }
            Action::CheckDrift => {
                let now = Instant::now();
                let drifted = match state.planning_view(nm_mptcp_core::daemon::Scope::Held, now) {
                    Some(view) => {
                        drift::drifted(&self.context, &mut self.kernel, &view, state.nm_conf())
                            .await
                    }
                    None => false,
                };
                let apply_on_modify = self.context.config().is_ok_and(|c| c.apply_on_modify);
                let checked = Event::DriftChecked {
                    drifted,
                    apply_on_modify,
                };
                state.handle(Instant::now(), checked);
            }
            Action::CompareProfiles => modifies::compare(&self.context, &self.bus, &self.finished),
            Action::Reapply(pending) => modifies::reapply(&self.bus, pending),
            Action::LeaveToUser(modified) => modifies::left_to_user(&modified),
            Action::NoteNmAbsent => {
                tracing::info!("NetworkManager is not on the bus; reconciling when it is back");
            }
            Action::LogFailure { cause, error } => {
                tracing::warn!(cause = cause.name(), error = %error, "reconciling failed");
            }
            Action::LogCompareFailure(error) => {
                tracing::warn!(error = %error, "cannot compare saved and applied profiles");
            }
        }
        Ok(())
    }

    fn spawn<F>(&self, task: impl FnOnce(zbus::Connection) -> F)
    where
        F: std::future::Future<Output = Finished> + Send + 'static,
    {
        let finished = self.finished.clone();
        let work = task(self.bus.clone());
        tokio::spawn(async move {
            let _ = finished.send(work.await);
        });
    }

    fn follow(&self, change: PrefetchChange) {
        self.spawn(move |bus| async move {
            Finished::Prefetch(nm::within(NM_TIMEOUT, Prefetch::fetch(&bus, change)).await)
        });
    }

    /// Reconcile against the view the held state gives, in the span of what asked for it.
    async fn reconcile(
        &mut self,
        state: &DaemonState,
        order: &Reconciliation,
    ) -> Result<(), Error> {
        let span = match order.purpose {
            Purpose::Hook(id) => self.hooks.span(id),
            Purpose::Call(_) => event_span("none", "dbus-reconcile"),
            Purpose::Observed(cause) => event_span("none", cause.name()),
        };
        let Some(view) = state.planning_view(order.scope, Instant::now()) else {
            return Ok(());
        };
        let source = NmSource::Held(&view, state.nm_conf());
        let going_down = order.going_down.as_deref();
        let applied = reconcile::apply(
            &self.context,
            &mut self.kernel,
            going_down,
            source,
            order.backing,
        )
        .instrument(span.clone())
        .await;
        if reconcile::kernel_failed(&applied) {
            self.kernel.reconnect();
        }
        let outcome = applied?;
        let _entered = span.enter();
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
        self.publisher.reconciled(outcome.plan);
        verdict
    }
}
