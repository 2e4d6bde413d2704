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
