//! "Is MPTCP working here?": the warnings that come from the traffic itself, the live
//! connections (`usage`), the kernel's own route lookups and its counters (`counters`), each
//! naming the link or profile and, where there is one, the command that fixes it.
//!
//! Route lookups are I/O, so they come in two steps: `route_questions` says which lookups
//! matter, the shell asks the kernel, and `diagnose` reads the answers.

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::counters::{Counters, Kind};
use crate::escape::terminal_safe;
use crate::flags::EndpointFlags;
use crate::limits::Limits;
use crate::model::KernelEndpoint;
use crate::planner::{DevicePlan, Plan};
use crate::report::{CounterRise, Warning};
use crate::usage::{Connection, Usage};

/// At most this many peers get route lookups per status: a busy server's thousands of
/// connections must not become thousands of lookups.
pub const PEERS_ASKED: usize = 64;

/// One route lookup the kernel's path manager would make for a join: from a subflow
/// endpoint's address, bound to its device, to a connection's peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteQuestion {
    pub source: IpAddr,
    pub ifindex: u32,
    pub peer: IpAddr,
}

/// What the kernel's route lookup answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouteAnswer {
    /// A route on that device leads to the peer (through a gateway or on a connected prefix).
    Routed,
    /// No route there: the kernel takes the peer as on-link (its answer names no table) or
    /// finds it unreachable. A join from there never completes.
    NoRoute,
}

/// What the shell gathered beyond the plan and the endpoints.
pub struct Evidence<'a> {
    pub connections: &'a [Connection],
    pub routes: &'a [(RouteQuestion, RouteAnswer)],
    /// What rose lately and over how long: the daemon's history (`counters::History`);
    /// `None` for a one-off `status`, which has no earlier sample.
    pub lately: Option<(&'a Counters, Duration)>,
    pub usage: &'a Usage,
}

/// The lookups that matter: for each connection this host may extend, each subflow endpoint
/// of the peer's family with no subflow of it yet.
pub fn route_questions(
    connections: &[Connection],
    kernel: &[KernelEndpoint],
) -> Vec<RouteQuestion> {
    let mut peers: Vec<IpAddr> = Vec::new();
    let mut questions = Vec::new();
    for c in connections.iter().filter(|c| c.extendable()) {
        let peer = c.peer.ip();
        if !peers.contains(&peer) {
            if peers.len() == PEERS_ASKED {
                continue;
            }
            peers.push(peer);
        }
        for k in kernel {
            let Some(ifindex) = k.ifindex else { continue };
            let question = RouteQuestion {
                source: k.address,
                ifindex,
                peer,
            };
            if k.flags.contains(EndpointFlags::SUBFLOW)
                && k.address.is_ipv4() == peer.is_ipv4()
                && k.address != c.local.ip()
                && c.subflows_from(k.address) == 0
                && !questions.contains(&question)
            {
                questions.push(question);
            }
        }
    }
    questions
}

/// What the connections, routes and counters say needs attention.
pub fn diagnose(
    plan: &Plan,
    kernel: &[KernelEndpoint],
    limits: Limits,
    limits_fix: &str,
    evidence: &Evidence,
) -> Vec<Warning> {
    // One warning an endpoint: its first peer without a route, and how many more.
    let mut unrouted: Vec<(&RouteQuestion, u32)> = Vec::new();
    for (q, _) in evidence
        .routes
        .iter()
        .filter(|(_, answer)| *answer == RouteAnswer::NoRoute)
    {
        match unrouted
            .iter_mut()
            .find(|(first, _)| (first.source, first.ifindex) == (q.source, q.ifindex))
        {
            Some((_, others)) => *others += 1,
            None => unrouted.push((q, 0)),
        }
    }
    let mut warnings: Vec<Warning> = unrouted
        .into_iter()
        .map(|(q, others)| no_route(plan, q, others, evidence))
        .collect();
    warnings.extend(fallback(plan, evidence));
    if let Some((lately, over)) = evidence.lately {
        let errors = rises(lately, Kind::JoinError);
        if !errors.is_empty() {
            warnings.push(Warning::JoinErrors {
                errors,
                minutes: minutes(over),
            });
        }
        let blackholes = rises(lately, Kind::Blackhole);
        if !blackholes.is_empty() {
            warnings.push(Warning::Blackhole {
                detected: blackholes,
                minutes: minutes(over),
            });
        }
    }
    warnings.extend(subflow_limit(
        kernel,
        limits,
        limits_fix,
        evidence.connections,
    ));
    warnings
}

fn minutes(over: Duration) -> u64 {
    over.as_secs().div_ceil(60).max(1)
}

fn rises(lately: &Counters, kind: Kind) -> Vec<CounterRise> {
    lately
        .risen(kind)
        .into_iter()
        .map(|(meaning, rise)| CounterRise {
            counter: meaning.name.to_owned(),
            meaning: meaning.words.to_owned(),
            rise,
        })
        .collect()
}

/// A word a shell reads back as `word`, printable in a terminal: plain where it is made of
/// safe characters, else single-quoted, with no backslash a reader would have to undo (control
/// characters, which no shell word should hold, are still escaped for the terminal).
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+@%=,".contains(&b));
    if plain {
        word.to_owned()
    } else {
        terminal_safe(&format!("'{}'", word.replace('\'', r#"'"'"'"#)))
    }
}

/// The device whose address (endpoint or not) this is.
fn device_with(plan: &Plan, address: IpAddr) -> Option<&DevicePlan> {
    plan.devices
        .iter()
        .find(|d| d.addresses.iter().any(|a| a.address == address))
}

fn no_route(plan: &Plan, q: &RouteQuestion, other_peers: u32, evidence: &Evidence) -> Warning {
    let device = plan
        .devices
        .iter()
        .find(|d| d.ifindex == q.ifindex)
        .or_else(|| device_with(plan, q.source));
    let gateway = device.and_then(|d| {
        d.gateways
            .iter()
            .copied()
            .find(|g| g.is_ipv4() == q.peer.is_ipv4())
    });
    let interface = device.map(|d| d.interface.clone());
    let command = match (device, gateway) {
        (Some(d), Some(gateway)) => {
            let (family, host) = if q.peer.is_ipv4() { (4, 32) } else { (6, 128) };
            Some(format!(
                "nmcli connection modify {} +ipv{family}.routes \"{}/{host} {gateway}\" && nmcli device reapply {}",
                shell_word(&d.profile.uuid),
                q.peer,
                shell_word(&d.interface)
            ))
        }
        _ => None,
    };
    Warning::NoRouteToPeer {
        endpoint: q.source,
        interface,
        profile: device.map(|d| d.profile.id.clone()),
        peer: q.peer,
        other_peers,
        gateway,
        joins_pending: evidence.usage.at(q.source).joins_pending,
        joins_unanswered: evidence.lately.map(|(lately, _)| {
            lately
                .get("MPJoinSynTx")
                .saturating_sub(lately.get("MPJoinSynAckRx"))
        }),
        command,
    }
}

/// Connections this host opened that the peer answered without MPTCP, and the fallback
/// counters' rise.
fn fallback(plan: &Plan, evidence: &Evidence) -> Option<Warning> {
    let fallen: Vec<&Connection> = evidence
        .connections
        .iter()
        .filter(|c| c.fallen_back && !c.accepted)
        .collect();
    let lately = evidence
        .lately
        .map(|(lately, over)| (rises(lately, Kind::Fallback), over));
    let counted: u64 = lately
        .iter()
        .flat_map(|(r, _)| r.iter().map(|r| r.rise))
        .sum();
    if fallen.is_empty() && counted == 0 {
        return None;
    }
    let mut peers: Vec<String> = fallen.iter().map(|c| c.peer.to_string()).collect();
    peers.sort();
    peers.dedup();
    let mut interfaces: Vec<String> = fallen
        .iter()
        .filter_map(|c| device_with(plan, c.local.ip()).map(|d| d.interface.clone()))
        .collect();
    interfaces.sort();
    interfaces.dedup();
    Some(Warning::FallbackToTcp {
        connections: fallen.len() as u32,
        peers,
        interfaces,
        counters: lately.as_ref().map(|(r, _)| r.clone()).unwrap_or_default(),
        minutes: lately.map(|(_, over)| minutes(over)),
    })
}

/// Connections with every subflow the limit allows while subflow endpoints wait unused.
fn subflow_limit(
    kernel: &[KernelEndpoint],
    limits: Limits,
    limits_fix: &str,
    connections: &[Connection],
) -> Option<Warning> {
    let mut at_limit = 0u32;
    let mut waiting: Vec<IpAddr> = Vec::new();
    for c in connections.iter().filter(|c| c.extendable()) {
        if c.joins() < limits.subflows as usize {
            continue;
        }
        let unused: Vec<IpAddr> = kernel
            .iter()
            .filter(|k| k.flags.contains(EndpointFlags::SUBFLOW))
            .map(|k| k.address)
            .filter(|a| a.is_ipv4() == c.peer.is_ipv4() && *a != c.local.ip())
            .filter(|a| !c.subflows.iter().any(|s| s.local.ip() == *a))
            .collect();
        if unused.is_empty() {
            continue;
        }
        at_limit += 1;
        for a in unused {
            if !waiting.contains(&a) {
                waiting.push(a);
            }
        }
    }
    (at_limit > 0).then(|| Warning::SubflowLimitReached {
        connections: at_limit,
        subflows: limits.subflows,
        waiting,
        fix: limits_fix.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing as fixtures;
    use crate::usage::{Subflow, SubflowFlags};

    fn connection(local: &str, peer: &str, subflows: &[(&str, SubflowFlags)]) -> Connection {
        let mut list = vec![Subflow {
            local: local.parse().unwrap(),
            remote: peer.parse().unwrap(),
            established: true,
            listening: false,
            token: 1,
            flags: SubflowFlags::MCAP_LOC | SubflowFlags::MCAP_REM | SubflowFlags::CONNECTED,
        }];
        list.extend(subflows.iter().map(|(l, flags)| Subflow {
            local: l.parse().unwrap(),
            remote: peer.parse().unwrap(),
            established: flags.contains(SubflowFlags::CONNECTED),
            listening: false,
            token: 1,
            flags: *flags,
        }));
        crate::usage::connections(&list).remove(0)
    }

    fn endpoint(id: u8, address: &str, ifindex: u32, flags: EndpointFlags) -> KernelEndpoint {
        KernelEndpoint {
            id,
            address: address.parse().unwrap(),
            ifindex: Some(ifindex),
            port: 0,
            flags,
        }
    }

    #[test]
    fn questions_skip_endpoints_in_use_other_families_and_accepted_connections() {
        let kernel = [
            endpoint(1, "192.0.2.2", 2, EndpointFlags::SUBFLOW),
            endpoint(2, "198.51.100.2", 3, EndpointFlags::SUBFLOW),
            endpoint(3, "203.0.113.2", 4, EndpointFlags::SUBFLOW),
            endpoint(4, "2001:db8::2", 4, EndpointFlags::SUBFLOW),
            endpoint(5, "192.0.2.9", 2, EndpointFlags::SIGNAL),
        ];
        let joined = SubflowFlags::JOIN_LOC | SubflowFlags::CONNECTED;
        let c = connection(
            "192.0.2.2:4000",
            "10.99.0.1:5201",
            &[("203.0.113.2:4001", joined)],
        );
        let questions = route_questions(std::slice::from_ref(&c), &kernel);
        assert_eq!(
            questions,
            [RouteQuestion {
                source: "198.51.100.2".parse().unwrap(),
                ifindex: 3,
                peer: "10.99.0.1".parse().unwrap()
            }]
        );
        let mut accepted = c;
        accepted.accepted = true;
        assert!(route_questions(&[accepted], &kernel).is_empty());
    }

    #[test]
    fn a_fix_command_quotes_what_a_shell_would_read_otherwise() {
        assert_eq!(shell_word("enp4s0f1"), "enp4s0f1");
        assert_eq!(shell_word("a;b"), "'a;b'");
        assert_eq!(shell_word("it's"), r#"'it'"'"'s'"#);
        assert_eq!(shell_word(r"a\b"), r"'a\b'");
        assert_eq!(shell_word(""), "''");
    }

    #[test]
    fn the_peer_count_is_capped() {
        let kernel = [endpoint(2, "198.51.100.2", 3, EndpointFlags::SUBFLOW)];
        let many: Vec<Connection> = (0..200u32)
            .map(|i| {
                let peer = format!("10.{}.{}.1:80", i / 250, i % 250);
                connection("192.0.2.2:4000", &peer, &[])
            })
            .collect();
        assert_eq!(route_questions(&many, &kernel).len(), PEERS_ASKED);
    }

    #[test]
    fn the_ipv6_fix_routes_the_peer_through_the_links_ipv6_router() {
        let mut plan = fixtures::two_link_plan();
        plan.devices[1].gateways.push("fe80::1".parse().unwrap());
        let routes = [(
            RouteQuestion {
                source: "2001:db8:1::2".parse().unwrap(),
                ifindex: plan.devices[1].ifindex,
                peer: "2001:db8:99::1".parse().unwrap(),
            },
            RouteAnswer::NoRoute,
        )];
        let usage = Usage::default();
        let evidence = Evidence {
            connections: &[],
            routes: &routes,
            lately: None,
            usage: &usage,
        };
        let warnings = diagnose(&plan, &[], Limits::default(), "", &evidence);
        let [Warning::NoRouteToPeer { command, .. }] = &warnings[..] else {
            panic!("{warnings:?}")
        };
        assert_eq!(
            command.as_deref(),
            Some("nmcli connection modify uuid-1 +ipv6.routes \"2001:db8:99::1/128 fe80::1\" && nmcli device reapply eth1")
        );
    }

    #[test]
    fn many_peers_without_a_route_make_one_warning_an_endpoint() {
        let plan = fixtures::two_link_plan();
        let routes: Vec<(RouteQuestion, RouteAnswer)> = (1..=40)
            .map(|n| {
                let question = RouteQuestion {
                    source: "198.51.100.2".parse().unwrap(),
                    ifindex: plan.devices[1].ifindex,
                    peer: format!("10.99.0.{n}").parse().unwrap(),
                };
                (question, RouteAnswer::NoRoute)
            })
            .collect();
        let usage = Usage::default();
        let evidence = Evidence {
            connections: &[],
            routes: &routes,
            lately: None,
            usage: &usage,
        };
        let warnings = diagnose(&plan, &[], Limits::default(), "", &evidence);
        let [Warning::NoRouteToPeer {
            peer, other_peers, ..
        }] = &warnings[..]
        else {
            panic!("{warnings:?}")
        };
        assert_eq!((peer.to_string().as_str(), *other_peers), ("10.99.0.1", 39));
        assert!(warnings[0].to_string().contains("39 other peer(s)"));
    }

    #[test]
    fn no_route_names_the_link_the_peer_and_the_fix_through_the_links_gateway() {
        let mut plan = fixtures::two_link_plan();
        let question = RouteQuestion {
            source: "198.51.100.2".parse().unwrap(),
            ifindex: plan.devices[1].ifindex,
            peer: "10.99.0.1".parse().unwrap(),
        };
        let usage = Usage::default();
        let lately = Counters(
            [
                ("MPJoinSynTx".to_owned(), 3),
                ("MPJoinSynAckRx".to_owned(), 1),
            ]
            .into_iter()
            .collect(),
        );
        let routes = [(question, RouteAnswer::NoRoute)];
        let evidence = Evidence {
            connections: &[],
            routes: &routes,
            lately: Some((&lately, Duration::from_secs(30))),
            usage: &usage,
        };
        let warnings = diagnose(&plan, &[], Limits::default(), "", &evidence);
        let [Warning::NoRouteToPeer {
            interface,
            command,
            joins_unanswered,
            ..
        }] = &warnings[..]
        else {
            panic!("{warnings:?}")
        };
        assert_eq!(interface.as_deref(), Some("eth1"));
        assert_eq!(*joins_unanswered, Some(2));
        assert_eq!(
            command.as_deref(),
            Some("nmcli connection modify uuid-1 +ipv4.routes \"10.99.0.1/32 198.51.100.1\" && nmcli device reapply eth1")
        );
        assert!(
            warnings[0].to_string().contains("10.99.0.1"),
            "{}",
            warnings[0]
        );

        plan.devices[1].gateways.clear();
        let warnings = diagnose(&plan, &[], Limits::default(), "", &evidence);
        let [Warning::NoRouteToPeer { command: None, .. }] = &warnings[..] else {
            panic!("{warnings:?}")
        };
        assert!(
            warnings[0].to_string().contains("no gateway"),
            "{}",
            warnings[0]
        );

        let routed = [(question, RouteAnswer::Routed)];
        let evidence = Evidence {
            routes: &routed,
            ..evidence
        };
        assert!(diagnose(&plan, &[], Limits::default(), "", &evidence).is_empty());
    }

    #[test]
    fn fallback_from_live_connections_or_rising_counters() {
        let plan = fixtures::two_link_plan();
        let usage = Usage::default();
        let mut fell = connection("192.0.2.2:4000", "10.99.0.1:5301", &[]);
        fell.fallen_back = true;
        let connections = [fell.clone()];
        let evidence = Evidence {
            connections: &connections,
            routes: &[],
            lately: None,
            usage: &usage,
        };
        let warnings = diagnose(&plan, &[], Limits::default(), "", &evidence);
        let [Warning::FallbackToTcp {
            connections: 1,
            peers,
            interfaces,
            ..
        }] = &warnings[..]
        else {
            panic!("{warnings:?}")
        };
        assert_eq!(
            (peers[0].as_str(), interfaces[0].as_str()),
            ("10.99.0.1:5301", "eth0")
        );

        // An accepted plain TCP connection is a client without MPTCP, nothing to fix here.
        fell.accepted = true;
        let connections = [fell];
        let quiet = Counters::default();
        let evidence = Evidence {
            connections: &connections,
            lately: Some((&quiet, Duration::from_secs(60))),
            ..evidence
        };
        assert!(diagnose(&plan, &[], Limits::default(), "", &evidence).is_empty());

        let risen = Counters(
            [
                ("MPCapableFallbackSYNACK".to_owned(), 2),
                ("MPJoinSynTxBindErr".to_owned(), 1),
                ("Blackhole".to_owned(), 1),
            ]
            .into_iter()
            .collect(),
        );
        let evidence = Evidence {
            lately: Some((&risen, Duration::from_secs(90))),
            ..evidence
        };
        let codes: Vec<String> = diagnose(&plan, &[], Limits::default(), "", &evidence)
            .iter()
            .map(Warning::code)
            .collect();
        assert_eq!(codes, ["fallback-to-tcp", "join-errors", "blackhole"]);
    }

    #[test]
    fn subflow_limit_reached_only_while_endpoints_wait() {
        let plan = fixtures::two_link_plan();
        let kernel = [
            endpoint(1, "192.0.2.2", 2, EndpointFlags::SUBFLOW),
            endpoint(2, "198.51.100.2", 3, EndpointFlags::SUBFLOW),
            endpoint(3, "203.0.113.2", 4, EndpointFlags::SUBFLOW),
        ];
        let joined = SubflowFlags::JOIN_LOC | SubflowFlags::CONNECTED;
        let c = connection(
            "192.0.2.2:4000",
            "10.99.0.1:5201",
            &[("198.51.100.2:4001", joined)],
        );
        let usage = Usage::default();
        let connections = [c];
        let evidence = Evidence {
            connections: &connections,
            routes: &[],
            lately: None,
            usage: &usage,
        };
        let one = Limits {
            subflows: 1,
            add_addr_accepted: 0,
        };
        let warnings = diagnose(&plan, &kernel, one, "raise it", &evidence);
        let [Warning::SubflowLimitReached {
            connections: 1,
            waiting,
            ..
        }] = &warnings[..]
        else {
            panic!("{warnings:?}")
        };
        assert_eq!(waiting, &["203.0.113.2".parse::<IpAddr>().unwrap()]);
        let two = Limits { subflows: 2, ..one };
        assert!(diagnose(&plan, &kernel, two, "", &evidence).is_empty());
    }
}
