#!/usr/bin/python3
"""Keep N `Describe` calls to nm-mptcp's daemon outstanding on the system bus at all times,
each answer (or error) followed at once by the next call, until killed: what any local user
can do. Prints nothing; exits when the bus goes away.

    describe_flood.py [N]        (8 by default)
"""
import sys

from jeepney import DBusAddress, new_method_call
from jeepney.io.blocking import open_dbus_connection

MANAGER = DBusAddress("/io/github/nm_mptcp1", bus_name="io.github.nm_mptcp1",
                      interface="io.github.nm_mptcp1.Manager")


def main():
    outstanding = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    connection = open_dbus_connection(bus="SYSTEM")
    for _ in range(outstanding):
        connection.send(new_method_call(MANAGER, "Describe"))
    while True:
        message = connection.receive()
        # A reply or an error to one of ours: ask again (signals and the rest are not ours).
        if message.header.message_type.value in (2, 3):
            connection.send(new_method_call(MANAGER, "Describe"))


if __name__ == "__main__":
    main()
