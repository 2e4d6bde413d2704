//! The kernel's MPTCP path manager over generic netlink: dump, add and delete endpoints,
//! read and set limits.
//! Handle -> request -> execute, as the rust-netlink crates do it; wire details live in
//! `mptcp_wire`.

use futures_util::StreamExt;
use genetlink::GenetlinkHandle;
use netlink_packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST};
use netlink_packet_generic::GenlMessage;
use nix::errno::Errno;

use super::mptcp_wire::{AddrAttr, Command, PmAttr, PmMessage};
use nm_mptcp_core::error::Error;
use nm_mptcp_core::flags::EndpointFlags;
use nm_mptcp_core::limits::Limits;
use nm_mptcp_core::model::{DesiredEndpoint, KernelEndpoint};

/// A change the kernel did not make: refused with an errno (so callers can tell EEXIST from
/// ERANGE), or lost on the way (the socket failed, a reply did not parse).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    #[error("{name:?} ({desc})", name = .0, desc = .0.desc())]
    Refused(Errno),
    #[error("{0}")]
    Transport(String),
}

pub(crate) struct MptcpHandle {
    handle: GenetlinkHandle,
}

impl MptcpHandle {
    /// Open a generic-netlink socket; its connection task runs on the current runtime.
    pub(crate) fn connect() -> Result<MptcpHandle, Error> {
        let (connection, handle, _) = genetlink::new_connection()
            .map_err(|e| Error::kernel(format!("cannot open a generic netlink socket: {e}")))?;
        tokio::spawn(connection);
        Ok(MptcpHandle { handle })
    }

    /// Every endpoint in this network namespace.
    pub(crate) async fn endpoints(&mut self) -> Result<Vec<KernelEndpoint>, Error> {
        let replies = self
            .execute(Command::GetAddr, vec![], NLM_F_REQUEST | NLM_F_DUMP)
            .await
            .map_err(|e| e.context("dumping MPTCP endpoints"))?;
        replies
            .into_iter()
            .map(|attrs| endpoint_from(&attrs))
            .collect()
    }

    /// Add an endpoint as NetworkManager does: address, ifindex and flags, never an id or port.
    pub(crate) async fn add(&mut self, endpoint: &DesiredEndpoint) -> Result<(), Refusal> {
        let mut attrs: Vec<AddrAttr> = AddrAttr::for_address(endpoint.address).into();
        attrs.push(AddrAttr::IfIndex(endpoint.ifindex as i32));
        if !endpoint.flags.is_empty() {
            attrs.push(AddrAttr::Flags(endpoint.flags.bits()));
        }
        self.change(Command::AddAddr, attrs).await
    }

    /// Delete the endpoint with this id (the address is sent too, as ip(8) does).
    pub(crate) async fn delete(
        &mut self,
        id: u8,
        address: std::net::IpAddr,
    ) -> Result<(), Refusal> {
        let mut attrs: Vec<AddrAttr> = AddrAttr::for_address(address).into();
        attrs.push(AddrAttr::Id(id));
        self.change(Command::DelAddr, attrs).await
    }

    /// The path manager's limits.
    pub(crate) async fn limits(&mut self) -> Result<Limits, Error> {
        let replies = self
            .execute(Command::GetLimits, vec![], NLM_F_REQUEST)
            .await
            .map_err(|e| e.context("reading MPTCP limits"))?;
        let mut limits = Limits {
            subflows: 0,
            add_addr_accepted: 0,
        };
        for attr in replies.iter().flatten() {
            match *attr {
                PmAttr::Subflows(v) => limits.subflows = v,
                PmAttr::RcvAddAddrs(v) => limits.add_addr_accepted = v,
                _ => {}
            }
        }
        Ok(limits)
    }

    pub(crate) async fn set_limits(&mut self, limits: Limits) -> Result<(), Refusal> {
        let attrs = vec![
            PmAttr::RcvAddAddrs(limits.add_addr_accepted),
            PmAttr::Subflows(limits.subflows),
        ];
        self.acknowledged(Command::SetLimits, attrs).await
    }

    async fn change(&mut self, cmd: Command, addr: Vec<AddrAttr>) -> Result<(), Refusal> {
        self.acknowledged(cmd, vec![PmAttr::Addr(addr)]).await
    }

    async fn acknowledged(&mut self, cmd: Command, attrs: Vec<PmAttr>) -> Result<(), Refusal> {
        match self.execute(cmd, attrs, NLM_F_REQUEST | NLM_F_ACK).await {
            Ok(_) => Ok(()),
            Err(RequestError::Refused(errno)) => Err(Refusal::Refused(errno)),
            Err(RequestError::Transport(e)) => Err(Refusal::Transport(e.to_string())),
        }
    }

    async fn execute(
        &mut self,
        cmd: Command,
        attrs: Vec<PmAttr>,
        flags: u16,
    ) -> Result<Vec<Vec<PmAttr>>, RequestError> {
        let mut request = NetlinkMessage::from(GenlMessage::from_payload(PmMessage { cmd, attrs }));
        request.header.flags = flags;
        request.finalize();
        let mut replies =
            self.handle.request(request).await.map_err(|e| {
                RequestError::Transport(Error::kernel(format!("mptcp_pm family: {e}")))
            })?;
        let mut messages = Vec::new();
        while let Some(reply) = replies.next().await {
            let reply = reply.map_err(|e| {
                RequestError::Transport(Error::kernel(format!("malformed mptcp_pm reply: {e}")))
            })?;
            match reply.payload {
                NetlinkPayload::InnerMessage(genl) => messages.push(genl.payload.attrs),
                NetlinkPayload::Error(e) => match e.code {
                    Some(code) => return Err(RequestError::Refused(Errno::from_raw(-code.get()))),
                    None => break,
                },
                _ => {}
            }
        }
        Ok(messages)
    }
}

enum RequestError {
    Refused(Errno),
    Transport(Error),
}

impl RequestError {
    fn context(self, what: &str) -> Error {
        match self {
            RequestError::Refused(errno) => {
                Error::kernel(format!("{what}: {}", Refusal::Refused(errno)))
            }
            RequestError::Transport(e) => e.context(what),
        }
    }
}

fn endpoint_from(attrs: &[PmAttr]) -> Result<KernelEndpoint, Error> {
    let mut endpoint = KernelEndpoint {
        id: 0,
        address: std::net::Ipv4Addr::UNSPECIFIED.into(),
        ifindex: None,
        port: 0,
        flags: EndpointFlags::empty(),
    };
    let mut has_address = false;
    for attr in attrs {
        let PmAttr::Addr(fields) = attr else { continue };
        for field in fields {
            match *field {
                AddrAttr::Id(id) => endpoint.id = id,
                AddrAttr::Addr4(a) => (endpoint.address, has_address) = (a.into(), true),
                AddrAttr::Addr6(a) => (endpoint.address, has_address) = (a.into(), true),
                AddrAttr::Port(port) => endpoint.port = port,
                AddrAttr::Flags(bits) => endpoint.flags = EndpointFlags::from_bits_retain(bits),
                AddrAttr::IfIndex(index) if index > 0 => endpoint.ifindex = Some(index as u32),
                _ => {}
            }
        }
    }
    if !has_address {
        return Err(Error::kernel(format!(
            "the kernel reported an MPTCP endpoint without an address: {attrs:?}"
        )));
    }
    Ok(endpoint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::kernel::mptcp_wire::{PmMessage, ATTR_ADDR};
    use netlink_packet_core::{DefaultNla, Emitable, ParseableParametrized};
    use netlink_packet_generic::GenlHeader;
    use proptest::prelude::*;

    proptest! {
        /// Any reply the kernel (or anything on the socket) could send: parsed or refused
        /// with an error, and a parsed one gives an endpoint or an error, never a panic.
        #[test]
        fn fuzz_netlink_replies_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256), cmd in any::<u8>()) {
            if let Ok(message) = PmMessage::parse_with_param(&bytes, GenlHeader { cmd, version: 1 }) {
                let _ = endpoint_from(&message.attrs);
            }
        }

        /// Well-formed attributes with any kind and payload inside an address: deeper
        /// than random bytes reach.
        #[test]
        fn fuzz_endpoint_attributes_never_panic(fields in proptest::collection::vec((0u16..12, proptest::collection::vec(any::<u8>(), 0..20)), 0..8)) {
            let nested: Vec<DefaultNla> = fields.into_iter().map(|(kind, payload)| DefaultNla::new(kind, payload)).collect();
            let mut inner = vec![0; nested.as_slice().buffer_len()];
            nested.as_slice().emit(&mut inner);
            let outer = DefaultNla::new(ATTR_ADDR | netlink_packet_core::NLA_F_NESTED, inner);
            let mut buffer = vec![0; outer.buffer_len()];
            outer.emit(&mut buffer);
            if let Ok(message) = PmMessage::parse_with_param(&buffer, GenlHeader { cmd: 3, version: 1 }) {
                if let Err(e) = endpoint_from(&message.attrs) {
                    prop_assert_eq!(e.kind, nm_mptcp_core::error::ErrorKind::Kernel);
                }
            }
        }
    }
}
