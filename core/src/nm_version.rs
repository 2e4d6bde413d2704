//! The running NetworkManager's version, and what its MPTCP rules are for that version.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A NetworkManager version as its D-Bus `Version` property gives it ("1.42.4").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NmVersion {
    major: u32,
    minor: u32,
    micro: u32,
}

impl NmVersion {
    pub const fn new(major: u32, minor: u32, micro: u32) -> NmVersion {
        NmVersion {
            major,
            minor,
            micro,
        }
    }

    fn at_least(self, major: u32, minor: u32, micro: u32) -> bool {
        self >= NmVersion::new(major, minor, micro)
    }

    /// From 1.40 NetworkManager adds the endpoints of `connection.mptcp-flags` itself.
    pub fn adds_endpoints(self) -> bool {
        self.at_least(1, 40, 0)
    }

    /// From 1.42 `Reapply` can keep the addresses and routes others added to the device
    /// (`NM_DEVICE_REAPPLY_FLAGS_PRESERVE_EXTERNAL_IP`); before, it refuses the flag.
    pub fn preserves_external_ip(self) -> bool {
        self.at_least(1, 42, 0)
    }

    /// 1.56 added `laminar` and made it part of the built-in default.
    pub fn has_laminar(self) -> bool {
        self.at_least(1, 56, 0)
    }

    /// From 1.50.3 and 1.52 NetworkManager skips addresses not yet usable (IPv6 tentative).
    pub fn skips_unready_addresses(self) -> bool {
        self.at_least(1, 52, 0) || (self.minor == 50 && self.at_least(1, 50, 3))
    }

    /// Before the fix (1.52, 1.50.2, 1.48.16, 1.46.6) a missing sysctl read as enabled.
    pub fn missing_sysctl_disables(self) -> bool {
        self.at_least(1, 52, 0)
            || (self.minor == 50 && self.micro >= 2)
            || (self.minor == 48 && self.micro >= 16)
            || (self.minor == 46 && self.micro >= 6)
            || (self.minor == 51)
    }
}

impl FromStr for NmVersion {
    type Err = String;

    fn from_str(text: &str) -> Result<NmVersion, String> {
        let mut parts = text.trim().split(['.', '-', '~', '+']);
        let mut next = |name: &str| -> Result<u32, String> {
            parts
                .next()
                .unwrap_or("0")
                .parse()
                .map_err(|_| format!("NetworkManager version {text:?} has no numeric {name}"))
        };
        Ok(NmVersion::new(
            next("major")?,
            next("minor")?,
            next("micro")?,
        ))
    }
}

impl fmt::Display for NmVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.micro)
    }
}

impl<'de> Deserialize<'de> for NmVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl Serialize for NmVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> NmVersion {
        text.parse().unwrap()
    }

    #[test]
    fn parses_debian_and_development_versions() {
        assert_eq!(v("1.42.4"), NmVersion::new(1, 42, 4));
        assert_eq!(v("1.57.2-dev"), NmVersion::new(1, 57, 2));
        assert_eq!(v("1.44"), NmVersion::new(1, 44, 0));
        assert!("one.two".parse::<NmVersion>().is_err());
    }

    #[test]
    fn version_rules_follow_the_release_history() {
        assert!(!v("1.42.4").skips_unready_addresses());
        assert!(!v("1.50.2").skips_unready_addresses());
        assert!(v("1.50.3").skips_unready_addresses());
        assert!(v("1.52.0").skips_unready_addresses());
        assert!(!v("1.42.4").missing_sysctl_disables());
        assert!(v("1.46.6").missing_sysctl_disables());
        assert!(!v("1.48.15").missing_sysctl_disables());
        assert!(v("1.50.2").missing_sysctl_disables());
        assert!(!v("1.55.9").has_laminar());
        assert!(v("1.56.0").has_laminar());
    }
}
