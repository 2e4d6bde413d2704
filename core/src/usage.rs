//! Whether MPTCP carries traffic now: the kernel's TCP subflows (read with sock_diag by the
//! shell) grouped into their MPTCP connections by the connection's token, and counted per
//! local address, so each endpoint can say how many connections and subflows use it.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use bitflags::bitflags;
use serde::{Deserialize, Serialize};

bitflags! {
    /// A subflow's `MPTCP_SUBFLOW_FLAG_*` (uapi/linux/mptcp.h), the letters of `ss -i`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub struct SubflowFlags: u32 {
        /// `M`: the peer sent MP_CAPABLE.
        const MCAP_REM = 1 << 0;
        /// `m`: this host asked for MPTCP (MP_CAPABLE in its SYN).
        const MCAP_LOC = 1 << 1;
        /// `J`: a join the peer started.
        const JOIN_REM = 1 << 2;
        /// `j`: a join this host started.
        const JOIN_LOC = 1 << 3;
        const BKUP_REM = 1 << 4;
        const BKUP_LOC = 1 << 5;
        const FULLY_ESTABLISHED = 1 << 6;
        const CONNECTED = 1 << 7;
        const MAPVALID = 1 << 8;
    }
}

/// One TCP socket carrying the `mptcp` upper-layer protocol, as sock_diag reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subflow {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// TCP state ESTABLISHED.
    pub established: bool,
    /// A listening socket: an MPTCP server's (its token is none).
    pub listening: bool,
    /// The MPTCP connection's local token.
    pub token: u32,
    pub flags: SubflowFlags,
}

impl Subflow {
    /// An additional subflow (MP_JOIN), not the connection's first.
    pub fn is_join(&self) -> bool {
        self.flags
            .intersects(SubflowFlags::JOIN_LOC | SubflowFlags::JOIN_REM)
    }
}

/// One MPTCP connection: its subflows, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub token: u32,
    /// The first subflow's addresses (or, once it closed, those of another).
    pub local: SocketAddr,
    pub peer: SocketAddr,
    /// Accepted from an MPTCP listener on this host: the peer started it.
    pub accepted: bool,
    /// Its first subflow is established without the peer's MP_CAPABLE: plain TCP.
    pub fallen_back: bool,
    pub subflows: Vec<Subflow>,
}

impl Connection {
    /// Established subflows from `address`.
    pub fn subflows_from(&self, address: IpAddr) -> usize {
        self.subflows
            .iter()
            .filter(|s| s.established && s.local.ip() == address)
            .count()
    }

    /// Joins, established or under way: what counts against the `subflows` limit.
    pub fn joins(&self) -> usize {
        self.subflows.iter().filter(|s| s.is_join()).count()
    }

    /// The connection is this host's to extend with subflow endpoints (the in-kernel path
    /// manager opens subflows from the side that connected).
    pub fn extendable(&self) -> bool {
        !self.accepted && !self.fallen_back
    }
}

/// A connection's token, and for token 0 its one subflow's addresses.
type ConnectionKey = (u32, Option<(SocketAddr, SocketAddr)>);

/// The subflows grouped into connections, listeners aside, in token order.
pub fn connections(subflows: &[Subflow]) -> Vec<Connection> {
    let listening_ports: Vec<SocketAddr> = subflows
        .iter()
        .filter(|s| s.listening)
        .map(|s| s.local)
        .collect();
    let accepted_on = |local: SocketAddr| {
        listening_ports
            .iter()
            .any(|l| l.port() == local.port() && (l.ip().is_unspecified() || l.ip() == local.ip()))
    };
    // Token 0 is no token: a connection that fell back before it got one (a blackhole's
    // active disable, TCP-MD5, ...) is its one subflow.
    let mut by_token: BTreeMap<ConnectionKey, Vec<Subflow>> = BTreeMap::new();
    for s in subflows.iter().filter(|s| !s.listening) {
        let lone = (s.token == 0).then_some((s.local, s.remote));
        by_token.entry((s.token, lone)).or_default().push(s.clone());
    }
    by_token
        .into_iter()
        .map(|((token, _), subflows)| {
            let first = subflows
                .iter()
                .find(|s| !s.is_join())
                .unwrap_or(&subflows[0]);
            Connection {
                token,
                local: first.local,
                peer: first.remote,
                accepted: accepted_on(first.local),
                fallen_back: !first.is_join()
                    && first.established
                    && !first.flags.contains(SubflowFlags::MCAP_REM),
                subflows: subflows.clone(),
            }
        })
        .collect()
}

/// How many connections and subflows use one local address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressUsage {
    pub connections: u32,
    /// Established subflows.
    pub subflows: u32,
    /// Joins sent from it and not answered yet.
    pub joins_pending: u32,
}

/// The host's MPTCP connections in numbers, and per local address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub connections: u32,
    /// Established subflows of all connections.
    pub subflows: u32,
    /// Connections that fell back to plain TCP.
    pub fallen_back: u32,
    pub joins_pending: u32,
    pub by_address: BTreeMap<IpAddr, AddressUsage>,
}

impl Usage {
    pub fn of(connections: &[Connection]) -> Usage {
        let mut usage = Usage::default();
        for c in connections {
            usage.connections += 1;
            usage.fallen_back += u32::from(c.fallen_back);
            let mut counted: Vec<IpAddr> = Vec::new();
            for s in &c.subflows {
                let at = usage.by_address.entry(s.local.ip()).or_default();
                if s.established {
                    usage.subflows += 1;
                    at.subflows += 1;
                } else if s.flags.contains(SubflowFlags::JOIN_LOC) {
                    usage.joins_pending += 1;
                    at.joins_pending += 1;
                }
                if s.established && !counted.contains(&s.local.ip()) {
                    counted.push(s.local.ip());
                    at.connections += 1;
                }
            }
        }
        usage
    }

    pub fn at(&self, address: IpAddr) -> AddressUsage {
        self.by_address.get(&address).copied().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subflow(local: &str, remote: &str, token: u32, flags: SubflowFlags) -> Subflow {
        Subflow {
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
            established: flags.contains(SubflowFlags::CONNECTED),
            listening: false,
            token,
            flags,
        }
    }

    const FIRST: SubflowFlags = SubflowFlags::MCAP_REM
        .union(SubflowFlags::MCAP_LOC)
        .union(SubflowFlags::CONNECTED);
    const JOINED: SubflowFlags = SubflowFlags::JOIN_LOC.union(SubflowFlags::CONNECTED);

    #[test]
    fn connections_without_a_token_stay_apart() {
        let plain = SubflowFlags::MCAP_LOC | SubflowFlags::CONNECTED;
        let found = connections(&[
            subflow("192.0.2.2:4000", "10.99.0.1:80", 0, plain),
            subflow("192.0.2.2:4001", "10.99.0.1:80", 0, plain),
        ]);
        assert_eq!(found.len(), 2);
        assert!(found.iter().all(|c| c.fallen_back && c.subflows.len() == 1));
    }

    #[test]
    fn subflows_group_by_token_and_count_per_address() {
        let subflows = [
            subflow("192.0.2.2:40000", "10.99.0.1:5201", 7, FIRST),
            subflow("198.51.100.2:40001", "10.99.0.1:5201", 7, JOINED),
            subflow(
                "203.0.113.2:40002",
                "10.99.0.1:5201",
                7,
                SubflowFlags::JOIN_LOC,
            ),
            subflow("192.0.2.2:40003", "10.99.0.2:80", 9, FIRST),
        ];
        let connections = connections(&subflows);
        assert_eq!(connections.len(), 2);
        let first = &connections[0];
        assert_eq!(first.peer, "10.99.0.1:5201".parse().unwrap());
        assert_eq!((first.joins(), first.extendable()), (2, true));
        let usage = Usage::of(&connections);
        assert_eq!(
            (usage.connections, usage.subflows, usage.joins_pending),
            (2, 3, 1)
        );
        let at = |a: &str| usage.at(a.parse().unwrap());
        assert_eq!(
            at("192.0.2.2"),
            AddressUsage {
                connections: 2,
                subflows: 2,
                joins_pending: 0
            }
        );
        assert_eq!(at("203.0.113.2").joins_pending, 1);
        assert_eq!(at("203.0.113.2").connections, 0);
        assert_eq!(at("192.0.2.9"), AddressUsage::default());
    }

    #[test]
    fn fallback_and_accepted_connections_are_told_apart() {
        let mut listener = subflow("0.0.0.0:5201", "0.0.0.0:0", 0, SubflowFlags::empty());
        listener.listening = true;
        let subflows = [
            listener,
            // ss: `flags:mc`, the peer answered without MP_CAPABLE.
            subflow(
                "192.0.2.2:40000",
                "10.99.0.1:5301",
                1,
                SubflowFlags::MCAP_LOC | SubflowFlags::CONNECTED,
            ),
            subflow(
                "192.0.2.2:5201",
                "10.99.0.7:33000",
                2,
                SubflowFlags::MCAP_REM | SubflowFlags::CONNECTED,
            ),
        ];
        let connections = connections(&subflows);
        assert_eq!(connections.len(), 2, "the listener is no connection");
        assert!(connections[0].fallen_back && !connections[0].extendable());
        assert!(connections[1].accepted && !connections[1].fallen_back);
        assert_eq!(Usage::of(&connections).fallen_back, 1);
    }
}
