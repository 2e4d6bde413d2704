//! In-process cost of the functional core at scale: 8 active devices with 50 addresses each
//! (IPv4 and IPv6), planned and diffed against a kernel already holding the result. Inactive
//! saved profiles never reach the core: nm-mptcp reads only active connections.

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{criterion_group, criterion_main, Criterion};
use nm_mptcp_core::diff::diff;
use nm_mptcp_core::model::{
    AddressSource, CandidateAddress, DeviceState, FamilyState, HostSnapshot, KernelEndpoint,
    ProfileRef,
};
use nm_mptcp_core::nm_version::NmVersion;
use nm_mptcp_core::ownership::{Ledger, LedgerEntry};
use nm_mptcp_core::planner::plan;

const DEVICES: u32 = 8;
const ADDRESSES: u32 = 50;

fn family(addresses: impl Iterator<Item = IpAddr>) -> FamilyState {
    FamilyState {
        addresses: addresses
            .map(|address| CandidateAddress {
                address,
                source: AddressSource::Profile,
                ready: true,
            })
            .collect(),
        default_route: true,
        settling: false,
        gateway: None,
    }
}

fn host() -> HostSnapshot {
    let devices = (0..DEVICES)
        .map(|d| DeviceState {
            interface: format!("eth{d}"),
            ifindex: d + 2,
            profile: ProfileRef {
                id: format!("profile-{d}"),
                uuid: format!("00000000-0000-0000-0000-{d:012}"),
            },
            mptcp_flags: 0x32,
            conf_default: None,
            ineligible: None,
            metered: false,
            ipv4: family((0..ADDRESSES / 2).map(|i| IpAddr::from([10, d as u8, 0, i as u8 + 1]))),
            ipv6: family(
                (0..ADDRESSES / 2)
                    .map(|i| IpAddr::from([0x2001, 0xdb8, d as u16, 0, 0, 0, 0, i as u16 + 1])),
            ),
        })
        .collect();
    HostSnapshot {
        nm_version: NmVersion::new(1, 42, 4),
        sysctl_enabled: Some(true),
        metered_as_backup: false,
        devices,
    }
}

fn bench(c: &mut Criterion) {
    let host = host();
    let planned = plan(&host, &[]);
    let kernel: Vec<KernelEndpoint> = planned
        .endpoints
        .iter()
        .enumerate()
        .map(|(i, d)| KernelEndpoint {
            id: i as u8 + 1,
            address: d.address,
            ifindex: Some(d.ifindex),
            port: 0,
            flags: d.flags,
        })
        .collect();
    let ledger = Ledger {
        entries: kernel
            .iter()
            .map(|k| LedgerEntry::from_kernel(k, "eth", None, true))
            .collect(),
        ..Ledger::default()
    };
    c.bench_function("plan 8 devices x 50 addresses", |b| {
        b.iter(|| plan(black_box(&host), &[]))
    });
    c.bench_function("diff against a kernel in place", |b| {
        b.iter(|| diff(black_box(&planned.endpoints), black_box(&kernel), &ledger))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
