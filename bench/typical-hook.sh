#!/bin/sh
# The dispatcher script users write today (the baseline nm-mptcp is measured against): read
# the profile's flags with nmcli, then set an endpoint per address with ip.
IFACE=$1
ACTION=$2
[ "$ACTION" = up ] || exit 0
profile=$(nmcli -g GENERAL.CONNECTION device show "$IFACE") || exit 0
flags=$(nmcli -g connection.mptcp-flags connection show "$profile")
case $flags in *disabled*) exit 0 ;; esac
kernel_flags=""
for f in signal subflow backup fullmesh; do
    case $flags in *"$f"*) kernel_flags="$kernel_flags $f" ;; esac
done
for address in $(nmcli -g IP4.ADDRESS device show "$IFACE" | tr '|' ' '); do
    # shellcheck disable=SC2086 # one word per flag
    ip mptcp endpoint add "${address%/*}" dev "$IFACE" $kernel_flags 2>/dev/null || true
done
exit 0
