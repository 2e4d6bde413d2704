//! A profile modified since NetworkManager applied it. `nmcli connection modify` changes the
//! saved profile only; NetworkManager (and nm-mptcp, which follows it) acts on the applied
//! one until `nmcli device reapply` or a reconnect. Pure: the adapter compares the saved and
//! applied settings and brings the result here.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::flags::MptcpFlags;
use crate::model::ProfileRef;

/// The setting `apply_on_modify` may apply by itself.
pub const MPTCP_FLAGS_KEY: &str = "connection.mptcp-flags";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModifiedProfile {
    pub profile: ProfileRef,
    pub interface: String,
    /// `connection.mptcp-flags` as applied and as saved (0 when absent).
    pub applied_flags: u32,
    pub saved_flags: u32,
    /// Every setting that differs, as `group.key`.
    pub changed: BTreeSet<String>,
}

/// An active profile on one device, its saved and applied settings compared
/// (`profile.changed` is empty when they agree), with what a reapply needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComparedProfile {
    pub profile: ModifiedProfile,
    /// The saved profile's object path (`Settings.Connection.Updated` names it).
    pub saved_path: String,
    /// The device's object path.
    pub device: String,
    /// The applied connection's version: a reapply with it fails if anything changed since.
    pub version_id: u64,
}

impl ComparedProfile {
    /// The saved settings differ from the applied ones.
    pub fn modified(&self) -> bool {
        !self.profile.changed.is_empty()
    }
}

impl ModifiedProfile {
    /// The MPTCP flags were modified (and maybe other settings too).
    pub fn flags_modified(&self) -> bool {
        self.applied_flags != self.saved_flags
    }

    /// `connection.mptcp-flags` is all that changed: a reapply applies nothing else.
    pub fn only_flags_modified(&self) -> bool {
        self.flags_modified() && self.changed.iter().all(|k| k == MPTCP_FLAGS_KEY)
    }

    /// The flags in nmcli's words.
    pub fn flag_words(bits: u32) -> String {
        MptcpFlags::from_bits_retain(bits).names().join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn modified(changed: &[&str], applied: u32, saved: u32) -> ModifiedProfile {
        ModifiedProfile {
            profile: ProfileRef {
                id: "p0".into(),
                uuid: "u".into(),
            },
            interface: "e0".into(),
            applied_flags: applied,
            saved_flags: saved,
            changed: changed.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn only_a_flags_change_is_applied_by_itself() {
        let signal_subflow = (MptcpFlags::SIGNAL | MptcpFlags::SUBFLOW).bits();
        let subflow = MptcpFlags::SUBFLOW.bits();
        let flags_only = modified(&[MPTCP_FLAGS_KEY], subflow, signal_subflow);
        assert!(flags_only.flags_modified() && flags_only.only_flags_modified());
        let with_dns = modified(&[MPTCP_FLAGS_KEY, "ipv4.dns"], subflow, signal_subflow);
        assert!(with_dns.flags_modified() && !with_dns.only_flags_modified());
        let dns_only = modified(&["ipv4.dns"], subflow, subflow);
        assert!(!dns_only.flags_modified() && !dns_only.only_flags_modified());
        assert_eq!(
            ModifiedProfile::flag_words(signal_subflow),
            "signal,subflow"
        );
        assert_eq!(ModifiedProfile::flag_words(0), "default");
    }
}
