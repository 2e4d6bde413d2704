#!/usr/bin/env python3
"""One bulk transfer over MPTCP (or plain TCP), for the lab's data-path test and the demo.

  transfer.py serve PORT            accept one connection, print bytes per second and per
                                    tenth of a second as JSON
  transfer.py send HOST PORT SECS [--tcp]

Only ever pointed at the lab's own namespaces.
"""
import json
import socket
import sys
import time

IPPROTO_MPTCP = 262


def serve(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM, IPPROTO_MPTCP) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("0.0.0.0", port))
        listener.listen(1)
        print("ready", flush=True)
        conn, _ = listener.accept()
        per_second, per_tenth = [], []
        start = time.monotonic()
        with conn:
            while True:
                try:
                    data = conn.recv(1 << 16)
                except OSError:
                    break
                if not data:
                    break
                elapsed = time.monotonic() - start
                for buckets, index in ((per_second, int(elapsed)), (per_tenth, int(elapsed * 10))):
                    buckets.extend([0] * (index + 1 - len(buckets)))
                    buckets[index] += len(data)
        print(json.dumps({"per_second": per_second, "per_tenth": per_tenth}), flush=True)


def send(host, port, seconds, proto):
    chunk = b"\x5a" * (1 << 16)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM, proto) as sock:
        sock.settimeout(10)
        sock.connect((host, port))
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            sock.sendall(chunk)


def main(argv):
    if len(argv) >= 2 and argv[0] == "serve":
        serve(int(argv[1]))
    elif len(argv) >= 4 and argv[0] == "send":
        proto = socket.IPPROTO_TCP if "--tcp" in argv[4:] else IPPROTO_MPTCP
        send(argv[1], int(argv[2]), float(argv[3]), proto)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
