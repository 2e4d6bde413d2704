//! `connection.mptcp-flags` as NetworkManager defines it, and the kernel's endpoint flags.
//!
//! The bit values are NetworkManager's `NMMptcpFlags` (nm-dbus-interface.h) and the kernel's
//! `MPTCP_PM_ADDR_FLAG_*` (uapi/linux/mptcp.h). Resolution and normalisation copy
//! `_prop_get_connection_mptcp_flags` and `nm_mptcp_flags_normalize` exactly.

use std::fmt;

use bitflags::bitflags;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::nm_version::NmVersion;

bitflags! {
    /// The profile property `connection.mptcp-flags`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct MptcpFlags: u32 {
        const DISABLED = 0x1;
        const ENABLED = 0x2;
        const ALSO_WITHOUT_SYSCTL = 0x4;
        const ALSO_WITHOUT_DEFAULT_ROUTE = 0x8;
        const SIGNAL = 0x10;
        const SUBFLOW = 0x20;
        const BACKUP = 0x40;
        const FULLMESH = 0x80;
        const LAMINAR = 0x100;
    }
}

bitflags! {
    /// Flags of a kernel MPTCP endpoint (`MPTCP_PM_ADDR_FLAG_*`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
    pub struct EndpointFlags: u32 {
        const SIGNAL = 1 << 0;
        const SUBFLOW = 1 << 1;
        const BACKUP = 1 << 2;
        const FULLMESH = 1 << 3;
        const IMPLICIT = 1 << 4;
        const LAMINAR = 1 << 5;
    }
}

/// nmcli's keywords, in nmcli's order.
const PROFILE_NAMES: [(MptcpFlags, &str); 9] = [
    (MptcpFlags::DISABLED, "disabled"),
    (MptcpFlags::ENABLED, "enabled"),
    (MptcpFlags::ALSO_WITHOUT_SYSCTL, "also-without-sysctl"),
    (
        MptcpFlags::ALSO_WITHOUT_DEFAULT_ROUTE,
        "also-without-default-route",
    ),
    (MptcpFlags::SIGNAL, "signal"),
    (MptcpFlags::SUBFLOW, "subflow"),
    (MptcpFlags::BACKUP, "backup"),
    (MptcpFlags::FULLMESH, "fullmesh"),
    (MptcpFlags::LAMINAR, "laminar"),
];

/// `ip mptcp endpoint show`'s keywords, in its order.
const ENDPOINT_NAMES: [(EndpointFlags, &str); 6] = [
    (EndpointFlags::SIGNAL, "signal"),
    (EndpointFlags::SUBFLOW, "subflow"),
    (EndpointFlags::BACKUP, "backup"),
    (EndpointFlags::FULLMESH, "fullmesh"),
    (EndpointFlags::IMPLICIT, "implicit"),
    (EndpointFlags::LAMINAR, "laminar"),
];

/// Profile flags that become kernel endpoint flags.
const KERNEL_MAPPING: [(MptcpFlags, EndpointFlags); 5] = [
    (MptcpFlags::SIGNAL, EndpointFlags::SIGNAL),
    (MptcpFlags::SUBFLOW, EndpointFlags::SUBFLOW),
    (MptcpFlags::BACKUP, EndpointFlags::BACKUP),
    (MptcpFlags::FULLMESH, EndpointFlags::FULLMESH),
    (MptcpFlags::LAMINAR, EndpointFlags::LAMINAR),
];

/// Where the effective flags of a device came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlagsSource {
    /// The applied profile's `connection.mptcp-flags`.
    Profile,
    /// `connection.mptcp-flags` in NetworkManager.conf for the device (the profile said
    /// `default`); the code says `global-default` as NetworkManager calls such defaults.
    GlobalDefault,
    /// NetworkManager's built-in default for its version.
    BuiltIn,
    /// `net.mptcp.enabled` is 0 and the flags lack `also-without-sysctl`: NetworkManager
    /// treats them as `disabled`, whatever the profile says.
    Sysctl,
}

impl MptcpFlags {
    /// The bits NetworkManager `nm` accepts (`verify`); normalisation drops every other.
    pub fn known_to(nm: NmVersion) -> MptcpFlags {
        if nm.has_laminar() {
            MptcpFlags::all()
        } else {
            MptcpFlags::all() - MptcpFlags::LAMINAR
        }
    }

    /// `_NM_MPTCP_FLAGS_DEFAULT` of NetworkManager `nm`.
    pub fn built_in_default(nm: NmVersion) -> MptcpFlags {
        let base = MptcpFlags::ENABLED | MptcpFlags::SUBFLOW;
        if nm.has_laminar() {
            base | MptcpFlags::LAMINAR
        } else {
            base
        }
    }

    /// `nm_mptcp_flags_normalize` for the running NetworkManager: `disabled` wins, unknown bits
    /// go, `enabled` is implied and `signal` drops `fullmesh`. No endpoint type is implied.
    pub fn normalize(self, nm: NmVersion) -> MptcpFlags {
        if self.contains(MptcpFlags::DISABLED) {
            return MptcpFlags::DISABLED;
        }
        let mut flags = self & MptcpFlags::known_to(nm);
        flags |= MptcpFlags::ENABLED;
        if flags.contains(MptcpFlags::SIGNAL | MptcpFlags::FULLMESH) {
            flags.remove(MptcpFlags::FULLMESH);
        }
        flags
    }

    /// The flags NetworkManager acts on: the profile's value, else NetworkManager.conf's,
    /// else the built-in default; then normalised.
    pub fn resolve(
        profile: u32,
        global_default: Option<i64>,
        nm: NmVersion,
    ) -> (MptcpFlags, FlagsSource) {
        let (raw, source) = if profile != 0 {
            (profile, FlagsSource::Profile)
        } else {
            match global_default {
                // A non-zero value whose low 32 bits are zero still means "enabled".
                Some(value) if value != 0 => match value as u32 {
                    0 => (MptcpFlags::ENABLED.bits(), FlagsSource::GlobalDefault),
                    low => (low, FlagsSource::GlobalDefault),
                },
                _ => (
                    MptcpFlags::built_in_default(nm).bits(),
                    FlagsSource::BuiltIn,
                ),
            }
        };
        (MptcpFlags::from_bits_retain(raw).normalize(nm), source)
    }

    /// The kernel endpoint flags these profile flags ask for.
    pub fn endpoint_flags(self) -> EndpointFlags {
        KERNEL_MAPPING
            .iter()
            .filter(|(profile, _)| self.contains(*profile))
            .fold(EndpointFlags::empty(), |acc, (_, kernel)| acc | *kernel)
    }

    /// nmcli's keywords for these flags (`default` for none).
    pub fn names(self) -> Vec<&'static str> {
        if self.is_empty() {
            return vec!["default"];
        }
        PROFILE_NAMES
            .iter()
            .filter(|(flag, _)| self.contains(*flag))
            .map(|(_, name)| *name)
            .collect()
    }
}

impl EndpointFlags {
    /// `ip mptcp`'s keywords for these flags; unknown bits as hex.
    pub fn names(self) -> Vec<String> {
        let mut names: Vec<String> = ENDPOINT_NAMES
            .iter()
            .filter(|(flag, _)| self.contains(*flag))
            .map(|(_, name)| (*name).to_owned())
            .collect();
        let unknown = self.bits() & !EndpointFlags::all().bits();
        if unknown != 0 {
            names.push(format!("{unknown:#x}"));
        }
        names
    }
}

impl fmt::Display for EndpointFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().join(" "))
    }
}

impl Serialize for EndpointFlags {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.names().serialize(serializer)
    }
}

/// From `ip mptcp`'s keywords (and unknown bits written as hex), as `Serialize` writes them.
impl<'de> Deserialize<'de> for EndpointFlags {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let names = Vec::<String>::deserialize(deserializer)?;
        names
            .iter()
            .try_fold(EndpointFlags::empty(), |flags, name| {
                let known = ENDPOINT_NAMES
                    .iter()
                    .find(|(_, n)| n == name)
                    .map(|(flag, _)| *flag);
                let bits = known.map(|f| f.bits()).or_else(|| {
                    name.strip_prefix("0x")
                        .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                });
                bits.map(|b| flags | EndpointFlags::from_bits_retain(b))
                    .ok_or_else(|| {
                        serde::de::Error::custom(format!("unknown endpoint flag {name:?}"))
                    })
            })
    }
}

/// From nmcli's keywords, as `Serialize` writes them.
impl<'de> Deserialize<'de> for MptcpFlags {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let names = Vec::<String>::deserialize(deserializer)?;
        names.iter().try_fold(MptcpFlags::empty(), |flags, name| {
            if name == "default" {
                return Ok(flags);
            }
            PROFILE_NAMES
                .iter()
                .find(|(_, n)| n == name)
                .map(|(flag, _)| flags | *flag)
                .ok_or_else(|| serde::de::Error::custom(format!("unknown mptcp flag {name:?}")))
        })
    }
}

impl Serialize for MptcpFlags {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.names().serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NM_1_42: NmVersion = NmVersion::new(1, 42, 4);
    const NM_1_56: NmVersion = NmVersion::new(1, 56, 0);

    fn flags(bits: u32) -> MptcpFlags {
        MptcpFlags::from_bits_retain(bits)
    }

    #[test]
    fn default_is_enabled_subflow_before_1_56_and_gains_laminar_after() {
        assert_eq!(
            MptcpFlags::resolve(0, None, NM_1_42),
            (flags(0x22), FlagsSource::BuiltIn)
        );
        assert_eq!(
            MptcpFlags::resolve(0, None, NM_1_56),
            (flags(0x122), FlagsSource::BuiltIn)
        );
    }

    #[test]
    fn disabled_wins_over_everything() {
        let (resolved, _) = MptcpFlags::resolve(0x1 | 0x10 | 0x20, None, NM_1_42);
        assert_eq!(resolved, MptcpFlags::DISABLED);
        assert_eq!(resolved.endpoint_flags(), EndpointFlags::empty());
    }

    #[test]
    fn signal_drops_fullmesh() {
        assert_eq!(flags(0x90).normalize(NM_1_42), flags(0x12));
    }

    #[test]
    fn laminar_is_unknown_before_1_56() {
        assert_eq!(flags(0x120).normalize(NM_1_42), flags(0x22));
        assert_eq!(flags(0x120).normalize(NM_1_56), flags(0x122));
    }

    #[test]
    fn enabled_alone_gives_an_endpoint_without_kernel_flags() {
        let (resolved, source) = MptcpFlags::resolve(0x2, None, NM_1_42);
        assert_eq!(source, FlagsSource::Profile);
        assert_eq!(resolved.endpoint_flags(), EndpointFlags::empty());
    }

    #[test]
    fn backup_alone_stays_backup_only() {
        let (resolved, _) = MptcpFlags::resolve(0x40, None, NM_1_42);
        assert_eq!(resolved.endpoint_flags(), EndpointFlags::BACKUP);
    }

    #[test]
    fn seed_flags_map_to_signal_subflow() {
        let (resolved, _) = MptcpFlags::resolve(0x10 | 0x20 | 0x8, None, NM_1_42);
        assert_eq!(
            resolved.endpoint_flags(),
            EndpointFlags::SIGNAL | EndpointFlags::SUBFLOW
        );
        assert_eq!(
            resolved.names(),
            vec!["enabled", "also-without-default-route", "signal", "subflow"]
        );
    }

    #[test]
    fn global_default_applies_only_when_profile_says_default() {
        assert_eq!(
            MptcpFlags::resolve(0, Some(0x50), NM_1_42),
            (flags(0x52), FlagsSource::GlobalDefault)
        );
        assert_eq!(
            MptcpFlags::resolve(0x20, Some(0x50), NM_1_42).1,
            FlagsSource::Profile
        );
        // Low 32 bits zero: still enabled, with no endpoint type.
        assert_eq!(
            MptcpFlags::resolve(0, Some(1 << 32), NM_1_42),
            (flags(0x2), FlagsSource::GlobalDefault)
        );
    }

    #[test]
    fn endpoint_flag_names_follow_ip_mptcp() {
        let f = EndpointFlags::SIGNAL | EndpointFlags::SUBFLOW | EndpointFlags::BACKUP;
        assert_eq!(f.to_string(), "signal subflow backup");
        assert_eq!(
            EndpointFlags::from_bits_retain(0x100).names(),
            vec!["0x100"]
        );
    }

    proptest! {
        #[test]
        fn normalize_is_idempotent_and_valid(bits in any::<u32>(), laminar in any::<bool>()) {
            let nm = if laminar { NM_1_56 } else { NM_1_42 };
            let once = flags(bits).normalize(nm);
            prop_assert_eq!(once.normalize(nm), once);
            if once.contains(MptcpFlags::DISABLED) {
                prop_assert_eq!(once, MptcpFlags::DISABLED);
            } else {
                prop_assert!(once.contains(MptcpFlags::ENABLED));
                prop_assert!(!once.contains(MptcpFlags::SIGNAL | MptcpFlags::FULLMESH));
                prop_assert_eq!(once.bits() & !MptcpFlags::known_to(nm).bits(), 0);
            }
        }

        #[test]
        fn endpoint_flags_never_carry_implicit(bits in any::<u32>()) {
            let resolved = flags(bits).normalize(NM_1_56);
            prop_assert!(!resolved.endpoint_flags().contains(EndpointFlags::IMPLICIT));
        }
    }
}
