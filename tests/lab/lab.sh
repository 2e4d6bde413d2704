#!/usr/bin/env bash
# A real NetworkManager, D-Bus system bus and nm-dispatcher in network namespaces.
#
#   lab.sh start NAME            netns NAME-c (NetworkManager) and NAME-s (plain peer)
#   lab.sh exec NAME CMD...      run CMD in NAME-c's network and mount namespaces
#   lab.sh peer NAME CMD...      run CMD in NAME-s
#   lab.sh link NAME CIF SIF     veth CIF (for NetworkManager) <-> SIF (up, in the peer)
#   lab.sh nm-sysctl NAME 0|1    what NetworkManager reads as net.mptcp.enabled
#   lab.sh hook NAME BINARY      install BINARY as dispatcher.d/50-nm-mptcp (+ pre-down.d)
#   lab.sh unhook NAME
#   lab.sh restart-nm NAME       stop NetworkManager and start it again (same state)
#   lab.sh logs NAME             dbus-daemon/nm-dispatcher (hook output) and NetworkManager logs
#   lab.sh stop NAME | stop-all
#
# /run, NetworkManager's profiles, dispatcher.d and conf.d, and /etc/nm-mptcp are private
# to the lab (tmpfs), so the host's files are never touched.
# NetworkManager runs in a nested mount namespace where a file of the lab's own is bind-mounted
# over /proc/sys/net/mptcp/enabled: writing 0 there keeps NetworkManager's own MPTCP support
# out of the way, so every endpoint in the kernel is the hook's. Set LAB_NM_DEBUG=1 for
# NetworkManager's debug log. Nothing here addresses anything outside the lab's namespaces.
set -euo pipefail

ROOT=/tmp/nm-mptcp-lab

die() { echo "lab: $*" >&2; exit 1; }

state() { echo "$ROOT/$1"; }

holder_pid() {
    local pid
    pid=$(cat "$(state "$1")/holder.pid" 2>/dev/null) || die "lab $1 is not running"
    echo "$pid"
}

in_lab() {
    local name=$1; shift
    nsenter -t "$(holder_pid "$name")" -n -m -- "$@"
}

# Runs inside NAME-c with a private mount namespace; stays alive as the lab's holder.
holder() {
    local dir=$1
    mount -t tmpfs tmpfs /run
    mkdir -p /run/dbus /run/NetworkManager
    # With a read-only /sys NetworkManager does not wait for udev and manages the veths.
    mount -o remount,ro /sys
    local d
    for d in /etc/NetworkManager/system-connections /etc/NetworkManager/dispatcher.d \
             /etc/NetworkManager/conf.d /var/lib/NetworkManager /etc/nm-mptcp; do
        mkdir -p "$d"
        mount -t tmpfs tmpfs "$d"
    done
    mkdir -p /etc/NetworkManager/dispatcher.d/{pre-up.d,pre-down.d,no-wait.d}
    dbus-daemon --system --nofork --nopidfile >>"$dir/dbus.log" 2>&1 &
    local i
    for i in $(seq 100); do [[ -S /run/dbus/system_bus_socket ]] && break; sleep 0.05; done
    start_nm "$dir"
    echo $$ >"$dir/holder.pid"
    exec sleep infinity
}

# NetworkManager in its own mount namespace, where net.mptcp.enabled is the lab's file.
start_nm() {
    local dir=$1
    setsid unshare -m --propagation private sh -c \
        "mount --bind '$dir/nm-sysctl' /proc/sys/net/mptcp/enabled && exec NetworkManager --no-daemon --config='$dir/NetworkManager.conf'" \
        </dev/null >>"$dir/nm.log" 2>&1 &
    echo $! >"$dir/nm.pid"
}

wait_for_nm() {
    local name=$1 i
    for i in $(seq 200); do
        in_lab "$name" nmcli -t general status >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

restart_nm() {
    local name=$1 dir pid i
    dir=$(state "$name")
    pid=$(cat "$dir/nm.pid")
    kill "$pid"
    for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    in_lab "$name" bash "${BASH_SOURCE[0]}" __start_nm "$dir"
    wait_for_nm "$name" || die "NetworkManager did not come back"
}

start() {
    local name=$1 dir
    dir=$(state "$name")
    [[ -e /run/netns/$name-c ]] && die "lab $name exists; stop it first"
    mkdir -p "$dir"
    # The mount point for the lab's private /etc/nm-mptcp (nm-mptcp's own directory).
    mkdir -p /etc/nm-mptcp
    echo 1 >"$dir/nm-sysctl"
    local level=INFO
    [[ ${LAB_NM_DEBUG:-} == 1 ]] && level=DEBUG
    cat >"$dir/NetworkManager.conf" <<EOF
[main]
plugins=keyfile
no-auto-default=*

[logging]
level=$level
EOF
    : >"$dir/dbus.log"
    : >"$dir/nm.log"
    ip netns add "$name-c"
    ip netns add "$name-s"
    ip -n "$name-c" link set lo up
    ip -n "$name-s" link set lo up
    # setsid: the holder outlives this shell and its caller's process group.
    setsid ip netns exec "$name-c" unshare -m --propagation private \
        bash "${BASH_SOURCE[0]}" __holder "$dir" </dev/null >/dev/null 2>&1 &
    local i
    for i in $(seq 100); do [[ -s $dir/holder.pid ]] && break; sleep 0.05; done
    [[ -s $dir/holder.pid ]] && wait_for_nm "$name" && return 0
    echo "lab $name: NetworkManager did not come up" >&2
    logs "$name" >&2
    exit 1
}

link() {
    local name=$1 client=$2 server=$3 i
    ip link add "$client" netns "$name-c" type veth peer name "$server" netns "$name-s"
    ip -n "$name-s" link set "$server" up
    for i in $(seq 100); do
        if in_lab "$name" nmcli -t -f DEVICE,STATE device status 2>/dev/null |
            grep -q "^$client:\(disconnected\|connected\|connecting\)"; then
            return 0
        fi
        sleep 0.1
    done
    in_lab "$name" nmcli device status >&2 || true
    die "device $client did not become available to NetworkManager"
}

nm_sysctl() {
    [[ $2 == 0 || $2 == 1 ]] || die "nm-sysctl takes 0 or 1"
    # In place: the bind mount keeps pointing at this inode.
    printf '%s\n' "$2" >"$(state "$1")/nm-sysctl"
}

hook() {
    local name=$1 binary
    binary=$(realpath "$2")
    in_lab "$name" ln -sfn "$binary" /etc/NetworkManager/dispatcher.d/50-nm-mptcp
    in_lab "$name" ln -sfn "$binary" /etc/NetworkManager/dispatcher.d/pre-down.d/50-nm-mptcp
}

unhook() {
    in_lab "$1" rm -f /etc/NetworkManager/dispatcher.d/50-nm-mptcp \
        /etc/NetworkManager/dispatcher.d/pre-down.d/50-nm-mptcp
}

logs() {
    local dir
    dir=$(state "$1")
    echo "--- dbus-daemon, nm-dispatcher, hooks ($dir/dbus.log)"
    tail -n 60 "$dir/dbus.log" 2>/dev/null || true
    echo "--- NetworkManager ($dir/nm.log)"
    tail -n 40 "$dir/nm.log" 2>/dev/null || true
}

stop() {
    local name=$1 ns pids i
    for ns in "$name-c" "$name-s"; do
        [[ -e /run/netns/$ns ]] || continue
        pids=$(ip netns pids "$ns" 2>/dev/null || true)
        [[ -n $pids ]] && kill $pids 2>/dev/null || true
        for i in $(seq 30); do
            pids=$(ip netns pids "$ns" 2>/dev/null || true)
            [[ -z $pids ]] && break
            sleep 0.1
        done
        [[ -n $pids ]] && kill -9 $pids 2>/dev/null || true
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -rf "$(state "$name")"
}

stop_all() {
    local dir
    for dir in "$ROOT"/*/; do
        [[ -d $dir ]] && stop "$(basename "$dir")"
    done
    return 0
}

cmd=${1:-}
[[ $cmd == __holder ]] && { holder "$2"; exit; }
[[ $cmd == __start_nm ]] && { start_nm "$2"; exit; }
[[ $cmd == stop-all ]] && { stop_all; exit; }
[[ $# -ge 2 ]] || die "usage: lab.sh start|exec|peer|link|nm-sysctl|hook|unhook|logs|stop NAME ..."
name=$2
[[ $name =~ ^[a-z0-9]{1,10}$ ]] || die "lab name must be 1-10 lowercase letters or digits"
shift 2
case $cmd in
    start) start "$name" ;;
    exec) in_lab "$name" "$@" ;;
    peer) ip netns exec "$name-s" "$@" ;;
    link) [[ $# == 2 ]] || die "link NAME CIF SIF"; link "$name" "$1" "$2" ;;
    nm-sysctl) nm_sysctl "$name" "${1:-}" ;;
    hook) [[ $# == 1 ]] || die "hook NAME BINARY"; hook "$name" "$1" ;;
    unhook) unhook "$name" ;;
    logs) logs "$name" ;;
    restart-nm) restart_nm "$name" ;;
    stop) stop "$name" ;;
    *) die "unknown command $cmd" ;;
esac
