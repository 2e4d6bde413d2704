//! `ip mptcp limits` as nm-mptcp manages them (NetworkManager never does). Pure.
//!
//! `auto` derives both from E, the endpoints nm-mptcp manages: subflows = clamp(E, 2, 8) and
//! add_addr_accepted = clamp(E - 1, 0, 8). For the seed's three profiles that is the seed's
//! own `add_addr_accepted 2 subflows 3`. With no managed endpoint, `auto` leaves them alone.

use serde::{Deserialize, Serialize};

use crate::config::{Config, LimitSetting, LIMIT_MAX};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub subflows: u32,
    pub add_addr_accepted: u32,
}

impl Limits {
    /// Each limit at the higher of the two: what holds while limits move from one to the other.
    pub fn at_least(self, other: Limits) -> Limits {
        Limits {
            subflows: self.subflows.max(other.subflows),
            add_addr_accepted: self.add_addr_accepted.max(other.add_addr_accepted),
        }
    }
}

/// In `ip mptcp limits` words: `subflows 3 add_addr_accepted 2`.
impl std::fmt::Display for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "subflows {} add_addr_accepted {}",
            self.subflows, self.add_addr_accepted
        )
    }
}

/// The limits the kernel should hold, given `managed` endpoints and the current limits.
pub fn desired(config: &Config, managed: usize, current: Limits) -> Limits {
    let managed = managed as u32;
    let pick = |setting: LimitSetting, auto: u32, current: u32| match setting {
        LimitSetting::Auto if managed == 0 => current,
        LimitSetting::Auto => auto,
        LimitSetting::Keep => current,
        LimitSetting::Value(v) => v,
    };
    Limits {
        subflows: pick(
            config.subflows,
            managed.clamp(2, LIMIT_MAX),
            current.subflows,
        ),
        add_addr_accepted: pick(
            config.add_addr_accepted,
            managed.saturating_sub(1).min(LIMIT_MAX),
            current.add_addr_accepted,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_least_takes_each_limit_separately() {
        let a = Limits {
            subflows: 3,
            add_addr_accepted: 0,
        };
        let b = Limits {
            subflows: 2,
            add_addr_accepted: 1,
        };
        let both = Limits {
            subflows: 3,
            add_addr_accepted: 1,
        };
        assert_eq!(a.at_least(b), both);
        assert_eq!(b.at_least(a), both);
        assert_eq!(a.at_least(a), a);
    }
    use proptest::prelude::*;

    const fn limits(subflows: u32, add_addr_accepted: u32) -> Limits {
        Limits {
            subflows,
            add_addr_accepted,
        }
    }

    const KERNEL_DEFAULT: Limits = limits(2, 0);

    #[test]
    fn auto_gives_the_seeds_verification_output_for_three_endpoints() {
        assert_eq!(desired(&Config::default(), 3, KERNEL_DEFAULT), limits(3, 2));
    }

    #[test]
    fn auto_follows_the_count_and_leaves_limits_alone_without_endpoints() {
        let c = Config::default();
        assert_eq!(desired(&c, 1, KERNEL_DEFAULT), limits(2, 0));
        assert_eq!(desired(&c, 8, KERNEL_DEFAULT), limits(8, 7));
        let odd = limits(5, 4);
        assert_eq!(desired(&c, 0, odd), odd);
    }

    #[test]
    fn fixed_and_keep() {
        let c = Config {
            subflows: LimitSetting::Value(4),
            add_addr_accepted: LimitSetting::Keep,
            ..Config::default()
        };
        let current = limits(1, 6);
        assert_eq!(desired(&c, 3, current), limits(4, 6));
        assert_eq!(desired(&c, 0, current), limits(4, 6));
    }

    proptest! {
        #[test]
        fn always_within_the_kernels_range(managed in 0usize..40, s in 0u32..=8, a in 0u32..=8) {
            let got = desired(&Config::default(), managed, limits(s, a));
            prop_assert!(got.subflows <= LIMIT_MAX && got.add_addr_accepted <= LIMIT_MAX);
            if managed > 0 {
                prop_assert!(got.subflows >= 2);
                prop_assert!(got.add_addr_accepted < got.subflows || got.subflows == LIMIT_MAX);
            }
        }
    }
}
