#!/usr/bin/env bash
# The RHEL chapter "Getting started with Multipath TCP", end to end, with nm-mptcp doing the
# endpoint work: a real NetworkManager in network namespaces, the seed's three client profiles
# set with nmcli, then what the kernel holds, what nm-mptcp decided, and one MPTCP transfer
# across the links next to a single path. Run as root on Debian; everything stays inside the
# lab's namespaces and is torn down at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
LAB=tests/lab/lab.sh
NAME=demo

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '# %s\n' "$*"; bash "$LAB" exec "$NAME" "$@"; }

step "Installing what the demo needs (Debian packages) and building nm-mptcp"
if ! command -v NetworkManager >/dev/null || ! command -v dbus-daemon >/dev/null || ! command -v python3 >/dev/null || ! command -v tc >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends network-manager dbus iproute2 python3 procps util-linux >/dev/null
fi
command -v cargo >/dev/null || { echo "needs a Rust toolchain (cargo >= 1.92, e.g. from rustup)" >&2; exit 1; }
cargo build --release --locked --quiet
BIN=$PWD/target/$(rustc -vV | sed -n "s/^host: //p")/release/nm-mptcp
TRANSFER=$PWD/tests/lab/transfer.py

step "Starting NetworkManager $(NetworkManager --version) in a lab (namespaces $NAME-c / $NAME-s)"
bash "$LAB" stop "$NAME"
trap 'bash "$LAB" stop "$NAME"' EXIT
bash "$LAB" start "$NAME"
# NetworkManager >= 1.40 adds endpoints itself; it reads net.mptcp.enabled = 0 from a private
# file here, so every endpoint below is nm-mptcp's work.
bash "$LAB" nm-sysctl "$NAME" 0
bash "$LAB" hook "$NAME" "$BIN"

# The seed's example: server enp4s0 192.0.2.1, enp1s0 198.51.100.1, enp7s0 192.0.2.3;
# client enp4s0f0 192.0.2.2, enp4s0f1 198.51.100.2, enp6s0 192.0.2.5.
for pair in enp4s0f0:enp4s0:192.0.2.1 enp4s0f1:enp1s0:198.51.100.1 enp6s0:enp7s0:192.0.2.3; do
    IFS=: read -r client server address <<<"$pair"
    bash "$LAB" link "$NAME" "$client" "$server"
    bash "$LAB" peer "$NAME" ip addr add "$address/24" dev "$server"
    bash "$LAB" peer "$NAME" tc qdisc add dev "$server" root tbf rate 40mbit burst 64kb latency 50ms
done

step "Seed step 3: profiles, then connection.mptcp-flags on each, with nmcli"
run nmcli connection add type ethernet ifname enp4s0f0 con-name enp4s0f0 autoconnect no ipv4.method manual ipv4.addresses 192.0.2.2/24 ipv4.gateway 192.0.2.1 ipv6.method disabled
run nmcli connection add type ethernet ifname enp4s0f1 con-name enp4s0f1 autoconnect no ipv4.method manual ipv4.addresses 198.51.100.2/24 ipv6.method disabled
run nmcli connection add type ethernet ifname enp6s0 con-name enp6s0 autoconnect no ipv4.method manual ipv4.addresses 192.0.2.5/24 ipv6.method disabled
for profile in enp4s0f0 enp4s0f1 enp6s0; do
    run nmcli connection modify "$profile" connection.mptcp-flags signal,subflow,also-without-default-route
    run nmcli connection up "$profile"
done

step "Seed verification"
run sysctl net.mptcp.enabled
run ip mptcp limits show
run ip mptcp endpoint show

step "What nm-mptcp decided, and why (nm-mptcp status)"
run "$BIN" status

step "The dispatcher events nm-mptcp handled"
bash "$LAB" logs "$NAME" | grep "event{" | tail -n 8 || true

step "One transfer across the links (each shaped to 40 Mbit/s)"
# Shaping the client side too, so uploads see the same 40 Mbit/s per link.
for dev in enp4s0f0 enp4s0f1 enp6s0; do
    bash "$LAB" exec "$NAME" tc qdisc add dev "$dev" root tbf rate 40mbit burst 64kb latency 50ms
done
bash "$LAB" peer "$NAME" ip mptcp limits set subflows 8 add_addr_accepted 8
# The seed puts two links in 192.0.2.0/24. The kernel binds each subflow to its endpoint's
# device, so the server must answer 192.0.2.5 on the link it came from (enp7s0), not on the
# first route for the subnet: a host route on the server side does that.
bash "$LAB" peer "$NAME" ip route add 192.0.2.5/32 dev enp7s0
measure() { # PROTO-FLAG -> Mbit/s over seconds 1..5 of a 6 s transfer
    local report
    exec {server}< <(bash "$LAB" peer "$NAME" python3 "$TRANSFER" serve 5201)
    read -r _ <&"$server"
    bash "$LAB" exec "$NAME" python3 "$TRANSFER" send 192.0.2.1 5201 6 "$@"
    read -r report <&"$server"
    exec {server}<&-
    python3 -c 'import json,sys; s=json.loads(sys.argv[1])["per_second"][1:6]; print(f"{sum(s)*8/len(s)/1e6:.1f}")' "$report"
}
single=$(measure --tcp)
multi=$(measure)
printf '%-36s %8s Mbit/s\n' "single path (TCP, enp4s0f0)" "$single" "MPTCP over the three links" "$multi"
