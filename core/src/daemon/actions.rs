//! What the daemon's held state asks the shell to do. Each says what, never how: the shell
//! carries it out and, where the action says so, feeds its result back as an `Event`.

use std::time::Instant;

use crate::changes::Backing;
use crate::error::Error;
use crate::modified::{ComparedProfile, ModifiedProfile};

use super::events::{Activation, CallId, Cause, HookId, Purpose};

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Ask the bus whether NetworkManager is on it (in the background):
    /// `Event::PresenceChecked`.
    CheckPresence,
    /// Read NetworkManager whole, and its configuration files where its process reads them
    /// (in the background): `Event::NmRead` with `began`.
    ReadNm { began: Instant },
    /// Read NetworkManager's configuration files again, where the last read found them:
    /// `Event::NmConfReloaded`, before the next action.
    ReloadNmConf,
    /// Keep the prefetch of devices and saved profiles current (reads in the background):
    /// `Event::PrefetchFollowed`.
    FollowPrefetch(PrefetchChange),
    /// Build an activation's devices from the prefetch: `Event::ActivationResolved`, before
    /// the next action.
    ResolveActivation {
        noticed: Instant,
        activation: Activation,
    },
    /// Reconcile the host against `DaemonState::planning_view(scope)`: `Event::Reconciled`.
    Reconcile(Reconciliation),
    /// Answer a hook.
    ReplyHook(HookId, Result<(), Error>),
    /// Answer `Describe` or `Plan` from the cache (`Ok`) or with an error.
    AnswerCalls(Vec<CallId>, Result<(), Error>),
    /// Answer `Reconcile`.
    AnswerReconcile(CallId, Result<(), Error>),
    /// A dry run against `planning_view(Scope::Held)`, published and cached for the calls:
    /// `Event::Refreshed`.
    Refresh,
    /// Publish the last reconciliation's status on D-Bus, with these modified profiles.
    Publish(Vec<ModifiedProfile>),
    /// Own the bus name (at start, before anything else): a daemon already serving it makes
    /// this one stop.
    ClaimName,
    /// The first status is published: say the daemon is ready.
    Ready,
    /// A dry run against `planning_view(Scope::Held)`: `Event::DriftChecked`.
    CheckDrift,
    /// Compare active profiles' saved and applied settings (in the background):
    /// `Event::ProfilesCompared`.
    CompareProfiles,
    /// Reapply a profile whose saved `connection.mptcp-flags` changed (apply_on_modify).
    Reapply(ComparedProfile),
    /// A modify that changed more than the flags, left to the user: logged once.
    LeaveToUser(ModifiedProfile),
    /// NetworkManager is not on the bus: nothing to follow until it is back.
    NoteNmAbsent,
    /// Something the daemon noticed could not be settled (logged; the next event tries again).
    LogFailure { cause: Cause, error: Error },
    /// The saved and applied profiles could not be compared (logged).
    LogCompareFailure(Error),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reconciliation {
    pub purpose: Purpose,
    pub scope: Scope,
    pub going_down: Option<String>,
    pub backing: Backing,
}

/// Which devices a reconciliation plans with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The view as read, with the provisional devices of activations since.
    Held,
    /// An address change or an activation, acted on at once: as `Held`, unless a signal made
    /// the view stale; then the provisional devices alone (a stale view may hold a device
    /// being torn down, whose last addresses would get their endpoints back).
    AtOnce,
}

/// A change of NetworkManager's devices or saved profiles, for the prefetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrefetchChange {
    ReadDevice(String),
    ForgetDevice(String),
    ReadProfile(String),
    ForgetProfile(String),
}
