//! The kernel's MPTCP counters (`MPTcpExt` in /proc/net/netstat, one set per network
//! namespace): parsed, named in plain words, and compared with an earlier sample to tell
//! what rose lately.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The counters' current values by the kernel's names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters(pub BTreeMap<String, u64>);

/// `MPCurrEstab` is the one gauge among them: connections established now.
pub const CURRENTLY_ESTABLISHED: &str = "MPCurrEstab";

/// What a counter means, for the people reading `status`.
pub struct Meaning {
    pub name: &'static str,
    pub words: &'static str,
    pub kind: Kind,
}

/// What a counter rising tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Traffic as it should be.
    Activity,
    /// A connection fell back to plain TCP.
    Fallback,
    /// A join (an additional subflow) failed or was refused.
    JoinError,
    /// MPTCP SYNs dropped on the path: the kernel stops asking for MPTCP for a while.
    Blackhole,
}

/// The counters `status` names, in the order it shows them.
pub const MEANINGS: &[Meaning] = &[
    Meaning {
        name: "MPCapableSYNTX",
        words: "MPTCP connections opened",
        kind: Kind::Activity,
    },
    Meaning {
        name: "MPCapableSYNACKRX",
        words: "opened connections the peer accepted as MPTCP",
        kind: Kind::Activity,
    },
    Meaning {
        name: "MPCapableSYNRX",
        words: "MPTCP connections received",
        kind: Kind::Activity,
    },
    Meaning {
        name: "MPJoinSynTx",
        words: "joins sent (additional subflows)",
        kind: Kind::Activity,
    },
    Meaning {
        name: "MPJoinSynAckRx",
        words: "joins sent and answered",
        kind: Kind::Activity,
    },
    Meaning {
        name: "MPJoinSynRx",
        words: "joins received",
        kind: Kind::Activity,
    },
    Meaning {
        name: "MPJoinAckRx",
        words: "joins received and completed",
        kind: Kind::Activity,
    },
    Meaning {
        name: "MPCapableFallbackSYNACK",
        words: "connections fallen back to TCP: the peer answered without MPTCP",
        kind: Kind::Fallback,
    },
    Meaning {
        name: "MPCapableFallbackACK",
        words: "received connections fallen back to TCP: MPTCP lost after the SYN",
        kind: Kind::Fallback,
    },
    Meaning {
        name: "MPFallbackTokenInit",
        words: "connections fallen back to TCP: no token could be made",
        kind: Kind::Fallback,
    },
    Meaning {
        name: "MPCapableDataFallback",
        words: "connections fallen back to TCP: MPTCP options lost on data",
        kind: Kind::Fallback,
    },
    Meaning {
        name: "MPCapableSYNTXDrop",
        words: "connections fallen back to TCP: the MPTCP SYN was dropped on the path",
        kind: Kind::Fallback,
    },
    Meaning {
        name: "DssFallback",
        words: "connections fallen back to TCP: data without a valid MPTCP mapping",
        kind: Kind::Fallback,
    },
    Meaning {
        name: "MD5SigFallback",
        words: "connections fallen back to TCP: TCP-MD5 signatures in use",
        kind: Kind::Fallback,
    },
    Meaning {
        name: "SimultConnectFallback",
        words: "connections fallen back to TCP: a simultaneous connect",
        kind: Kind::Fallback,
    },
    Meaning {
        name: "FallbackFailed",
        words: "connections reset: they could not fall back to TCP",
        kind: Kind::Fallback,
    },
    Meaning {
        name: "DSSCorruptionFallback",
        words: "connections fallen back to TCP: MPTCP options corrupted on the path",
        kind: Kind::Fallback,
    },
    Meaning {
        name: "InfiniteMapTx",
        words: "connections fallen back to TCP mid-stream (sent)",
        kind: Kind::Fallback,
    },
    Meaning {
        name: "InfiniteMapRx",
        words: "connections fallen back to TCP mid-stream (received)",
        kind: Kind::Fallback,
    },
    Meaning {
        name: "MPJoinNoTokenFound",
        words: "joins refused: no such connection",
        kind: Kind::JoinError,
    },
    Meaning {
        name: "MPJoinSynAckHMacFailure",
        words: "joins refused: the peer's answer failed authentication",
        kind: Kind::JoinError,
    },
    Meaning {
        name: "MPJoinAckHMacFailure",
        words: "joins refused: failed authentication",
        kind: Kind::JoinError,
    },
    Meaning {
        name: "MPJoinRejected",
        words: "joins refused by the path manager (limits)",
        kind: Kind::JoinError,
    },
    Meaning {
        name: "MPJoinSynTxCreatSkErr",
        words: "subflow creation errors: no socket",
        kind: Kind::JoinError,
    },
    Meaning {
        name: "MPJoinSynTxBindErr",
        words: "subflow creation errors: cannot bind the endpoint's address",
        kind: Kind::JoinError,
    },
    Meaning {
        name: "MPJoinSynTxConnectErr",
        words: "subflow creation errors: connect failed",
        kind: Kind::JoinError,
    },
    Meaning {
        name: "Blackhole",
        words: "MPTCP blackholes detected: MPTCP SYNs dropped on the path",
        kind: Kind::Blackhole,
    },
    Meaning {
        name: "MPCapableSYNTXDisabled",
        words: "connections opened without MPTCP after a blackhole",
        kind: Kind::Blackhole,
    },
];

impl Counters {
    /// The `MPTcpExt` lines of /proc/net/netstat (a header line of names, then one of values);
    /// `None` when there are none (a kernel without MPTCP) or they do not parse.
    pub fn parse(netstat: &str) -> Option<Counters> {
        let mut lines = netstat.lines().filter_map(|l| l.strip_prefix("MPTcpExt:"));
        let names = lines.next()?.split_whitespace();
        let values = lines.next()?.split_whitespace();
        let counters: Option<BTreeMap<String, u64>> = names
            .zip(values)
            .map(|(n, v)| Some((n.to_owned(), v.parse().ok()?)))
            .collect();
        counters.filter(|c| !c.is_empty()).map(Counters)
    }

    /// Whether this kernel has the counter (newer ones are missing from older kernels).
    pub fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    pub fn get(&self, name: &str) -> u64 {
        self.0.get(name).copied().unwrap_or(0)
    }

    /// How much each counter rose since `earlier` (a counter that went down, as after a
    /// namespace was made anew, counts from 0).
    pub fn since(&self, earlier: &Counters) -> Counters {
        Counters(
            self.0
                .iter()
                .map(|(name, &now)| {
                    let before = earlier.get(name);
                    (name.clone(), if now >= before { now - before } else { now })
                })
                .collect(),
        )
    }

    /// The named counters of one kind that are not 0, with their meaning.
    pub fn risen(&self, kind: Kind) -> Vec<(&'static Meaning, u64)> {
        MEANINGS
            .iter()
            .filter(|m| m.kind == kind)
            .map(|m| (m, self.get(m.name)))
            .filter(|(_, rise)| *rise > 0)
            .collect()
    }
}

/// How far back "lately" reaches for the warnings from counters.
pub const RECENT: Duration = Duration::from_secs(300);

/// The samples the daemon took: its first, and enough of the latest to look `RECENT` back.
#[derive(Debug, Clone)]
pub struct History {
    first: Counters,
    samples: VecDeque<(Instant, Counters)>,
}

impl History {
    pub fn new(at: Instant, first: Counters) -> History {
        History {
            first: first.clone(),
            samples: VecDeque::from([(at, first)]),
        }
    }

    /// Keep a sample; returns what rose since the daemon started and since the oldest sample
    /// kept (at least `RECENT` ago where there is one that old) with that sample's age.
    pub fn record(&mut self, at: Instant, now: Counters) -> (Counters, Counters, Duration) {
        // Keep the newest sample older than RECENT as the base; drop those before it.
        while self.samples.len() > 1 && at.duration_since(self.samples[1].0) >= RECENT {
            self.samples.pop_front();
        }
        let (base_at, base) = self.samples.front().cloned().expect("never empty");
        let since_start = now.since(&self.first);
        let lately = now.since(&base);
        self.samples.push_back((at, now));
        (since_start, lately, at.duration_since(base_at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NETSTAT: &str = "TcpExt: SyncookiesSent\nTcpExt: 0\n\
        MPTcpExt: MPCapableSYNTX MPJoinSynTx MPCapableFallbackSYNACK MPCurrEstab Blackhole\n\
        MPTcpExt: 2 3 1 1 0\n";

    #[test]
    fn the_mptcp_lines_parse_by_name() {
        let c = Counters::parse(NETSTAT).unwrap();
        assert_eq!(c.get("MPJoinSynTx"), 3);
        assert_eq!(c.get(CURRENTLY_ESTABLISHED), 1);
        assert_eq!(c.get("NoSuchCounter"), 0);
        assert_eq!(Counters::parse("TcpExt: A\nTcpExt: 1\n"), None);
        assert_eq!(Counters::parse("MPTcpExt: A B\nMPTcpExt: 1 x\n"), None);
        let fallback = c.risen(Kind::Fallback);
        assert_eq!(fallback.len(), 1);
        assert_eq!(fallback[0].0.name, "MPCapableFallbackSYNACK");
        assert!(c.risen(Kind::Blackhole).is_empty());
    }

    #[test]
    fn every_counter_is_named_once() {
        let mut names: Vec<&str> = MEANINGS.iter().map(|m| m.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), MEANINGS.len());
    }

    #[test]
    fn history_looks_back_at_least_recent_and_from_the_start() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let c = |v: u64| Counters(BTreeMap::from([("Blackhole".to_owned(), v)]));
        let mut history = History::new(at(0), c(1));
        let (start, lately, age) = history.record(at(10), c(3));
        assert_eq!(
            (start.get("Blackhole"), lately.get("Blackhole"), age),
            (2, 2, Duration::from_secs(10))
        );
        history.record(at(200), c(4));
        // At 400 s the sample of 10 s is more than RECENT old, the one of 200 s is not: the
        // base stays the newest one before the window, 10 s.
        let (_, lately, age) = history.record(at(400), c(6));
        assert_eq!(
            (lately.get("Blackhole"), age),
            (3, Duration::from_secs(390))
        );
        let (start, lately, age) = history.record(at(800), c(6));
        assert_eq!((start.get("Blackhole"), lately.get("Blackhole")), (5, 0));
        assert_eq!(age, Duration::from_secs(400));
        // A counter reset (a new namespace) counts from 0.
        assert_eq!(c(2).since(&c(9)).get("Blackhole"), 2);
    }
}
