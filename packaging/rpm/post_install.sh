# nm-mptcp's .rpm, after install ($1 = 1) or upgrade ($1 = 2): the bus reads the new policy,
# the unit is enabled on install, then started or restarted where systemd runs. Without it
# the hook works alone and the first D-Bus caller starts the daemon.
if [ -S /run/dbus/system_bus_socket ] && command -v dbus-send >/dev/null; then
    dbus-send --system --type=method_call --dest=org.freedesktop.DBus \
        /org/freedesktop/DBus org.freedesktop.DBus.ReloadConfig >/dev/null 2>&1 || :
fi
# A reinstall after a removal (which ran `nm-mptcp release`): act again.
/usr/bin/nm-mptcp resume >/dev/null 2>&1 || :
if [ "$1" -eq 1 ]; then
    systemctl enable nm-mptcp.service >/dev/null 2>&1 || :
fi
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload || :
    if [ "$1" -eq 1 ]; then
        systemctl start nm-mptcp.service || :
    else
        systemctl try-restart nm-mptcp.service || :
    fi
fi
