//! Wire format of the `mptcp_pm` generic-netlink family (uapi/linux/mptcp_pm.h): every
//! constant lives here, and the message type the genetlink handle sends and parses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{
    emit_i32, emit_u16, emit_u32, parse_i32, parse_u16, parse_u32, parse_u8, DecodeError,
    DefaultNla, Emitable, ErrorContext, Nla, NlaBuffer, NlasIterator, Parseable,
    ParseableParametrized, NLA_F_NESTED,
};
use netlink_packet_generic::{GenlFamily, GenlHeader};

const FAMILY_NAME: &str = "mptcp_pm";
const FAMILY_VERSION: u8 = 1;

/// `MPTCP_PM_CMD_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Command {
    AddAddr = 1,
    DelAddr = 2,
    GetAddr = 3,
    SetLimits = 5,
    GetLimits = 6,
}

impl Command {
    fn from_wire(cmd: u8) -> Option<Command> {
        [
            Command::AddAddr,
            Command::DelAddr,
            Command::GetAddr,
            Command::SetLimits,
            Command::GetLimits,
        ]
        .into_iter()
        .find(|c| *c as u8 == cmd)
    }
}

// `MPTCP_PM_ATTR_*`
pub(crate) const ATTR_ADDR: u16 = 1;
const ATTR_RCV_ADD_ADDRS: u16 = 2;
const ATTR_SUBFLOWS: u16 = 3;

// `MPTCP_PM_ADDR_ATTR_*`
const ADDR_ATTR_FAMILY: u16 = 1;
const ADDR_ATTR_ID: u16 = 2;
const ADDR_ATTR_ADDR4: u16 = 3;
const ADDR_ATTR_ADDR6: u16 = 4;
const ADDR_ATTR_PORT: u16 = 5;
const ADDR_ATTR_FLAGS: u16 = 6;
const ADDR_ATTR_IF_IDX: u16 = 7;

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

/// A top-level attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PmAttr {
    Addr(Vec<AddrAttr>),
    RcvAddAddrs(u32),
    Subflows(u32),
    Other(DefaultNla),
}

/// An attribute nested in `MPTCP_PM_ATTR_ADDR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddrAttr {
    Family(u16),
    Id(u8),
    Addr4(Ipv4Addr),
    Addr6(Ipv6Addr),
    Port(u16),
    Flags(u32),
    IfIndex(i32),
    Other(DefaultNla),
}

impl AddrAttr {
    /// The family and address attributes for an IP address.
    pub fn for_address(address: IpAddr) -> [AddrAttr; 2] {
        match address {
            IpAddr::V4(v4) => [AddrAttr::Family(AF_INET), AddrAttr::Addr4(v4)],
            IpAddr::V6(v6) => [AddrAttr::Family(AF_INET6), AddrAttr::Addr6(v6)],
        }
    }
}

impl Nla for AddrAttr {
    fn value_len(&self) -> usize {
        match self {
            AddrAttr::Family(_) | AddrAttr::Port(_) => 2,
            AddrAttr::Id(_) => 1,
            AddrAttr::Addr4(_) | AddrAttr::Flags(_) | AddrAttr::IfIndex(_) => 4,
            AddrAttr::Addr6(_) => 16,
            AddrAttr::Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            AddrAttr::Family(_) => ADDR_ATTR_FAMILY,
            AddrAttr::Id(_) => ADDR_ATTR_ID,
            AddrAttr::Addr4(_) => ADDR_ATTR_ADDR4,
            AddrAttr::Addr6(_) => ADDR_ATTR_ADDR6,
            AddrAttr::Port(_) => ADDR_ATTR_PORT,
            AddrAttr::Flags(_) => ADDR_ATTR_FLAGS,
            AddrAttr::IfIndex(_) => ADDR_ATTR_IF_IDX,
            AddrAttr::Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            AddrAttr::Family(v) | AddrAttr::Port(v) => emit_u16(buffer, *v).unwrap_or_default(),
            AddrAttr::Id(v) => buffer[0] = *v,
            AddrAttr::Addr4(v) => buffer[..4].copy_from_slice(&v.octets()),
            AddrAttr::Addr6(v) => buffer[..16].copy_from_slice(&v.octets()),
            AddrAttr::Flags(v) => emit_u32(buffer, *v).unwrap_or_default(),
            AddrAttr::IfIndex(v) => emit_i32(buffer, *v).unwrap_or_default(),
            AddrAttr::Other(nla) => nla.emit_value(buffer),
        }
    }
}

impl<T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&T>> for AddrAttr {
    fn parse(buf: &NlaBuffer<&T>) -> Result<AddrAttr, DecodeError> {
        let value = buf.value();
        Ok(match buf.kind() {
            ADDR_ATTR_FAMILY => AddrAttr::Family(parse_u16(value)?),
            ADDR_ATTR_ID => AddrAttr::Id(parse_u8(value)?),
            ADDR_ATTR_ADDR4 => {
                let octets: [u8; 4] = value
                    .try_into()
                    .map_err(|_| DecodeError::from("MPTCP_PM_ADDR_ATTR_ADDR4 is not 4 bytes"))?;
                AddrAttr::Addr4(Ipv4Addr::from(octets))
            }
            ADDR_ATTR_ADDR6 => {
                let octets: [u8; 16] = value
                    .try_into()
                    .map_err(|_| DecodeError::from("MPTCP_PM_ADDR_ATTR_ADDR6 is not 16 bytes"))?;
                AddrAttr::Addr6(Ipv6Addr::from(octets))
            }
            ADDR_ATTR_PORT => AddrAttr::Port(parse_u16(value)?),
            ADDR_ATTR_FLAGS => AddrAttr::Flags(parse_u32(value)?),
            ADDR_ATTR_IF_IDX => AddrAttr::IfIndex(parse_i32(value)?),
            _ => AddrAttr::Other(DefaultNla::parse(buf)?),
        })
    }
}

impl Nla for PmAttr {
    fn value_len(&self) -> usize {
        match self {
            PmAttr::Addr(attrs) => attrs.as_slice().buffer_len(),
            PmAttr::RcvAddAddrs(_) | PmAttr::Subflows(_) => 4,
            PmAttr::Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            // The kernel's strict validation wants nested attributes flagged as such.
            PmAttr::Addr(_) => ATTR_ADDR | NLA_F_NESTED,
            PmAttr::RcvAddAddrs(_) => ATTR_RCV_ADD_ADDRS,
            PmAttr::Subflows(_) => ATTR_SUBFLOWS,
            PmAttr::Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            PmAttr::Addr(attrs) => attrs.as_slice().emit(buffer),
            PmAttr::RcvAddAddrs(v) | PmAttr::Subflows(v) => {
                emit_u32(buffer, *v).unwrap_or_default()
            }
            PmAttr::Other(nla) => nla.emit_value(buffer),
        }
    }
}

impl<T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&T>> for PmAttr {
    fn parse(buf: &NlaBuffer<&T>) -> Result<PmAttr, DecodeError> {
        let value = buf.value();
        Ok(match buf.kind() & !NLA_F_NESTED {
            ATTR_ADDR => PmAttr::Addr(
                NlasIterator::new(value)
                    .map(|nla| AddrAttr::parse(&nla?))
                    .collect::<Result<_, _>>()
                    .context("parsing MPTCP_PM_ATTR_ADDR")?,
            ),
            ATTR_RCV_ADD_ADDRS => PmAttr::RcvAddAddrs(parse_u32(value)?),
            ATTR_SUBFLOWS => PmAttr::Subflows(parse_u32(value)?),
            _ => PmAttr::Other(DefaultNla::parse(buf)?),
        })
    }
}

/// One `mptcp_pm` request or reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PmMessage {
    pub cmd: Command,
    pub attrs: Vec<PmAttr>,
}

impl GenlFamily for PmMessage {
    fn family_name() -> &'static str {
        FAMILY_NAME
    }

    fn version(&self) -> u8 {
        FAMILY_VERSION
    }

    fn command(&self) -> u8 {
        self.cmd as u8
    }
}

impl Emitable for PmMessage {
    fn buffer_len(&self) -> usize {
        self.attrs.as_slice().buffer_len()
    }

    fn emit(&self, buffer: &mut [u8]) {
        self.attrs.as_slice().emit(buffer)
    }
}

impl ParseableParametrized<[u8], GenlHeader> for PmMessage {
    fn parse_with_param(buffer: &[u8], header: GenlHeader) -> Result<PmMessage, DecodeError> {
        let cmd = Command::from_wire(header.cmd)
            .ok_or_else(|| DecodeError::from(format!("unknown mptcp_pm command {}", header.cmd)))?;
        let attrs = NlasIterator::new(buffer)
            .map(|nla| PmAttr::parse(&nla?))
            .collect::<Result<_, _>>()
            .context("parsing an mptcp_pm message")?;
        Ok(PmMessage { cmd, attrs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_request_round_trips_through_the_wire_format() {
        let [family, addr] = AddrAttr::for_address("192.0.2.2".parse().unwrap());
        let message = PmMessage {
            cmd: Command::AddAddr,
            attrs: vec![PmAttr::Addr(vec![
                family,
                addr,
                AddrAttr::IfIndex(3),
                AddrAttr::Flags(3),
            ])],
        };
        let mut buffer = vec![0; message.buffer_len()];
        message.emit(&mut buffer);
        // Nested flag set on the outer attribute, as ip(8) sends it.
        assert_eq!(
            u16::from_ne_bytes([buffer[2], buffer[3]]),
            ATTR_ADDR | NLA_F_NESTED
        );
        let header = GenlHeader {
            cmd: Command::AddAddr as u8,
            version: 1,
        };
        assert_eq!(
            PmMessage::parse_with_param(&buffer, header).unwrap(),
            message
        );
    }

    #[test]
    fn ipv6_and_unknown_attributes_parse() {
        let [family, addr] = AddrAttr::for_address("2001:db8::1".parse().unwrap());
        let message = PmMessage {
            cmd: Command::GetAddr,
            attrs: vec![
                PmAttr::Addr(vec![family, addr, AddrAttr::Id(7), AddrAttr::Port(0)]),
                PmAttr::Other(DefaultNla::new(99, vec![1, 2, 3, 4])),
            ],
        };
        let mut buffer = vec![0; message.buffer_len()];
        message.emit(&mut buffer);
        let header = GenlHeader { cmd: 3, version: 1 };
        assert_eq!(
            PmMessage::parse_with_param(&buffer, header).unwrap(),
            message
        );
    }

    #[test]
    fn truncated_address_is_an_error_not_a_panic() {
        let bad = PmAttr::Addr(vec![AddrAttr::Other(DefaultNla::new(
            ADDR_ATTR_ADDR4,
            vec![1, 2],
        ))]);
        let mut buffer = vec![0; bad.buffer_len()];
        bad.emit(&mut buffer);
        let header = GenlHeader { cmd: 3, version: 1 };
        assert!(PmMessage::parse_with_param(&buffer, header).is_err());
        assert!(PmMessage::parse_with_param(
            &buffer,
            GenlHeader {
                cmd: 200,
                version: 1
            }
        )
        .is_err());
    }
}
