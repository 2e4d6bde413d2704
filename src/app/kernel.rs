//! What a reconciliation needs of the kernel, as a small trait: the netlink sockets and
//! /proc in production, a model kernel in the executor's tests.

use std::io;
use std::net::IpAddr;

use crate::adapters::kernel::interfaces;
use crate::adapters::kernel::mptcp::Refusal;
use crate::adapters::kernel::netlink::NetlinkKernel;
use crate::adapters::kernel::sysctl;
use nm_mptcp_core::error::Error;
use nm_mptcp_core::limits::Limits;
use nm_mptcp_core::model::{DesiredEndpoint, KernelAddress, KernelEndpoint};

/// What a survey reads of the kernel.
pub(crate) struct KernelState {
    pub endpoints: Vec<KernelEndpoint>,
    pub limits: Limits,
    pub addresses: Vec<KernelAddress>,
}

pub(crate) trait Kernel {
    async fn endpoints(&mut self) -> Result<Vec<KernelEndpoint>, Error>;
    async fn limits(&mut self) -> Result<Limits, Error>;
    /// Endpoints, limits and interface addresses, for a survey.
    async fn state(&mut self) -> Result<KernelState, Error>;
    /// Add an endpoint as NetworkManager does: address, ifindex and flags; the kernel picks
    /// the id.
    async fn add(&mut self, endpoint: &DesiredEndpoint) -> Result<(), Refusal>;
    async fn delete(&mut self, id: u8, address: IpAddr) -> Result<(), Refusal>;
    async fn set_limits(&mut self, limits: Limits) -> Result<(), Refusal>;
    /// `net.mptcp.enabled`: `None` when missing.
    fn mptcp_enabled(&self) -> Option<bool>;
    fn enable_mptcp(&mut self) -> io::Result<()>;
    fn rp_filter(&self, interface: &str) -> Option<u8>;
    fn set_rp_filter(&mut self, interface: &str, value: u8) -> io::Result<()>;
    /// The ifindex of an interface; `None` once it has vanished.
    fn ifindex(&self, interface: &str) -> Option<u32>;
}

impl Kernel for NetlinkKernel {
    async fn endpoints(&mut self) -> Result<Vec<KernelEndpoint>, Error> {
        self.mptcp.endpoints().await
    }

    async fn limits(&mut self) -> Result<Limits, Error> {
        self.mptcp.limits().await
    }

    /// The MPTCP and the address sockets answer at once, on the path from an address to
    /// its endpoint.
    async fn state(&mut self) -> Result<KernelState, Error> {
        let mptcp = &mut self.mptcp;
        let mptcp = async { Ok::<_, Error>((mptcp.endpoints().await?, mptcp.limits().await?)) };
        let ((endpoints, limits), addresses) =
            futures_util::try_join!(mptcp, self.addresses.dump())?;
        Ok(KernelState {
            endpoints,
            limits,
            addresses,
        })
    }

    async fn add(&mut self, endpoint: &DesiredEndpoint) -> Result<(), Refusal> {
        self.mptcp.add(endpoint).await
    }

    async fn delete(&mut self, id: u8, address: IpAddr) -> Result<(), Refusal> {
        self.mptcp.delete(id, address).await
    }

    async fn set_limits(&mut self, limits: Limits) -> Result<(), Refusal> {
        self.mptcp.set_limits(limits).await
    }

    fn mptcp_enabled(&self) -> Option<bool> {
        sysctl::mptcp_enabled()
    }

    fn enable_mptcp(&mut self) -> io::Result<()> {
        sysctl::enable_mptcp()
    }

    fn rp_filter(&self, interface: &str) -> Option<u8> {
        sysctl::rp_filter(interface)
    }

    fn set_rp_filter(&mut self, interface: &str, value: u8) -> io::Result<()> {
        sysctl::set_rp_filter(interface, value)
    }

    fn ifindex(&self, interface: &str) -> Option<u32> {
        interfaces::index(interface)
    }
}

/// A kernel in memory that behaves as the real one does where reconciliation depends on it:
/// ids picked by the kernel, EEXIST for an address already held, ERANGE at 8 endpoints, and
/// the limits in force at the moment of each addition recorded.
#[cfg(test)]
pub(crate) mod model {
    use std::collections::HashMap;

    use nix::errno::Errno;

    use super::*;
    use nm_mptcp_core::flags::EndpointFlags;
    use nm_mptcp_core::model::MPTCP_PM_ADDR_MAX;

    #[derive(Debug, Default)]
    pub(crate) struct ModelKernel {
        pub endpoints: Vec<KernelEndpoint>,
        pub limits: Limits,
        pub addresses: Vec<KernelAddress>,
        pub rp_filter: HashMap<String, u8>,
        pub interfaces: HashMap<String, u32>,
        /// Someone else adds this endpoint just before nm-mptcp's own add (a racing
        /// NetworkManager).
        pub racing_add: Option<KernelEndpoint>,
        /// Every change, in order, in `ip mptcp` words, with the limits in force for adds.
        pub log: Vec<String>,
        /// Flags this kernel does not know and drops from an endpoint it adds (kernels with
        /// "mptcp: pm: ignore unknown endpoint flags").
        pub drops: EndpointFlags,
    }

    impl ModelKernel {
        fn next_id(&self) -> u8 {
            (1..=u8::MAX)
                .find(|id| self.endpoints.iter().all(|k| k.id != *id))
                .unwrap_or(0)
        }
    }

    impl Kernel for ModelKernel {
        async fn endpoints(&mut self) -> Result<Vec<KernelEndpoint>, Error> {
            Ok(self.endpoints.clone())
        }

        async fn limits(&mut self) -> Result<Limits, Error> {
            Ok(self.limits)
        }

        async fn state(&mut self) -> Result<KernelState, Error> {
            Ok(KernelState {
                endpoints: self.endpoints.clone(),
                limits: self.limits,
                addresses: self.addresses.clone(),
            })
        }

        async fn add(&mut self, endpoint: &DesiredEndpoint) -> Result<(), Refusal> {
            if let Some(raced) = self.racing_add.take() {
                self.endpoints.push(raced);
            }
            if self.endpoints.iter().any(|k| k.address == endpoint.address) {
                return Err(Refusal::Refused(Errno::EEXIST));
            }
            if self.endpoints.len() >= MPTCP_PM_ADDR_MAX {
                return Err(Refusal::Refused(Errno::ERANGE));
            }
            self.log.push(format!(
                "add {} with limits {}",
                endpoint.address, self.limits
            ));
            let id = self.next_id();
            self.endpoints.push(KernelEndpoint {
                id,
                address: endpoint.address,
                ifindex: Some(endpoint.ifindex),
                port: 0,
                flags: endpoint.flags - self.drops,
            });
            Ok(())
        }

        async fn delete(&mut self, id: u8, address: IpAddr) -> Result<(), Refusal> {
            let before = self.endpoints.len();
            self.endpoints
                .retain(|k| !(k.id == id && k.address == address));
            if self.endpoints.len() == before {
                return Err(Refusal::Refused(Errno::ENOENT));
            }
            self.log.push(format!("delete {address}"));
            Ok(())
        }

        async fn set_limits(&mut self, limits: Limits) -> Result<(), Refusal> {
            self.log.push(format!("limits {limits}"));
            self.limits = limits;
            Ok(())
        }

        fn mptcp_enabled(&self) -> Option<bool> {
            Some(true)
        }

        fn enable_mptcp(&mut self) -> io::Result<()> {
            Ok(())
        }

        fn rp_filter(&self, interface: &str) -> Option<u8> {
            self.rp_filter.get(interface).copied()
        }

        fn set_rp_filter(&mut self, interface: &str, value: u8) -> io::Result<()> {
            self.log.push(format!("rp_filter {interface} {value}"));
            self.rp_filter.insert(interface.to_owned(), value);
            Ok(())
        }

        fn ifindex(&self, interface: &str) -> Option<u32> {
            self.interfaces.get(interface).copied()
        }
    }
}
