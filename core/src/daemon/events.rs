//! What comes into the daemon's held state: the outside, already parsed by the adapters.

use std::time::Instant;

use crate::error::Error;
use crate::modified::ComparedProfile;
use crate::nm_conf::NmConf;
use crate::nm_view::{NmDevice, NmView};

/// A hook's request, numbered by the shell, which keeps the socket to answer on.
pub type HookId = u64;
/// A D-Bus call, numbered by the shell, which keeps the reply to send.
pub type CallId = u64;

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The daemon started: read NetworkManager, reconcile, publish.
    Started,
    /// The kernel added or removed an address (a burst, drained).
    AddressChanged,
    /// A signal of NetworkManager's.
    Signal(NmSignal),
    /// NetworkManager left the bus or came back (`NameOwnerChanged`).
    NmOwnerChanged,
    /// A dispatcher event handed over by the hook.
    Hook(HookRequest),
    /// A D-Bus call.
    Call(CallId, Call),
    /// `Action::CheckPresence` answered: whether NetworkManager is on the bus. The bus answers
    /// after routing every signal queued before, so the shell feeds those first.
    PresenceChecked(Result<bool, Error>),
    /// `Action::ReadNm` done, with when it began.
    NmRead {
        began: Instant,
        result: Result<(NmView, NmConf), Error>,
    },
    /// `Action::ReloadNmConf` done.
    NmConfReloaded(NmConf),
    /// `Action::FollowPrefetch` done (failures are the adapter's to log: the next whole
    /// read corrects the view either way).
    PrefetchFollowed,
    /// `Action::ResolveActivation` done: the devices the activation's saved profile makes.
    ActivationResolved {
        noticed: Instant,
        devices: Vec<NmDevice>,
    },
    /// `Action::Reconcile` done.
    Reconciled {
        purpose: Purpose,
        result: Result<(), Error>,
    },
    /// `Action::CheckDrift` done: whether endpoints or limits of nm-mptcp's went missing
    /// without an event, and whether `[profiles] apply_on_modify` is on now.
    DriftChecked {
        drifted: bool,
        apply_on_modify: bool,
    },
    /// `Action::CompareProfiles` done: every active profile on each device, and whether
    /// `[profiles] apply_on_modify` is on.
    ProfilesCompared {
        result: Result<Vec<ComparedProfile>, Error>,
        apply_on_modify: bool,
    },
    /// `Action::Refresh` done: the status and plan answers are cached in the shell.
    Refreshed(Result<(), Error>),
    /// A D-Bus client asked to watch the connections and counters (`Watch`), for
    /// `WATCH_LEASE` from now.
    Watch,
    /// Time passed (`DaemonState::next_deadline`).
    Tick,
}

/// A dispatcher event as the daemon acts on it (ignored actions never reach it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookRequest {
    pub id: HookId,
    /// `pre-down`/`down`: the interface whose endpoints go.
    pub going_down: Option<String>,
    /// A reapply or a lease change: NetworkManager is read again even without a signal (a
    /// flags-only reapply sends none).
    pub refresh: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// `Describe`: `status --json`.
    Describe,
    /// `Plan`: `plan --json`.
    Plan,
    /// `Reconcile` (root only; the adapter checked).
    Reconcile,
}

/// NetworkManager's signals, each as the daemon reads it. Object paths are strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NmSignal {
    /// An active connection appeared (`ObjectManager.InterfacesAdded`).
    ActivationAdded(Activation),
    /// Another object came or went (`InterfacesAdded` of other objects, `InterfacesRemoved`).
    ObjectsChanged,
    DeviceAdded(String),
    DeviceRemoved(String),
    /// `Settings.NewConnection`.
    ProfileAdded(String),
    /// `Settings.ConnectionRemoved`.
    ProfileRemoved(String),
    /// `Settings.Connection.Updated`: a saved profile changed (a modify).
    ProfileUpdated(String),
    /// A state or a property that planning reads changed (devices, active connections,
    /// DHCP and IPv6 configurations, NetworkManager's own).
    PlanningInputChanged,
}

/// An active connection as its `InterfacesAdded` signal describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Activation {
    /// The saved profile it activates.
    pub profile: String,
    pub devices: Vec<String>,
    pub vpn: bool,
    /// `NM_ACTIVATION_STATE_FLAG_EXTERNAL`: NetworkManager only watches the device.
    pub external: bool,
}

/// Why a reconciliation runs: who waits for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Hook(HookId),
    Call(CallId),
    /// The daemon noticed something itself.
    Observed(Cause),
}

/// What the daemon noticed (the `action` of the log's event span).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    Start,
    NetworkManager,
    NetworkManagerRestart,
    AddressChange,
    Repair,
}

impl Cause {
    pub fn name(self) -> &'static str {
        match self {
            Cause::Start => "start",
            Cause::NetworkManager => "networkmanager",
            Cause::NetworkManagerRestart => "networkmanager-restart",
            Cause::AddressChange => "address-change",
            Cause::Repair => "repair",
        }
    }
}
