//! The daemon's races, each a sequence of events replayed against the held state, and a
//! property test over random interleavings.

use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;
use crate::changes::Backing;
use crate::error::Error;
use crate::model::{KernelAddress, ProfileRef};
use crate::modified::{ComparedProfile, ModifiedProfile, MPTCP_FLAGS_KEY};
use crate::nm_conf::NmConf;
use crate::nm_view::{Method, NmDevice, NmFamily, NmView};
use crate::planner::{plan, Plan};
use crate::snapshot::{assemble, HostFacts};

fn device(interface: &str, address: &str) -> NmDevice {
    NmDevice {
        interface: interface.into(),
        matched_as: Default::default(),
        profile: ProfileRef {
            id: format!("p-{interface}"),
            uuid: format!("u-{interface}"),
        },
        mptcp_flags: 0x20,
        external: false,
        port: false,
        activating: false,
        metered: false,
        ipv4: NmFamily {
            method: Method::Manual,
            static_addresses: vec![address.parse().unwrap()],
            ..NmFamily::default()
        },
        ipv6: NmFamily::disabled(),
    }
}

fn provisional(interface: &str, address: &str) -> NmDevice {
    NmDevice {
        activating: true,
        metered: false,
        ..device(interface, address)
    }
}

fn view(devices: Vec<NmDevice>) -> NmView {
    NmView {
        devices,
        ..NmView::default()
    }
}

fn interfaces(view: &NmView) -> Vec<&str> {
    view.devices.iter().map(|d| d.interface.as_str()).collect()
}

fn activation(profile: &str) -> NmSignal {
    NmSignal::ActivationAdded(Activation {
        profile: profile.into(),
        devices: vec!["/dev/1".into()],
        vpn: false,
        external: false,
    })
}

/// The held state with a clock, collecting the actions it asks for.
struct Daemon {
    state: DaemonState,
    start: Instant,
    now: Instant,
}

impl Daemon {
    fn new() -> Daemon {
        let now = Instant::now();
        Daemon {
            state: DaemonState::new(Some(Duration::from_secs(5)), None),
            start: now,
            now,
        }
    }

    /// Started, NetworkManager present and read as `devices`, reconciled and published.
    fn settled(devices: Vec<NmDevice>) -> Daemon {
        let mut d = Daemon::new();
        d.feed(Event::Started);
        d.feed(Event::PresenceChecked(Ok(true)));
        d.read_done(d.now, view(devices));
        d.feed(Event::Reconciled {
            purpose: Purpose::Observed(Cause::Start),
            result: Ok(()),
        });
        d.advance(100);
        d.feed(Event::Tick);
        d.feed(Event::ProfilesCompared {
            result: Ok(Vec::new()),
            apply_on_modify: false,
        });
        d
    }

    fn feed(&mut self, event: Event) -> Vec<Action> {
        self.state.handle(self.now, event);
        std::iter::from_fn(|| self.state.next_action()).collect()
    }

    fn read_done(&mut self, began: Instant, view: NmView) -> Vec<Action> {
        self.feed(Event::NmRead {
            began,
            result: Ok((view, NmConf::default())),
        })
    }

    fn advance(&mut self, ms: u64) {
        self.now += Duration::from_millis(ms);
    }

    fn at(&self, ms: u64) -> Instant {
        self.start + Duration::from_millis(ms)
    }

    fn planned(&self, scope: Scope) -> Option<Vec<String>> {
        self.state
            .planning_view(scope, self.now)
            .map(|v| interfaces(&v).iter().map(|s| s.to_string()).collect())
    }
}

fn at_once() -> Action {
    Action::Reconcile(Reconciliation {
        purpose: Purpose::Observed(Cause::AddressChange),
        scope: Scope::AtOnce,
        going_down: None,
        backing: Backing::Signals,
    })
}

fn reads(actions: &[Action]) -> usize {
    actions
        .iter()
        .filter(|a| matches!(a, Action::ReadNm { .. }))
        .count()
}

#[test]
fn the_daemon_starts_by_reading_then_reconciles_publishes_and_claims_its_name() {
    let mut d = Daemon::new();
    assert_eq!(
        d.feed(Event::Started),
        vec![
            Action::ClaimName,
            Action::CheckPresence,
            Action::CompareProfiles
        ]
    );
    assert_eq!(
        d.feed(Event::PresenceChecked(Ok(true))),
        vec![Action::ReadNm { began: d.now }]
    );
    let reconcile = Action::Reconcile(Reconciliation {
        purpose: Purpose::Observed(Cause::Start),
        scope: Scope::Held,
        going_down: None,
        backing: Backing::Signals,
    });
    assert_eq!(
        d.read_done(d.now, view(vec![device("e0", "192.0.2.2")])),
        vec![reconcile]
    );
    assert_eq!(
        d.feed(Event::Reconciled {
            purpose: Purpose::Observed(Cause::Start),
            result: Ok(()),
        }),
        vec![Action::Publish(Vec::new()), Action::Ready]
    );
}

#[test]
fn an_address_is_acted_on_at_once_with_the_view_in_hand() {
    let mut d = Daemon::settled(vec![device("e0", "192.0.2.2")]);
    assert_eq!(d.feed(Event::AddressChanged), vec![at_once()]);
    assert_eq!(d.planned(Scope::AtOnce).unwrap(), ["e0"]);
}

#[test]
fn an_address_during_a_read_does_not_wait_for_it() {
    let mut d = Daemon::settled(vec![device("e0", "192.0.2.2")]);
    d.feed(Event::Signal(NmSignal::PlanningInputChanged));
    let read = d.feed(Event::PresenceChecked(Ok(true)));
    assert_eq!(reads(&read), 1);
    d.advance(2);
    // The read is under way (and cleared the staleness): the address is acted on now, and
    // no second read starts.
    let actions = d.feed(Event::AddressChanged);
    assert_eq!(actions, vec![at_once()]);
}

#[test]
fn a_stale_view_never_gives_a_device_being_torn_down_its_endpoints_back() {
    let mut d = Daemon::settled(vec![device("e0", "192.0.2.2")]);
    // e0 deactivates: its state changes, then its address goes.
    d.feed(Event::Signal(NmSignal::PlanningInputChanged));
    let actions = d.feed(Event::AddressChanged);
    assert!(
        !actions.iter().any(|a| matches!(a, Action::Reconcile(_))),
        "{actions:?}"
    );
    assert_eq!(d.planned(Scope::AtOnce), None);
    // The read that follows settles it.
    assert_eq!(d.planned(Scope::Held).unwrap(), ["e0"]);
}

#[test]
fn an_activation_signalled_after_its_address_gets_its_endpoint_at_once() {
    let mut d = Daemon::settled(vec![device("e0", "192.0.2.2")]);
    // The address first: e1 is not known yet.
    assert_eq!(d.feed(Event::AddressChanged), vec![at_once()]);
    let actions = d.feed(Event::Signal(activation("/s/1")));
    assert!(actions.contains(&Action::ResolveActivation {
        noticed: d.now,
        activation: Activation {
            profile: "/s/1".into(),
            devices: vec!["/dev/1".into()],
            vpn: false,
            external: false,
        },
    }));
    let actions = d.feed(Event::ActivationResolved {
        noticed: d.now,
        devices: vec![provisional("e1", "198.51.100.2")],
    });
    // NetworkManager.conf first (an `nmcli general reload` sends no signal), then the
    // endpoint, with the provisional device alone (the activation made the view stale).
    assert_eq!(actions, vec![Action::ReloadNmConf, at_once()]);
    assert_eq!(d.planned(Scope::AtOnce).unwrap(), ["e1"]);
}

#[test]
fn the_first_endpoint_after_a_reload_uses_the_configuration_reloaded() {
    let mut d = Daemon::settled(Vec::new());
    d.feed(Event::Signal(activation("/s/1")));
    let actions = d.feed(Event::ActivationResolved {
        noticed: d.now,
        devices: vec![provisional("e1", "198.51.100.2")],
    });
    let reload = actions.iter().position(|a| *a == Action::ReloadNmConf);
    let reconcile = actions
        .iter()
        .position(|a| matches!(a, Action::Reconcile(_)));
    assert!(reload.unwrap() < reconcile.unwrap(), "{actions:?}");
}

#[test]
fn an_address_and_its_activation_queued_together_reconcile_once() {
    let mut d = Daemon::settled(Vec::new());
    // The loop hands over the signals queued behind the address, then the address.
    d.state.handle(d.now, Event::Signal(activation("/s/1")));
    d.state.handle(d.now, Event::AddressChanged);
    let first: Vec<Action> = std::iter::from_fn(|| d.state.next_action()).collect();
    assert!(
        matches!(first[0], Action::ResolveActivation { .. }),
        "{first:?}"
    );
    let then = d.feed(Event::ActivationResolved {
        noticed: d.now,
        devices: vec![provisional("e1", "198.51.100.2")],
    });
    assert_eq!(then, vec![Action::ReloadNmConf, at_once()]);
    assert!(!first.contains(&at_once()), "{first:?}");
}

#[test]
fn an_activation_waits_for_the_profile_signalled_before_it() {
    let mut d = Daemon::settled(Vec::new());
    let actions = d.feed(Event::Signal(NmSignal::ProfileAdded("/s/1".into())));
    assert_eq!(
        actions,
        vec![Action::FollowPrefetch(PrefetchChange::ReadProfile(
            "/s/1".into()
        ))]
    );
    let actions = d.feed(Event::Signal(activation("/s/1")));
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::ResolveActivation { .. })),
        "resolved before its profile was read: {actions:?}"
    );
    let actions = d.feed(Event::PrefetchFollowed);
    assert!(matches!(actions[..], [Action::ResolveActivation { .. }]));
}

#[test]
fn an_activation_during_a_read_stays_provisional_after_it() {
    let mut d = Daemon::settled(Vec::new());
    d.feed(Event::Signal(NmSignal::PlanningInputChanged));
    d.feed(Event::PresenceChecked(Ok(true)));
    let began = d.now;
    d.advance(3);
    // Drained while the read is under way.
    d.feed(Event::Signal(activation("/s/1")));
    d.feed(Event::ActivationResolved {
        noticed: d.now,
        devices: vec![provisional("e1", "198.51.100.2")],
    });
    d.advance(3);
    // The read began before the activation and does not have it.
    d.read_done(began, view(Vec::new()));
    assert_eq!(d.planned(Scope::Held).unwrap(), ["e1"]);
}

#[test]
fn an_activation_a_completed_read_has_seen_needs_no_stand_in() {
    let mut d = Daemon::settled(Vec::new());
    let noticed = d.now;
    d.feed(Event::Signal(activation("/s/1")));
    d.feed(Event::PresenceChecked(Ok(true)));
    d.advance(2);
    d.read_done(d.now, view(vec![device("e1", "198.51.100.2")]));
    // Resolved only now (behind a profile read, say): the read already has e1.
    let actions = d.feed(Event::ActivationResolved {
        noticed,
        devices: vec![provisional("e1", "198.51.100.2")],
    });
    assert!(!actions.contains(&Action::ReloadNmConf), "{actions:?}");
    assert!(!d.state.planning_view(Scope::Held, d.now).unwrap().devices[0].activating);
}

#[test]
fn provisional_devices_expire_after_a_second_and_once_read() {
    let mut d = Daemon::settled(Vec::new());
    d.feed(Event::Signal(activation("/s/1")));
    d.feed(Event::ActivationResolved {
        noticed: d.now,
        devices: vec![provisional("e1", "198.51.100.2")],
    });
    assert_eq!(d.planned(Scope::AtOnce).unwrap(), ["e1"]);
    d.advance(999);
    assert_eq!(d.planned(Scope::AtOnce).unwrap(), ["e1"]);
    d.advance(1);
    assert_eq!(d.planned(Scope::AtOnce), None);
    // One the view has is never planned twice.
    let mut d = Daemon::settled(vec![device("e1", "198.51.100.2")]);
    d.feed(Event::Signal(activation("/s/1")));
    d.feed(Event::ActivationResolved {
        noticed: d.now,
        devices: vec![provisional("e1", "198.51.100.2")],
    });
    assert_eq!(d.planned(Scope::Held).unwrap(), ["e1"]);
}

#[test]
fn a_hook_waits_for_the_bus_then_for_a_read_only_when_needed() {
    let hook = |id, refresh| {
        Event::Hook(HookRequest {
            id,
            going_down: Some("e0".into()),
            refresh,
        })
    };
    let mut d = Daemon::settled(vec![device("e0", "192.0.2.2")]);
    assert_eq!(d.feed(hook(1, false)), vec![Action::CheckPresence]);
    // Nothing stale: the view in hand, at once.
    let actions = d.feed(Event::PresenceChecked(Ok(true)));
    assert_eq!(
        actions,
        vec![Action::Reconcile(Reconciliation {
            purpose: Purpose::Hook(1),
            scope: Scope::Held,
            going_down: Some("e0".into()),
            backing: Backing::Event,
        })]
    );
    assert_eq!(
        d.feed(Event::Reconciled {
            purpose: Purpose::Hook(1),
            result: Ok(())
        }),
        vec![Action::ReplyHook(1, Ok(()))]
    );
    // A reapply is read again, even without a signal.
    d.feed(hook(2, true));
    assert_eq!(reads(&d.feed(Event::PresenceChecked(Ok(true)))), 1);
    // A signal routed before the bus answered makes the view stale.
    let mut d = Daemon::settled(vec![device("e0", "192.0.2.2")]);
    d.feed(hook(3, false));
    d.feed(Event::Signal(NmSignal::PlanningInputChanged));
    assert_eq!(reads(&d.feed(Event::PresenceChecked(Ok(true)))), 1);
}

#[test]
fn a_hook_for_networkmanager_away_or_quitting_mid_read_is_done_not_failed() {
    let hook = Event::Hook(HookRequest {
        id: 7,
        going_down: None,
        refresh: true,
    });
    let mut d = Daemon::settled(vec![device("e0", "192.0.2.2")]);
    d.feed(hook.clone());
    let actions = d.feed(Event::PresenceChecked(Ok(false)));
    assert!(
        actions.contains(&Action::ReplyHook(7, Ok(()))),
        "{actions:?}"
    );

    // Quitting while it is read: asked again, and away.
    let mut d = Daemon::settled(vec![device("e0", "192.0.2.2")]);
    d.feed(hook.clone());
    let read = d.feed(Event::PresenceChecked(Ok(true)));
    let Action::ReadNm { began } = read[0] else {
        panic!("{read:?}")
    };
    let actions = d.feed(Event::NmRead {
        began,
        result: Err(Error::nm("NetworkManager did not answer")),
    });
    assert_eq!(actions, vec![Action::CheckPresence]);
    let actions = d.feed(Event::PresenceChecked(Ok(false)));
    assert!(
        actions.contains(&Action::ReplyHook(7, Ok(()))),
        "{actions:?}"
    );

    // Still there and still failing: the error, once.
    let mut d = Daemon::settled(vec![device("e0", "192.0.2.2")]);
    d.feed(hook);
    d.feed(Event::PresenceChecked(Ok(true)));
    let failed = || Event::NmRead {
        began: Instant::now(),
        result: Err(Error::nm("odd reply")),
    };
    d.feed(failed());
    d.feed(Event::PresenceChecked(Ok(true)));
    let actions = d.feed(failed());
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::ReplyHook(7, Err(_)))),
        "{actions:?}"
    );
}

#[test]
fn callers_share_dry_runs_a_few_times_a_second_at_most() {
    let mut d = Daemon::settled(vec![device("e0", "192.0.2.2")]);
    let mut refreshes = 0;
    let mut answered = 0;
    for id in 0..400u64 {
        // A flood: a call every 5 ms for 2 s, each answered as soon as it can be.
        let mut actions = d.feed(Event::Call(id, Call::Describe));
        if d.state.next_deadline().is_some_and(|t| t <= d.now) {
            actions.extend(d.feed(Event::Tick));
        }
        for action in actions {
            match action {
                Action::Refresh => {
                    refreshes += 1;
                    for a in d.feed(Event::Refreshed(Ok(()))) {
                        if let Action::AnswerCalls(ids, Ok(())) = a {
                            answered += ids.len();
                        }
                    }
                }
                Action::AnswerCalls(ids, _) => answered += ids.len(),
                Action::ReadNm { .. } | Action::CheckDrift => {}
                other => panic!("{other:?}"),
            }
        }
        d.advance(5);
    }
    assert!(refreshes <= 9, "{refreshes} dry runs in 2 s");
    // The last ones get theirs once the gap is over: none waits longer.
    d.advance(250);
    for action in d.feed(Event::Tick) {
        if action == Action::Refresh {
            for a in d.feed(Event::Refreshed(Ok(()))) {
                if let Action::AnswerCalls(ids, Ok(())) = a {
                    answered += ids.len();
                }
            }
        }
    }
    assert_eq!(answered, 400);
}

#[test]
fn at_rest_the_daemon_wakes_only_for_its_drift_check() {
    let mut d = Daemon::settled(vec![device("e0", "192.0.2.2")]);
    let due = d.state.next_deadline().unwrap();
    assert_eq!(due, d.at(5_000));
    d.now = due;
    assert_eq!(d.feed(Event::Tick), vec![Action::CheckDrift]);
    assert_eq!(
        d.feed(Event::DriftChecked {
            drifted: false,
            apply_on_modify: false,
        }),
        vec![]
    );
    assert_eq!(d.state.next_deadline(), Some(d.at(10_000)));
    // Without a check interval, nothing at all.
    let mut quiet = Daemon::new();
    quiet.state = DaemonState::new(None, None);
    quiet.feed(Event::Started);
    quiet.feed(Event::PresenceChecked(Ok(true)));
    quiet.read_done(quiet.now, view(Vec::new()));
    quiet.feed(Event::Reconciled {
        purpose: Purpose::Observed(Cause::Start),
        result: Ok(()),
    });
    quiet.advance(600);
    quiet.feed(Event::Tick);
    assert_eq!(quiet.state.next_deadline(), None);
    // Drift found: settled as NetworkManager is, read only if stale.
    assert_eq!(
        d.feed(Event::DriftChecked {
            drifted: true,
            apply_on_modify: false,
        }),
        vec![Action::CheckPresence]
    );
}

#[test]
fn publishing_waits_for_events_to_pause_but_not_for_ever() {
    let mut d = Daemon::settled(vec![device("e0", "192.0.2.2")]);
    let reconciled = || Event::Reconciled {
        purpose: Purpose::Observed(Cause::AddressChange),
        result: Ok(()),
    };
    let first = d.now;
    d.feed(reconciled());
    assert_eq!(
        d.state.next_deadline(),
        Some(first + Duration::from_millis(50))
    );
    for _ in 0..20 {
        d.advance(40);
        d.feed(reconciled());
    }
    assert_eq!(
        d.state.next_deadline(),
        Some(first + Duration::from_millis(500))
    );
    d.now = first + Duration::from_millis(500);
    let actions = d.feed(Event::Tick);
    assert_eq!(actions[0], Action::Publish(Vec::new()));
    // Then the saved and applied profiles are compared, off the events' path.
    assert!(matches!(actions[1], Action::CompareProfiles));
}

/// Profile p0 on device /dev/1 with applied connection `version`, its flags as saved and
/// applied, and other settings modified (`others`).
fn compared(version: u64, saved: u32, applied: u32, others: &[&str]) -> ComparedProfile {
    let mut changed: std::collections::BTreeSet<String> =
        others.iter().map(|k| k.to_string()).collect();
    if saved != applied {
        changed.insert(MPTCP_FLAGS_KEY.to_owned());
    }
    ComparedProfile {
        profile: ModifiedProfile {
            profile: ProfileRef {
                id: "p0".into(),
                uuid: "u0".into(),
            },
            interface: "e0".into(),
            applied_flags: applied,
            saved_flags: saved,
            changed,
        },
        saved_path: "/s/1".into(),
        device: "/dev/1".into(),
        version_id: version,
    }
}

fn reapplies(d: &mut Daemon, profile: ComparedProfile, apply_on_modify: bool) -> bool {
    d.advance(1);
    let actions = d.feed(Event::ProfilesCompared {
        result: Ok(vec![profile]),
        apply_on_modify,
    });
    actions.iter().any(|a| matches!(a, Action::Reapply(_)))
}

fn signal(d: &mut Daemon, signal: NmSignal) {
    d.advance(1);
    d.feed(Event::Signal(signal));
}

#[test]
fn only_a_saved_change_since_the_profile_was_applied_is_reapplied() {
    let (subflow, signal_subflow, only_signal) = (0x20, 0x30, 0x10);
    let updated = || NmSignal::ProfileUpdated("/s/1".into());
    let mut d = Daemon::settled(vec![device("e0", "192.0.2.2")]);
    signal(&mut d, activation("/s/1"));
    assert!(!reapplies(&mut d, compared(3, subflow, subflow, &[]), true));
    // `nmcli connection modify`: `Updated`, then the comparison it asks for.
    signal(&mut d, updated());
    assert!(reapplies(
        &mut d,
        compared(3, signal_subflow, subflow, &[]),
        true
    ));
    // Reapplied: nothing more, even while the comparison still sees the old version.
    assert!(!reapplies(
        &mut d,
        compared(3, signal_subflow, subflow, &[]),
        true
    ));
    assert!(!reapplies(
        &mut d,
        compared(4, signal_subflow, signal_subflow, &[]),
        true
    ));
    // `nmcli device modify` sends no `Updated`: the applied side is the user's, never undone.
    for version in [5, 5, 6] {
        assert!(!reapplies(
            &mut d,
            compared(version, signal_subflow, only_signal, &[]),
            true
        ));
    }
    assert_eq!(d.state.modified().len(), 1, "the status still shows it");
    // A modify right after an activation, before any comparison saw it, still counts.
    signal(&mut d, activation("/s/1"));
    signal(&mut d, updated());
    assert!(reapplies(
        &mut d,
        compared(7, subflow, signal_subflow, &[]),
        true
    ));
    // A modify while apply_on_modify is off waits; turned on, it is applied.
    signal(&mut d, activation("/s/1"));
    signal(&mut d, updated());
    assert!(!reapplies(
        &mut d,
        compared(8, only_signal, subflow, &[]),
        false
    ));
    assert!(reapplies(
        &mut d,
        compared(8, only_signal, subflow, &[]),
        true
    ));
    // Modified before the daemon saw it activated: the `Updated` it saw counts.
    let mut d = Daemon::settled(vec![device("e0", "192.0.2.2")]);
    assert!(!reapplies(
        &mut d,
        compared(3, signal_subflow, subflow, &[]),
        true
    ));
    signal(&mut d, updated());
    assert!(reapplies(
        &mut d,
        compared(3, only_signal, subflow, &[]),
        true
    ));
}

#[test]
fn an_update_that_leaves_the_flags_as_applied_is_done_with() {
    let mut d = Daemon::settled(vec![device("e0", "192.0.2.2")]);
    signal(&mut d, activation("/s/1"));
    // `nmcli connection modify p0 ipv4.dns ...`: the flags stay as applied.
    signal(&mut d, NmSignal::ProfileUpdated("/s/1".into()));
    assert!(!reapplies(
        &mut d,
        compared(3, 0x20, 0x20, &["ipv4.dns"]),
        true
    ));
    // Then `nmcli device modify`: the user's, not undone by that older update.
    assert!(!reapplies(
        &mut d,
        compared(4, 0x20, 0x10, &["ipv4.dns"]),
        true
    ));
}

#[test]
fn an_update_after_a_device_modify_that_leaves_the_saved_flags_reapplies_nothing() {
    let mut d = Daemon::settled(vec![device("e0", "192.0.2.2")]);
    signal(&mut d, activation("/s/1"));
    assert!(!reapplies(&mut d, compared(3, 0x20, 0x20, &[]), true));
    // `nmcli device modify`, then the saved profile touched without a flags change.
    assert!(!reapplies(&mut d, compared(4, 0x20, 0x10, &[]), true));
    signal(&mut d, NmSignal::ProfileUpdated("/s/1".into()));
    assert!(!reapplies(&mut d, compared(4, 0x20, 0x10, &[]), true));
    // A flags change of the saved profile is still applied.
    signal(&mut d, NmSignal::ProfileUpdated("/s/1".into()));
    assert!(reapplies(&mut d, compared(4, 0x30, 0x10, &[]), true));
}

#[test]
fn a_failed_dry_run_is_spaced_like_one_that_worked() {
    let mut d = Daemon::settled(vec![device("e0", "192.0.2.2")]);
    // NetworkManager away: each refresh needs a read, and the read fails.
    d.feed(Event::Signal(NmSignal::PlanningInputChanged));
    let mut reads = 0;
    for id in 0..40 {
        let mut actions = d.feed(Event::Call(id, Call::Describe));
        if d.state.next_deadline().is_some_and(|t| t <= d.now) {
            actions.extend(d.feed(Event::Tick));
        }
        for action in actions {
            match action {
                Action::CheckPresence => {
                    d.feed(Event::PresenceChecked(Ok(true)));
                }
                Action::ReadNm { began } => {
                    reads += 1;
                    d.feed(Event::NmRead {
                        began,
                        result: Err(Error::nm("gone")),
                    });
                }
                _ => {}
            }
        }
        d.advance(10);
    }
    assert!((1..=3).contains(&reads), "{reads} reads in 400 ms");
}

#[test]
fn apply_on_modify_turned_on_compares_again_at_the_next_check() {
    let mut d = Daemon::settled(vec![device("e0", "192.0.2.2")]);
    let off = |d: &mut Daemon| {
        d.feed(Event::ProfilesCompared {
            result: Ok(vec![compared(3, 0x30, 0x20, &[])]),
            apply_on_modify: false,
        })
    };
    off(&mut d);
    // Published once events pause, then compared again: still off.
    d.advance(100);
    assert!(d.feed(Event::Tick).contains(&Action::CompareProfiles));
    off(&mut d);
    // At the drift check the configuration file says it is on now.
    d.now = d.state.next_deadline().unwrap();
    assert_eq!(d.feed(Event::Tick), vec![Action::CheckDrift]);
    let actions = d.feed(Event::DriftChecked {
        drifted: false,
        apply_on_modify: true,
    });
    assert_eq!(actions, vec![Action::CompareProfiles]);
}

#[test]
fn a_modify_of_more_than_the_flags_is_left_to_the_user_and_said_once() {
    let mut d = Daemon::settled(vec![device("e0", "192.0.2.2")]);
    signal(&mut d, NmSignal::ProfileUpdated("/s/1".into()));
    let more = compared(3, 0x30, 0x20, &["ipv4.dns"]);
    let compare = |d: &mut Daemon| {
        d.feed(Event::ProfilesCompared {
            result: Ok(vec![more.clone()]),
            apply_on_modify: true,
        })
    };
    let actions = compare(&mut d);
    assert_eq!(actions, vec![Action::LeaveToUser(more.profile.clone())]);
    assert_eq!(d.state.modified(), std::slice::from_ref(&more.profile));
    assert!(!compare(&mut d).contains(&Action::LeaveToUser(more.profile.clone())));
}

/// One step of a random run: NetworkManager changes, the kernel's addresses change, a hook
/// comes, time passes, or work under way finishes (in any order).
#[derive(Debug, Clone)]
enum Step {
    Activate(usize),
    Deactivate(usize),
    Address,
    Hook,
    Wait(u64),
    Finish(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..4usize).prop_map(Step::Activate),
        (0..4usize).prop_map(Step::Deactivate),
        Just(Step::Address),
        Just(Step::Hook),
        (0..300u64).prop_map(Step::Wait),
        (0..8usize).prop_map(Step::Finish),
        (0..8usize).prop_map(Step::Finish),
    ]
}

/// Work the shell has under way for the held state, answered later.
#[derive(Debug)]
enum Work {
    Presence,
    Read(Instant, NmView),
    Follow,
    Compare,
}

/// A model shell around the held state, with NetworkManager's devices as they are now.
struct Model {
    d: Daemon,
    active: Vec<Option<NmDevice>>,
    under_way: Vec<Work>,
    hooks: u64,
    replies: Vec<u64>,
    last_plan: Option<NmView>,
}

const ADDRESSES: [&str; 4] = ["192.0.2.2", "198.51.100.2", "203.0.113.2", "192.0.2.3"];

impl Model {
    fn nm(&self) -> NmView {
        view(self.active.iter().flatten().cloned().collect())
    }

    fn run(&mut self, events: Vec<Event>) {
        for event in events {
            self.d.state.handle(self.d.now, event);
        }
        while let Some(action) = self.d.state.next_action() {
            let now = self.d.now;
            let answer = match action {
                Action::CheckPresence => {
                    self.under_way.push(Work::Presence);
                    None
                }
                Action::ReadNm { began } => {
                    self.under_way.push(Work::Read(began, self.nm()));
                    None
                }
                Action::FollowPrefetch(_) => {
                    self.under_way.push(Work::Follow);
                    None
                }
                Action::CompareProfiles => {
                    self.under_way.push(Work::Compare);
                    None
                }
                Action::ReloadNmConf => Some(Event::NmConfReloaded(NmConf::default())),
                Action::ResolveActivation {
                    noticed,
                    activation,
                } => {
                    let k: usize = activation.profile.parse().unwrap();
                    let devices = self.active[k]
                        .iter()
                        .map(|d| NmDevice {
                            activating: true,
                            metered: false,
                            ..d.clone()
                        })
                        .collect();
                    Some(Event::ActivationResolved { noticed, devices })
                }
                Action::Reconcile(order) => {
                    let planned = self.d.state.planning_view(order.scope, now);
                    if order.scope == Scope::Held {
                        self.last_plan = planned.map(|v| v.into_owned());
                    }
                    Some(Event::Reconciled {
                        purpose: order.purpose,
                        result: Ok(()),
                    })
                }
                Action::ReplyHook(id, _) => {
                    self.replies.push(id);
                    None
                }
                Action::CheckDrift => Some(Event::DriftChecked {
                    drifted: false,
                    apply_on_modify: false,
                }),
                Action::Refresh => Some(Event::Refreshed(Ok(()))),
                _ => None,
            };
            if let Some(event) = answer {
                self.d.state.handle(self.d.now, event);
            }
        }
    }

    fn finish(&mut self, i: usize) {
        if self.under_way.is_empty() {
            return;
        }
        let work = self.under_way.remove(i % self.under_way.len());
        let event = match work {
            Work::Presence => Event::PresenceChecked(Ok(true)),
            Work::Read(began, view) => Event::NmRead {
                began,
                result: Ok((view, NmConf::default())),
            },
            Work::Follow => Event::PrefetchFollowed,
            Work::Compare => Event::ProfilesCompared {
                result: Ok(Vec::new()),
                apply_on_modify: false,
            },
        };
        self.run(vec![event]);
    }

    fn step(&mut self, step: Step) {
        match step {
            Step::Activate(k) if self.active[k].is_none() => {
                let name = format!("e{k}");
                self.active[k] = Some(device(&name, ADDRESSES[k]));
                let activated = NmSignal::ActivationAdded(Activation {
                    profile: k.to_string(),
                    devices: vec![name],
                    vpn: false,
                    external: false,
                });
                self.run(vec![Event::Signal(activated), Event::AddressChanged]);
            }
            Step::Deactivate(k) if self.active[k].is_some() => {
                self.active[k] = None;
                self.run(vec![
                    Event::Signal(NmSignal::PlanningInputChanged),
                    Event::AddressChanged,
                ]);
            }
            Step::Activate(_) | Step::Deactivate(_) => {}
            Step::Address => self.run(vec![Event::AddressChanged]),
            Step::Hook => {
                self.hooks += 1;
                self.run(vec![Event::Hook(HookRequest {
                    id: self.hooks,
                    going_down: None,
                    refresh: false,
                })]);
            }
            Step::Wait(ms) => {
                self.d.advance(ms);
                self.run(vec![Event::Tick]);
            }
            Step::Finish(i) => self.finish(i),
        }
        // Every step is a moment of its own.
        self.d.advance(1);
    }
}

/// What the planner makes of a view on a host whose kernel holds every address.
fn plan_of(view: &NmView) -> Plan {
    let kernel: Vec<KernelAddress> = ADDRESSES
        .iter()
        .enumerate()
        .map(|(k, a)| KernelAddress {
            ifindex: k as u32 + 2,
            address: a.parse().unwrap(),
            temporary: false,
            tentative: false,
            dad_failed: false,
            permanent: true,
            no_prefix_route: false,
        })
        .collect();
    let ifindex = |name: &str| name.strip_prefix('e')?.parse::<u32>().ok().map(|k| k + 2);
    let conf = NmConf::default();
    let facts = HostFacts {
        kernel_addresses: &kernel,
        ifindex_of: &ifindex,
        sysctl_enabled: Some(true),
        nm_conf: &conf,
        going_down: None,
        metered_as_backup: false,
    };
    plan(&assemble(view, &facts), &[])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// However NetworkManager's changes, the addresses, hooks and the answers to the daemon's
    /// own reads interleave, once everything has been answered the daemon's last plan is the
    /// plan of a fresh read of NetworkManager's final state, and every hook has its answer.
    #[test]
    fn random_interleavings_end_in_the_plan_of_a_fresh_read(steps in proptest::collection::vec(step(), 0..60)) {
        let mut m = Model {
            d: Daemon::settled(Vec::new()),
            active: vec![None; 4],
            under_way: Vec::new(),
            hooks: 0,
            replies: Vec::new(),
            last_plan: None,
        };
        m.last_plan = Some(NmView::default());
        for step in steps {
            m.step(step);
        }
        // Everything under way finishes; time runs out every provisional device.
        for _ in 0..100 {
            if m.under_way.is_empty() {
                break;
            }
            m.finish(0);
        }
        m.d.advance(2_000);
        m.run(vec![Event::Tick]);
        while !m.under_way.is_empty() {
            m.finish(0);
        }
        let fresh = m.nm();
        let last = m.last_plan.clone().unwrap();
        prop_assert_eq!(interfaces(&last), interfaces(&fresh));
        prop_assert_eq!(plan_of(&last).endpoints, plan_of(&fresh).endpoints);
        prop_assert_eq!(m.d.state.planning_view(Scope::Held, m.d.now).map(|v| v.into_owned()), Some(fresh));
        let mut replies = m.replies.clone();
        replies.sort_unstable();
        prop_assert_eq!(replies, (1..=m.hooks).collect::<Vec<_>>());
    }
}

/// How many publications (each reads the connections and counters) the ticks until `until`
/// (ms from now, one tick at each deadline) ask for.
fn publications_until(d: &mut Daemon, until: u64) -> usize {
    let end = d.now + Duration::from_millis(until);
    let mut published = 0;
    while let Some(deadline) = d.state.next_deadline().filter(|t| *t <= end) {
        d.now = d.now.max(deadline);
        published += d
            .feed(Event::Tick)
            .iter()
            .filter(|a| matches!(a, Action::Publish(_)))
            .count();
        // Answer the drift checks; they read no connections.
        d.feed(Event::DriftChecked {
            drifted: false,
            apply_on_modify: false,
        });
    }
    d.now = end;
    published
}

#[test]
fn connections_and_counters_are_read_only_while_someone_watches() {
    let mut d = Daemon::settled(vec![device("e0", "192.0.2.2")]);
    assert_eq!(
        publications_until(&mut d, 600_000),
        0,
        "nobody asks: nothing"
    );
    d.feed(Event::Watch);
    // At once, then each second of the lease, however many watch.
    let first = publications_until(&mut d, 10_000);
    assert!((10..=11).contains(&first), "{first}");
    d.feed(Event::Watch);
    d.feed(Event::Watch);
    let lease = publications_until(&mut d, 70_000);
    assert!((59..=61).contains(&lease), "{lease}");
    assert_eq!(publications_until(&mut d, 600_000), 0, "the lease ran out");
}

#[test]
fn a_metrics_file_is_kept_at_its_interval_and_a_watch_speeds_it_up() {
    let mut d = Daemon::new();
    d.state = DaemonState::new(None, Some(Duration::from_secs(15)));
    d.feed(Event::Started);
    d.feed(Event::PresenceChecked(Ok(true)));
    d.read_done(d.now, view(vec![device("e0", "192.0.2.2")]));
    d.feed(Event::Reconciled {
        purpose: Purpose::Observed(Cause::Start),
        result: Ok(()),
    });
    assert_eq!(publications_until(&mut d, 60_000), 4);
    d.feed(Event::Watch);
    let watched = publications_until(&mut d, 60_000);
    assert!((59..=61).contains(&watched), "{watched}");
    assert_eq!(publications_until(&mut d, 60_000), 4);
}
