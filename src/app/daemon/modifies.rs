//! Profiles modified since NetworkManager applied them: compared off the events' path (a few
//! calls to NetworkManager), and, with `[profiles] apply_on_modify`, reapplied when the held
//! state says so.

use nm_mptcp_core::modified::{ComparedProfile, ModifiedProfile};
use tokio::sync::mpsc;

use super::shell::Finished;
use crate::adapters::nm;
use crate::app::context::Context;
use crate::app::reconcile::NM_TIMEOUT;
use nm_mptcp_core::escape::escaped;

/// Compare the active profiles' saved and applied settings on a task of its own.
pub(super) fn compare(
    context: &Context,
    bus: &zbus::Connection,
    results: &mpsc::UnboundedSender<Finished>,
) {
    let (context, bus, results) = (context.clone(), bus.clone(), results.clone());
    tokio::spawn(async move {
        let result = nm::within(NM_TIMEOUT, nm::compare_profiles(&bus)).await;
        let apply_on_modify = context.config().is_ok_and(|c| c.apply_on_modify);
        let _ = results.send(Finished::Compared {
            result,
            apply_on_modify,
        });
    });
}

/// Ask NetworkManager to reapply a profile whose saved flags changed, with the applied
/// connection's version (a change in between makes the reapply fail rather than overwrite it).
pub(super) fn reapply(bus: &zbus::Connection, pending: ComparedProfile) {
    let bus = bus.clone();
    tokio::spawn(async move {
        let m = &pending.profile;
        let (applied, saved) = (
            ModifiedProfile::flag_words(m.applied_flags),
            ModifiedProfile::flag_words(m.saved_flags),
        );
        let profile = escaped(&m.profile.id);
        let interface = escaped(&m.interface);
        match nm::within(NM_TIMEOUT, nm::reapply(&bus, &pending)).await {
            Ok(()) => tracing::info!(
                profile,
                interface,
                applied,
                saved,
                "reapplied a modified profile (apply_on_modify)"
            ),
            Err(e) => tracing::warn!(profile, interface, error = %e, "reapply failed"),
        }
    });
}

/// A modify that changed more than `connection.mptcp-flags`: the user's to apply.
pub(super) fn left_to_user(m: &ModifiedProfile) {
    tracing::info!(
        profile = escaped(&m.profile.id),
        interface = escaped(&m.interface),
        applied = ModifiedProfile::flag_words(m.applied_flags),
        saved = ModifiedProfile::flag_words(m.saved_flags),
        changed = ?m.changed,
        "modified profile left to the user: more than connection.mptcp-flags changed"
    );
}
