//! MPTCP's subflows from the kernel's sock_diag: one dump of TCP sockets per family, with
//! the upper-layer-protocol attribute (`INET_DIAG_ULP_INFO`) that marks the `mptcp` ones
//! and carries their connection's token and flags (what `ss -ti` prints as `tcp-ulp-mptcp`).
//!
//! netlink-packet-sock-diag (rust-netlink, like our rtnetlink) frames the request and the
//! socket identities. It has no MPTCP-level request (its protocol field is a u8 and it sends
//! no `INET_DIAG_REQ_PROTOCOL`), nor parses the ULP attribute: the subflows carry all we
//! need, and the ULP attribute is parsed here, with its wire numbers below.

use std::net::SocketAddr;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, Nla as _, NlaBuffer, NlasIterator, NLM_F_DUMP,
    NLM_F_REQUEST,
};
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP};
use netlink_packet_sock_diag::inet::nlas::Nla;
use netlink_packet_sock_diag::inet::{
    ExtensionFlags, InetRequest, InetResponse, SocketId, StateFlags,
};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket};

use nm_mptcp_core::error::Error;
use nm_mptcp_core::usage::{Subflow, SubflowFlags};

/// uapi/linux/inet_diag.h: `INET_DIAG_ULP_INFO`, and inside it `INET_ULP_INFO_NAME` and
/// `INET_ULP_INFO_MPTCP`.
const INET_DIAG_ULP_INFO: u16 = 19;
const INET_ULP_INFO_NAME: u16 = 1;
const INET_ULP_INFO_MPTCP: u16 = 3;
/// uapi/linux/mptcp.h: `MPTCP_SUBFLOW_ATTR_TOKEN_LOC` and `MPTCP_SUBFLOW_ATTR_FLAGS`.
const MPTCP_SUBFLOW_ATTR_TOKEN_LOC: u16 = 2;
const MPTCP_SUBFLOW_ATTR_FLAGS: u16 = 8;
/// include/net/tcp_states.h.
const TCP_ESTABLISHED: u8 = 1;
const TCP_LISTEN: u8 = 10;

/// Every MPTCP subflow (and MPTCP listener) in this network namespace. An error where the
/// kernel keeps the subflows' details from this process (not root): counting would be a guess.
pub(crate) fn subflows() -> Result<Vec<Subflow>, Error> {
    let root = nix::unistd::geteuid().is_root();
    // Before 6.15 the kernel leaves the ULP attribute out for unprivileged readers.
    if !root && crate::adapters::kernel::sysctl::kernel_release().is_none_or(|r| r < (6, 15)) {
        return Err(Error::kernel(
            "this kernel shows MPTCP subflows only to root (CAP_NET_ADMIN)",
        ));
    }
    let mut socket = Socket::new(NETLINK_SOCK_DIAG)
        .map_err(|e| Error::kernel(format!("cannot open a sock_diag socket: {e}")))?;
    socket
        .bind_auto()
        .and_then(|_| socket.connect(&netlink_sys::SocketAddr::new(0, 0)))
        .map_err(|e| Error::kernel(format!("cannot bind the sock_diag socket: {e}")))?;
    let mut found = Vec::new();
    let mut hidden = 0;
    for family in [AF_INET, AF_INET6] {
        dump(&mut socket, family, &mut found, &mut hidden)
            .map_err(|e| Error::kernel(format!("dumping TCP sockets (sock_diag): {e}")))?;
    }
    if hidden > 0 {
        return Err(Error::kernel(format!(
            "the kernel hides the details of {hidden} MPTCP subflow(s) from this process (not root)"
        )));
    }
    Ok(found)
}

fn dump(
    socket: &mut Socket,
    family: u8,
    found: &mut Vec<Subflow>,
    hidden: &mut usize,
) -> std::io::Result<()> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let mut request = NetlinkMessage::new(
        header,
        SockDiagMessage::InetRequest(InetRequest {
            family,
            protocol: IPPROTO_TCP,
            // INFO brings the ULP attribute (tcp_diag_get_aux).
            extensions: ExtensionFlags::INFO,
            // Request sockets (SYN_RECV) and TIME_WAIT never carry the ULP: on a busy
            // server they are most of the sockets.
            states: StateFlags::all() - StateFlags::SYN_RECV - StateFlags::TIME_WAIT,
            socket_id: if family == AF_INET {
                SocketId::new_v4()
            } else {
                SocketId::new_v6()
            },
        })
        .into(),
    );
    request.finalize();
    let mut bytes = vec![0; request.buffer_len()];
    request.serialize(&mut bytes);
    socket.send(&bytes, 0)?;
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let size = socket.recv(&mut &mut buffer[..], 0)?;
        let mut offset = 0;
        while offset < size {
            let message = NetlinkMessage::<SockDiagMessage>::deserialize(&buffer[offset..size])
                .map_err(|e| std::io::Error::other(format!("cannot parse a reply: {e}")))?;
            let length = message.header.length as usize;
            match message.payload {
                NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(response)) => {
                    match subflow(&response) {
                        Some(Ulp::Mptcp(subflow)) => found.push(subflow),
                        Some(Ulp::Hidden) => *hidden += 1,
                        None => {}
                    }
                }
                NetlinkPayload::Done(_) => return Ok(()),
                NetlinkPayload::Error(e) => {
                    return Err(e.code.map_or_else(
                        || std::io::Error::other("error reply"),
                        |code| std::io::Error::from_raw_os_error(-code.get()),
                    ))
                }
                _ => {}
            }
            if length == 0 {
                break;
            }
            offset += length;
        }
    }
}

/// A socket whose upper-layer protocol is `mptcp`.
enum Ulp {
    Mptcp(Subflow),
    /// Named `mptcp`, its details (token, flags) withheld from this process.
    Hidden,
}

/// The socket as a subflow, when its upper-layer protocol is `mptcp`.
fn subflow(response: &InetResponse) -> Option<Ulp> {
    let ulp = response.nlas.iter().find_map(|nla| match nla {
        Nla::Other(other) if other.kind() == INET_DIAG_ULP_INFO => {
            let mut value = vec![0; other.value_len()];
            other.emit_value(&mut value);
            Some(value)
        }
        _ => None,
    })?;
    let Some((token, flags)) = mptcp_ulp(&ulp)? else {
        return Some(Ulp::Hidden);
    };
    let id = &response.header.socket_id;
    // A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d.
    Some(Ulp::Mptcp(Subflow {
        local: SocketAddr::new(id.source_address.to_canonical(), id.source_port),
        remote: SocketAddr::new(id.destination_address.to_canonical(), id.destination_port),
        established: response.header.state == TCP_ESTABLISHED,
        listening: response.header.state == TCP_LISTEN,
        token,
        flags: SubflowFlags::from_bits_retain(flags),
    }))
}

/// The token and flags of an `INET_DIAG_ULP_INFO` whose name is `mptcp` (`None` for another
/// ULP; `Some(None)` when the kernel withheld them).
fn mptcp_ulp(value: &[u8]) -> Option<Option<(u32, u32)>> {
    let mut mptcp = false;
    let mut details = None;
    for nla in NlasIterator::new(value).filter_map(Result::ok) {
        match nla.kind() {
            INET_ULP_INFO_NAME => mptcp = nla.value().split(|b| *b == 0).next() == Some(b"mptcp"),
            INET_ULP_INFO_MPTCP => {
                let (mut token, mut flags) = (None, None);
                for attr in NlasIterator::new(nla.value()).filter_map(Result::ok) {
                    match attr.kind() {
                        MPTCP_SUBFLOW_ATTR_TOKEN_LOC => token = u32_of(&attr),
                        MPTCP_SUBFLOW_ATTR_FLAGS => flags = u32_of(&attr),
                        _ => {}
                    }
                }
                details = token.zip(flags);
            }
            _ => {}
        }
    }
    mptcp.then_some(details)
}

fn u32_of<T: AsRef<[u8]> + ?Sized>(nla: &NlaBuffer<&T>) -> Option<u32> {
    Some(u32::from_ne_bytes(nla.value().get(..4)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One attribute: length, kind, value, padded to 4.
    fn nla(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut out = ((4 + value.len()) as u16).to_ne_bytes().to_vec();
        out.extend(kind.to_ne_bytes());
        out.extend(value);
        out.resize(out.len().next_multiple_of(4), 0);
        out
    }

    #[test]
    fn the_mptcp_ulp_attribute_gives_token_and_flags() {
        let mut inner = nla(MPTCP_SUBFLOW_ATTR_TOKEN_LOC, &0x94f2af99u32.to_ne_bytes());
        inner.extend(nla(MPTCP_SUBFLOW_ATTR_FLAGS, &0x8bu32.to_ne_bytes()));
        let mut ulp = nla(INET_ULP_INFO_NAME, b"mptcp\0");
        ulp.extend(nla(INET_ULP_INFO_MPTCP, &inner));
        assert_eq!(mptcp_ulp(&ulp), Some(Some((0x94f2af99, 0x8b))));
        assert_eq!(mptcp_ulp(&nla(INET_ULP_INFO_NAME, b"tls\0")), None);
        // The name alone: the details withheld (an unprivileged reader).
        assert_eq!(mptcp_ulp(&nla(INET_ULP_INFO_NAME, b"mptcp\0")), Some(None));
        // A short value is no panic, and no guess.
        let mut short = nla(INET_ULP_INFO_NAME, b"mptcp\0");
        short.extend(nla(
            INET_ULP_INFO_MPTCP,
            &nla(MPTCP_SUBFLOW_ATTR_FLAGS, &[1]),
        ));
        assert_eq!(mptcp_ulp(&short), Some(None));
    }
}
