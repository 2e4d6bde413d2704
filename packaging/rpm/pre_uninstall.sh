# nm-mptcp's .rpm, before erase ($1 = 0; 1 is an upgrade): stop and disable the unit, then
# give back what nm-mptcp changed: its endpoints, the limits and rp_filter it set. Others'
# stay as they are. A failure is reported but does not block the erase.
if [ "$1" -eq 0 ]; then
    if [ -d /run/systemd/system ]; then
        systemctl disable --now nm-mptcp.service >/dev/null 2>&1 || :
    else
        systemctl disable nm-mptcp.service >/dev/null 2>&1 || :
    fi
    /usr/bin/nm-mptcp release ||
        echo "nm-mptcp: release failed; 'ip mptcp endpoint show' lists what is left" >&2
fi
