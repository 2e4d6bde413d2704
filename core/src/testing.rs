//! Fixtures for the tests of the core and of the shell (the `testing` feature): the few
//! values most tests build.

use crate::flags::EndpointFlags;
use crate::model::{DesiredEndpoint, ProfileRef};
use crate::nm_version::NmVersion;
use crate::planner::Plan;

/// An endpoint nm-mptcp wants, for profile `p` (uuid `u`).
pub fn desired(
    address: &str,
    ifindex: u32,
    interface: &str,
    flags: EndpointFlags,
) -> DesiredEndpoint {
    DesiredEndpoint {
        address: address.parse().expect("test address"),
        ifindex,
        interface: interface.into(),
        flags,
        profile: ProfileRef {
            id: "p".into(),
            uuid: "u".into(),
        },
    }
}

/// A plan of these endpoints and nothing else, on NetworkManager 1.42.4 with MPTCP on.
pub fn plan_of(endpoints: Vec<DesiredEndpoint>) -> Plan {
    Plan {
        nm_version: NmVersion::new(1, 42, 4),
        sysctl_enabled: Some(true),
        devices: Vec::new(),
        endpoints,
        awaiting_addresses: false,
        superseded: Vec::new(),
    }
}

/// Two links as the traffic diagnostics see them: eth0 (ifindex 2, profile p0, uuid-0) with
/// 192.0.2.2 and its gateway 192.0.2.1; eth1 (ifindex 3, p1, uuid-1) with 198.51.100.2 and
/// the router 198.51.100.1 known there.
pub fn two_link_plan() -> Plan {
    use crate::flags::{FlagsSource, MptcpFlags};
    use crate::model::AddressSource;
    use crate::planner::{AddressDecision, Decision, DevicePlan, Reason};
    let device = |n: u32, address: &str, gateway: &str| DevicePlan {
        interface: format!("eth{n}"),
        ifindex: n + 2,
        profile: ProfileRef {
            id: format!("p{n}"),
            uuid: format!("uuid-{n}"),
        },
        flags: MptcpFlags::ENABLED | MptcpFlags::SUBFLOW,
        flags_source: FlagsSource::Profile,
        endpoint_flags: EndpointFlags::SUBFLOW,
        metered_as_backup: false,
        addresses: vec![AddressDecision {
            address: address.parse().expect("test address"),
            source: AddressSource::Profile,
            decision: Decision::Endpoint,
            reason: Reason::Selected,
            priority: Some(99),
        }],
        gateways: vec![gateway.parse().expect("test gateway")],
    };
    Plan {
        devices: vec![
            device(0, "192.0.2.2", "192.0.2.1"),
            device(1, "198.51.100.2", "198.51.100.1"),
        ],
        ..plan_of(Vec::new())
    }
}
