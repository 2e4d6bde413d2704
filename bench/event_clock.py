"""From the kernel's address announcement to the MPTCP endpoint, in microseconds.

    python3 bench/event_clock.py ADDRESS [TIMEOUT_S] [--flags] [--when]

Run in the network namespace under test. Subscribes to rtnetlink's address notifications,
prints "ready", and when RTM_NEWADDR for ADDRESS (IPv4) arrives, dumps the kernel's MPTCP
endpoints over generic netlink every 0.1 ms until one holds ADDRESS; prints the time
between the two (0 when the endpoint was already there at the first dump: it came with the
address, as NetworkManager's own support adds it). Only netlink, no process start in the loop.
With --flags, the kernel flags of that first endpoint follow the time (signal 1, subflow 2,
backup 4, fullmesh 8): what the endpoint was as soon as it existed. With --when, the wall
clock time (seconds since the epoch) at which the endpoint was seen follows, for a clock
started elsewhere (by a shell's $EPOCHREALTIME).
"""
import os
import socket
import struct
import sys
import time

NETLINK_GENERIC = 16
RTMGRP_IPV4_IFADDR = 0x10
RTM_NEWADDR = 20
IFA_LOCAL = 2
NLMSG_DONE = 3
NLMSG_ERROR = 2
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_ID = 1
CTRL_ATTR_FAMILY_NAME = 2
MPTCP_PM_CMD_GET_ADDR = 3
MPTCP_PM_ATTR_ADDR = 1
MPTCP_PM_ADDR_ATTR_ADDR4 = 3
MPTCP_PM_ADDR_ATTR_FLAGS = 6
POLL_PAUSE = 0.0001  # seconds


def attrs(data):
    """(type, payload) of each netlink attribute in data."""
    while len(data) >= 4:
        length, kind = struct.unpack_from("=HH", data)
        if length < 4:
            return
        yield kind & 0x3FFF, data[4:length]
        data = data[(length + 3) & ~3:]


def messages(data):
    """(type, payload) of each netlink message in data."""
    while len(data) >= 16:
        length, kind, _flags, _seq, _pid = struct.unpack_from("=IHHII", data)
        if length < 16:
            return
        yield kind, data[16:length]
        data = data[(length + 3) & ~3:]


def request(sock, kind, flags, cmd, payload=b"", seq=1):
    body = struct.pack("=BBH", cmd, 1, 0) + payload
    sock.send(struct.pack("=IHHII", 16 + len(body), kind, flags, seq, 0) + body)


def family_id(sock):
    name = b"mptcp_pm\0"
    attr = struct.pack("=HH", 4 + len(name), CTRL_ATTR_FAMILY_NAME) + name
    attr += b"\0" * ((4 - len(attr) % 4) % 4)
    request(sock, GENL_ID_CTRL, NLM_F_REQUEST, CTRL_CMD_GETFAMILY, attr)
    for kind, payload in messages(sock.recv(65536)):
        if kind == NLMSG_ERROR:
            sys.exit("event_clock: no mptcp_pm generic netlink family")
        for attr_kind, value in attrs(payload[4:]):
            if attr_kind == CTRL_ATTR_FAMILY_ID:
                return struct.unpack("=H", value[:2])[0]
    sys.exit("event_clock: mptcp_pm family id not found")


def endpoint_flags(sock, family, needle):
    """The flags of the kernel's endpoint for the IPv4 address `needle`, from one dump; None
    when there is none."""
    request(sock, family, NLM_F_REQUEST | NLM_F_DUMP, MPTCP_PM_CMD_GET_ADDR)
    found = None
    while True:
        for kind, payload in messages(sock.recv(65536)):
            if kind == NLMSG_DONE or kind == NLMSG_ERROR:
                return found
            for attr_kind, nested in attrs(payload[4:]):
                if attr_kind != MPTCP_PM_ATTR_ADDR:
                    continue
                fields = dict(attrs(nested))
                if fields.get(MPTCP_PM_ADDR_ATTR_ADDR4) == needle:
                    found = struct.unpack("=I", fields.get(MPTCP_PM_ADDR_ATTR_FLAGS,
                                                           b"\0\0\0\0"))[0]


def main():
    options = {a for a in sys.argv[1:] if a.startswith("--")}
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    address = socket.inet_aton(args[0])
    timeout = float(args[1]) if len(args) > 1 else 10.0
    route = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    route.bind((0, RTMGRP_IPV4_IFADDR))
    genl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
    genl.bind((0, 0))
    family = family_id(genl)
    print("ready", flush=True)
    give_up = time.monotonic() + timeout
    while True:
        # Other address changes may come first: the timeout is for the whole wait.
        route.settimeout(max(give_up - time.monotonic(), 0.001))
        try:
            data = route.recv(65536)
        except TimeoutError:
            sys.exit("event_clock: no such address within the timeout")
        seen = time.monotonic_ns()
        if any(kind == RTM_NEWADDR and any(a == IFA_LOCAL and v == address
                                           for a, v in attrs(payload[8:]))
               for kind, payload in messages(data)):
            break
    deadline = seen + int(timeout * 1e9)
    while (flags := endpoint_flags(genl, family, address)) is None:
        if time.monotonic_ns() > deadline:
            sys.exit("event_clock: no endpoint within the timeout")
        # A pause between dumps: dumping back to back took a whole core from what is
        # measured (on 2 cores, from nm-mptcp's daemon, which must run to add its endpoint,
        # while NetworkManager's own support adds it in the commit that made the address).
        time.sleep(POLL_PAUSE)
    words = [f"{(time.monotonic_ns() - seen) / 1000:.0f}"]
    if "--flags" in options:
        words.append(str(flags))
    if "--when" in options:
        words.append(f"{time.time():.6f}")
    if os.environ.get("EVENT_CLOCK_DEBUG"):
        print(f"address seen at {seen / 1e9:.6f}", file=sys.stderr)
    print(" ".join(words), flush=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
