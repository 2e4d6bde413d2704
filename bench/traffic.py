#!/usr/bin/env python3
"""What "is MPTCP working?" costs, side by side in one lab (NetworkManager 1.42):

  1. `nm-mptcp status --json` with 1,000 open MPTCP connections against none, alone and
     through the daemon (hyperfine);
  2. the daemon's sock_diag dumps (each opens a NETLINK_SOCK_DIAG socket, counted with
     strace) over 30 s at rest and while a D-Bus client watches;
  3. the hook with the daemon and the address-to-endpoint time, this build against a
     BASELINE binary (the build before), taking turns in the same lab.

    python3 bench/traffic.py BASELINE_BINARY     prints a Markdown table

Only the lab's own namespaces carry traffic.
"""
import statistics
import sys
import time

sys.path.insert(0, __import__("os").path.dirname(__file__))
import run  # noqa: E402  (bench/run.py: the lab, hyperfine, the event clock)
from run import BIN, Lab, lab  # noqa: E402

CONNECTIONS = 1000
HOLDER = """
import socket, sys, time
n, host = int(sys.argv[1]), sys.argv[2]
held = []
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262)
    s.connect((host, 5201))
    held.append(s)
print("held", flush=True)
time.sleep(600)
"""
SERVER = """
import socket, time
l = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262)
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("0.0.0.0", 5201)); l.listen(4096)
held = []
while True:
    c, _ = l.accept(); held.append(c)
"""


def status_cost(l):
    """Median ms of `status --json`, alone and through the daemon, without and with the
    connections open."""
    figures = {}
    for connections in (0, CONNECTIONS):
        if connections:
            open("/tmp/bench-holder.py", "w").write(HOLDER)
            l.run(f"ulimit -n 8192; setsid python3 /tmp/bench-holder.py {connections} 192.0.2.1 "
                  ">/tmp/bench-holder.out 2>&1 </dev/null & "
                  "for i in $(seq 600); do grep -q held /tmp/bench-holder.out && exit 0; "
                  "sleep 0.1; done; cat /tmp/bench-holder.out; exit 1")
        (alone,) = l.hyperfine([f"{BIN} status --json"], runs=30)
        pid = l.start_daemon()
        (daemon,) = l.hyperfine([f"{BIN} status --json"], runs=30)
        l.stop_daemon(pid)
        figures[connections] = (alone[0], daemon[0])
    l.run("pkill -f '[b]ench-holder.py' || true")
    return figures


def dumps(l, seconds=30):
    """sock_diag sockets the daemon opens in `seconds`: at rest, then watched (a client
    calls Watch every 20 s, as a page would)."""
    pid = l.start_daemon()
    counts = {}
    for watched in (False, True):
        watcher = ("while :; do busctl call io.github.nm_mptcp1 /io/github/nm_mptcp1 "
                   "io.github.nm_mptcp1.Manager Watch >/dev/null; sleep 20; done & w=$!; "
                   if watched else "w=; ")
        out = l.run(f"{watcher}timeout {seconds} strace -f -qq -e trace=socket -p {pid} "
                    "2>&1 | grep -c 'NETLINK_SOCK_DIAG' || true; [ -z \"$w\" ] || kill $w 2>/dev/null || true")
        counts[watched] = int(out.split()[0])
    l.stop_daemon(pid)
    return counts


def hook_side_by_side(l, baseline, rounds=3):
    """Median ms of the hook with the daemon, each build's daemon in turn."""
    samples = {"this": [], "baseline": []}
    for _ in range(rounds):
        for name, binary in (("baseline", baseline), ("this", str(BIN))):
            pid = l.start_daemon(binary)
            (result,) = l.hyperfine([f"{binary} e0 up"], runs=100)
            samples[name].append(result[0])
            l.stop_daemon(pid)
    return {name: statistics.median(s) for name, s in samples.items()}


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    baseline = sys.argv[1]
    run.sh("cargo", "build", "--release", "--locked", "--quiet")
    l = Lab("btraffic")
    try:
        # The service's policy and activation file, so the daemon owns its bus name.
        lab("dbus-install", l.name, str(BIN))
        lab("link", l.name, "e0", "s0")
        l.peer("ip addr add 192.0.2.1/24 dev s0; ip mptcp limits set subflows 8 add_addr_accepted 8")
        open("/tmp/bench-server.py", "w").write(SERVER)
        l.peer("setsid python3 /tmp/bench-server.py >/dev/null 2>&1 </dev/null &")
        l.run("nmcli connection add type ethernet ifname e0 con-name p0 ipv4.method manual "
              "ipv4.addresses 192.0.2.2/24 ipv4.gateway 192.0.2.1 ipv6.method disabled "
              "connection.mptcp-flags subflow >/dev/null && nmcli connection up p0 >/dev/null")
        l.run(f"{BIN} reconcile >/dev/null")
        time.sleep(1)
        cost = status_cost(l)
        counted = dumps(l)
        hook = hook_side_by_side(l, baseline)
    finally:
        l.stop()
    # The address-to-endpoint clock of bench/run.py, this build's daemon against the
    # baseline's, in turns in one lab.
    events = run.event_to_endpoint_of({"this": str(BIN), "baseline": baseline})
    print("| what | figure |\n|---|---|")
    for connections, (alone, daemon) in cost.items():
        print(f"| `status --json` alone, {connections} MPTCP connections open | {alone:.1f} ms |")
        print(f"| `status --json` through the daemon, {connections} connections | {daemon:.1f} ms |")
    print(f"| daemon's sock_diag dumps in 30 s at rest | {counted[False]} |")
    print(f"| daemon's sock_diag dumps in 30 s while a client watches | {counted[True]} |")
    for name in ("baseline", "this"):
        print(f"| hook with the daemon, {name} build, median | {hook[name]:.3f} ms |")
    for name in ("baseline", "this"):
        e = events[name]
        print(f"| address to endpoint, {name} build's daemon, median (p90) | "
              f"{e['address']:.2f} ms ({e['address_p90']:.2f}) |")


if __name__ == "__main__":
    main()
