# nm-mptcp's .rpm, after erase ($1 = 0): the bus forgets the policy, systemd the unit.
if [ "$1" -eq 0 ]; then
    if [ -S /run/dbus/system_bus_socket ] && command -v dbus-send >/dev/null; then
        dbus-send --system --type=method_call --dest=org.freedesktop.DBus \
            /org/freedesktop/DBus org.freedesktop.DBus.ReloadConfig >/dev/null 2>&1 || :
    fi
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload || :
    fi
    rm -rf /run/nm-mptcp
fi
