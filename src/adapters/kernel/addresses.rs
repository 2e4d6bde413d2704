//! The kernel's interface addresses over rtnetlink: one dump per event, used to tell
//! NetworkManager's SLAAC addresses from kernel-made temporary ones and to see DAD state;
//! and a subscription to their changes.

use futures_util::TryStreamExt;
use netlink_packet_route::address::{AddressAttribute, AddressFlags};

use nm_mptcp_core::error::Error;
use nm_mptcp_core::model::KernelAddress;

/// An rtnetlink socket for address dumps; its connection task runs on the current runtime.
pub(crate) struct AddressHandle {
    handle: rtnetlink::Handle,
}

impl AddressHandle {
    pub(crate) fn connect() -> Result<AddressHandle, Error> {
        let (connection, handle, _) = rtnetlink::new_connection()
            .map_err(|e| Error::kernel(format!("cannot open an rtnetlink socket: {e}")))?;
        tokio::spawn(connection);
        Ok(AddressHandle { handle })
    }

    /// Every address of every interface in this network namespace.
    pub(crate) async fn dump(&self) -> Result<Vec<KernelAddress>, Error> {
        dump(&self.handle).await
    }
}

async fn dump(handle: &rtnetlink::Handle) -> Result<Vec<KernelAddress>, Error> {
    let messages: Vec<_> = handle
        .address()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(|e| Error::kernel(format!("dumping interface addresses: {e}")))?;
    Ok(messages
        .into_iter()
        .filter_map(|message| {
            let mut flags = AddressFlags::from_bits_retain(u32::from(message.header.flags.bits()));
            let mut local = None;
            let mut address = None;
            for attribute in message.attributes {
                match attribute {
                    AddressAttribute::Local(a) => local = Some(a),
                    AddressAttribute::Address(a) => address = Some(a),
                    AddressAttribute::Flags(f) => flags = f,
                    _ => {}
                }
            }
            // IFA_LOCAL is the interface's own address where a peer is set.
            let address = local.or(address)?;
            let v6 = address.is_ipv6();
            Some(KernelAddress {
                ifindex: message.header.index,
                address,
                temporary: v6 && flags.contains(AddressFlags::Secondary),
                tentative: flags.contains(AddressFlags::Tentative)
                    && !flags.contains(AddressFlags::Dadfailed),
                dad_failed: flags.contains(AddressFlags::Dadfailed),
                permanent: flags.contains(AddressFlags::Permanent),
                no_prefix_route: flags.contains(AddressFlags::Noprefixroute),
            })
        })
        .collect())
}

/// A subscription to the kernel's address changes (IPv4 and IPv6, every interface): each
/// `changed()` returns when an address was added, removed or changed (e.g. DAD finished).
pub(crate) struct AddressEvents {
    messages: futures_channel::mpsc::UnboundedReceiver<(
        netlink_packet_core::NetlinkMessage<netlink_packet_route::RouteNetlinkMessage>,
        rtnetlink::sys::SocketAddr,
    )>,
}

impl AddressEvents {
    pub(crate) fn subscribe() -> Result<AddressEvents, Error> {
        use rtnetlink::constants::{RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR};
        let (mut connection, _handle, messages) = rtnetlink::new_connection()
            .map_err(|e| Error::kernel(format!("cannot open an rtnetlink socket: {e}")))?;
        let groups = rtnetlink::sys::SocketAddr::new(0, RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR);
        use rtnetlink::sys::AsyncSocket;
        connection
            .socket_mut()
            .socket_mut()
            .bind(&groups)
            .map_err(|e| Error::kernel(format!("cannot watch address changes: {e}")))?;
        tokio::spawn(connection);
        Ok(AddressEvents { messages })
    }

    /// Forget changes already queued (a burst is handled once).
    pub(crate) fn drain(&mut self) {
        while self.messages.try_recv().is_ok() {}
    }

    /// Wait for the next address change; `None` if the socket closed.
    pub(crate) async fn changed(&mut self) -> Option<()> {
        use futures_util::StreamExt;
        self.messages.next().await.map(|_| ())
    }
}
