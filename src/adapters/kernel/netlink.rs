//! The kernel's netlink sockets, opened once and held: generic netlink for MPTCP (whose
//! family id is looked up once per socket) and rtnetlink for addresses. The hook opens them
//! per event; the daemon keeps them for its lifetime.

use super::addresses::AddressHandle;
use super::mptcp::MptcpHandle;
use crate::error::Error;

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
}
