//! Reverse-path filtering as NetworkManager handles it for MPTCP (`_rp_filter_update`): strict
//! (1) becomes loose (2) on interfaces with IPv4 endpoints, and is put back to 1 when they have
//! none, only where nm-mptcp made the change and the value is still 2. Values 0 and 2 and
//! `conf.all` are never touched. The decision is pure; /proc is read and written by the shell.

use serde::{Deserialize, Serialize};

pub const STRICT: u8 = 1;
pub const LOOSE: u8 = 2;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RpFilterChange {
    pub interface: String,
    pub from: u8,
    pub to: u8,
}

impl std::fmt::Display for RpFilterChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rp_filter {} -> {} on {}",
            self.from,
            self.to,
            crate::escape::escaped(&self.interface)
        )
    }
}

/// `wanted`: interfaces with IPv4 endpoints; `current`: each interface's rp_filter (where it
/// could be read); `relaxed`: interfaces nm-mptcp set to 2 earlier.
pub fn changes(
    wanted: &[String],
    current: &dyn Fn(&str) -> Option<u8>,
    relaxed: &[String],
    enabled: bool,
) -> Vec<RpFilterChange> {
    let relax = wanted
        .iter()
        .filter(|_| enabled)
        .filter(|i| current(i) == Some(STRICT))
        .map(|i| RpFilterChange {
            interface: i.clone(),
            from: STRICT,
            to: LOOSE,
        });
    let restore = relaxed
        .iter()
        .filter(|i| !enabled || !wanted.contains(i))
        .filter(|i| current(i) == Some(LOOSE))
        .map(|i| RpFilterChange {
            interface: i.clone(),
            from: LOOSE,
            to: STRICT,
        });
    relax.chain(restore).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(list: &[&str]) -> Vec<String> {
        list.iter().map(|x| x.to_string()).collect()
    }

    fn values(name: &str) -> Option<u8> {
        match name {
            "strict" => Some(1),
            "loose" => Some(2),
            "off" => Some(0),
            _ => None,
        }
    }

    #[test]
    fn only_strict_becomes_loose() {
        let got = changes(&s(&["strict", "loose", "off", "gone"]), &values, &[], true);
        assert_eq!(
            got,
            vec![RpFilterChange {
                interface: "strict".into(),
                from: 1,
                to: 2
            }]
        );
    }

    #[test]
    fn restores_only_what_it_changed_and_is_still_loose() {
        let got = changes(&[], &values, &s(&["loose", "off", "gone"]), true);
        assert_eq!(
            got,
            vec![RpFilterChange {
                interface: "loose".into(),
                from: 2,
                to: 1
            }]
        );
        assert!(changes(&s(&["loose"]), &values, &s(&["loose"]), true).is_empty());
    }

    #[test]
    fn switched_off_relaxes_nothing_and_restores_its_own() {
        assert!(changes(&s(&["strict"]), &values, &[], false).is_empty());
        assert_eq!(
            changes(&s(&["loose"]), &values, &s(&["loose"]), false).len(),
            1
        );
    }
}
