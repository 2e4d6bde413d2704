#!/usr/bin/env bash
# How often the daemon wakes at rest: the seed's three profiles up, nothing changing, the
# daemon's context switches (every thread, voluntary and not) counted over SECONDS (60).
#
#   bench/idle_wakeups.sh BINARY [SECONDS]      prints "N context switches in S s"
#
# Runs in the test lab (tests/lab/lab.sh, NetworkManager 1.42), as root.
set -euo pipefail
binary=$(realpath "$1")
seconds=${2:-60}
lab=$(dirname "$0")/../tests/lab/lab.sh
name=idle$$
trap 'bash "$lab" stop "$name" >/dev/null 2>&1 || true' EXIT
bash "$lab" start "$name" >/dev/null
in_lab() { bash "$lab" exec "$name" bash -c "$1"; }
for i in 0 1 2; do
    bash "$lab" link "$name" "e$i" "s$i" >/dev/null
    in_lab "nmcli connection add type ethernet ifname e$i con-name p$i ipv4.method manual \
        ipv4.addresses 192.0.2.$((i * 4 + 2))/30 ipv6.method disabled \
        connection.mptcp-flags signal,subflow,also-without-default-route >/dev/null && \
        nmcli connection up p$i >/dev/null"
done
pid=$(in_lab "setsid $binary daemon >/run/idle-daemon.log 2>&1 </dev/null & echo \$!")
for _ in $(seq 100); do
    in_lab "grep -q 'daemon ready' /run/idle-daemon.log" && break
    sleep 0.1
done
sleep 3
switches() {
    in_lab "cat /proc/$pid/task/*/status" |
        awk '/ctxt_switches/ { n += $2 } END { print n }'
}
before=$(switches)
sleep "$seconds"
after=$(switches)
echo "$((after - before)) context switches in $seconds s"
