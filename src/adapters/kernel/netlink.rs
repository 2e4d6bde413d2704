//! The kernel's netlink sockets, opened once and held: generic netlink for MPTCP (whose
//! family id is looked up once per socket) and rtnetlink for addresses. The hook opens them
//! per event; the daemon keeps them for its lifetime.

use super::addresses::AddressHandle;
use super::mptcp::MptcpHandle;
use nm_mptcp_core::error::Error;

pub(crate) struct NetlinkKernel {
    pub(crate) mptcp: MptcpHandle,
    pub(crate) addresses: AddressHandle,
}

impl NetlinkKernel {
    pub(crate) fn connect() -> Result<NetlinkKernel, Error> {
        Ok(NetlinkKernel {
            mptcp: MptcpHandle::connect()?,
            addresses: AddressHandle::connect()?,
        })
    }

    /// Fresh sockets for a holder whose last reconciliation failed in the kernel: a socket
    /// that failed stays failed. If none can be opened, the old ones are kept.
    pub(crate) fn reconnect(&mut self) {
        match NetlinkKernel::connect() {
            Ok(fresh) => *self = fresh,
            Err(e) => tracing::warn!(error = %e, "cannot reopen the netlink sockets"),
        }
    }
}
