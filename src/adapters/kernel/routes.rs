//! The kernel's own route lookup for a join (`ip route get PEER from ENDPOINT oif DEVICE`):
//! where the kernel finds no route on that device it answers anyway, taking the peer as
//! on-link, and that answer names no routing table. That is the tell of `no-route-to-peer`.

use std::net::IpAddr;

use futures_util::StreamExt;
use netlink_packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_REQUEST};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use nix::libc;

use nm_mptcp_core::diagnose::{RouteAnswer, RouteQuestion};
use nm_mptcp_core::error::Error;

/// Each question with the kernel's answer, where it gave a clear one (an endpoint gone
/// between the dump and the lookup is no evidence of a missing route); none asked, no socket
/// opened.
pub(crate) async fn answers(
    questions: Vec<RouteQuestion>,
) -> Result<Vec<(RouteQuestion, RouteAnswer)>, Error> {
    if questions.is_empty() {
        return Ok(Vec::new());
    }
    let (connection, handle, _) = rtnetlink::new_connection()
        .map_err(|e| Error::kernel(format!("cannot open an rtnetlink socket: {e}")))?;
    let task = tokio::spawn(connection);
    let mut answered = Vec::with_capacity(questions.len());
    for q in questions {
        if let Some(answer) = lookup(handle.clone(), &q).await {
            answered.push((q, answer));
        }
    }
    task.abort();
    Ok(answered)
}

async fn lookup(mut handle: rtnetlink::Handle, q: &RouteQuestion) -> Option<RouteAnswer> {
    let mut message = RouteMessage::default();
    let (family, bits, peer, source) = match (q.peer, q.source) {
        (IpAddr::V4(peer), IpAddr::V4(source)) => (
            AddressFamily::Inet,
            32,
            RouteAddress::Inet(peer),
            RouteAddress::Inet(source),
        ),
        (IpAddr::V6(peer), IpAddr::V6(source)) => (
            AddressFamily::Inet6,
            128,
            RouteAddress::Inet6(peer),
            RouteAddress::Inet6(source),
        ),
        _ => return None,
    };
    message.header.address_family = family;
    message.header.destination_prefix_length = bits;
    message.header.source_prefix_length = bits;
    // Without it the kernel answers "main" whatever it found.
    message.header.flags = RouteFlags::LookupTable;
    message.attributes = vec![
        RouteAttribute::Destination(peer),
        RouteAttribute::Source(source),
        RouteAttribute::Oif(q.ifindex),
    ];
    let mut request = NetlinkMessage::from(RouteNetlinkMessage::GetRoute(message));
    request.header.flags = NLM_F_REQUEST;
    let mut replies = handle.request(request).ok()?;
    while let Some(reply) = replies.next().await {
        match reply.payload {
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(route)) => {
                return Some(verdict(&route))
            }
            // IPv6 with no route at all; any other refusal says nothing of routes.
            NetlinkPayload::Error(e) => {
                let errno = e.code.map_or(0, |c| -c.get());
                return (errno == libc::ENETUNREACH || errno == libc::EHOSTUNREACH)
                    .then_some(RouteAnswer::NoRoute);
            }
            _ => {}
        }
    }
    None
}

/// A route matched when the answer names its table and is not unreachable.
fn verdict(route: &RouteMessage) -> RouteAnswer {
    let table = route
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(route.header.table));
    let reachable = matches!(route.header.kind, RouteType::Unicast | RouteType::Local);
    if table != u32::from(RouteHeader::RT_TABLE_UNSPEC) && reachable {
        RouteAnswer::Routed
    } else {
        RouteAnswer::NoRoute
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_without_a_table_is_the_on_link_guess() {
        let mut route = RouteMessage::default();
        route.header.kind = RouteType::Unicast;
        assert_eq!(verdict(&route), RouteAnswer::NoRoute);
        route.attributes.push(RouteAttribute::Table(254));
        assert_eq!(verdict(&route), RouteAnswer::Routed);
        route.header.kind = RouteType::Unreachable;
        assert_eq!(verdict(&route), RouteAnswer::NoRoute);
    }
}
