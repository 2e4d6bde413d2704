#!/usr/bin/env bash
# A real NetworkManager, D-Bus system bus and nm-dispatcher in network namespaces.
#
#   lab.sh start NAME            netns NAME-c (NetworkManager) and NAME-s (plain peer)
#   lab.sh exec NAME CMD...      run CMD in NAME-c's network and mount namespaces
#   lab.sh host NAME CMD...      the host's CMD there (not the root's, for 1.52 and 1.58),
#                                with the lab's system bus as DBUS_SYSTEM_BUS_ADDRESS
#   lab.sh peer NAME CMD...      run CMD in NAME-s
#   lab.sh link NAME CIF SIF     veth CIF (for NetworkManager) <-> SIF (up, in the peer)
#   lab.sh nm-sysctl NAME 0|1    what NetworkManager reads as net.mptcp.enabled
#   lab.sh hook NAME BINARY      install BINARY as dispatcher.d/50-nm-mptcp (+ pre-down.d)
#   lab.sh unhook NAME
#   lab.sh dbus-install NAME BINARY  install dbus/ as a package does (policy, activation
#                                file running BINARY daemon) and reload the bus
#   lab.sh restart-nm NAME       stop NetworkManager and start it again (same state)
#   lab.sh logs NAME             dbus-daemon/nm-dispatcher (hook output) and NetworkManager logs
#   lab.sh stop NAME | stop-all
#   lab.sh root VERSION          build (once) and print the root for NetworkManager VERSION
#
# LAB_NM=1.52 or 1.58 at start runs that NetworkManager (with its D-Bus and nm-dispatcher)
# from a minimal Debian root (trixie, sid) made once with mmdebstrap into $LAB_ROOTS (default
# /var/cache/nm-mptcp-lab); unset or 1.42, the host's own (Debian 12). LAB_ROOT_DIR=DIR at
# start runs NetworkManager from the root DIR instead (a test's overlay over such a root, to
# install a package into). The holder chroots
# into the root with the lab's state and this checkout bound in at the same paths, so the
# static nm-mptcp binary and this script run there as they are.
#
# NAME is 1-12 lowercase letters or digits; state lives in /tmp/nm-mptcp-lab/NAME/.
# One holder process (sleep) in NAME-c owns a private mount namespace: /run, NetworkManager's
# profiles, dispatcher.d, conf.d and state, and /etc/nm-mptcp are tmpfs there, so the host's
# files are never touched. NetworkManager runs in a nested mount namespace where a file of the
# lab's own is bind-mounted over /proc/sys/net/mptcp/enabled: writing 0 there keeps
# NetworkManager's own MPTCP support out of the way, so every endpoint in the kernel is the
# hook's. Set LAB_NM_DEBUG=1 (at start) for NetworkManager's debug log. Logs: holder.log,
# dbus.log (dbus-daemon, nm-dispatcher and the hooks' stdout/stderr), nm.log.
# Nothing here addresses anything outside the lab's namespaces (no DNS, no connectivity check).
set -euo pipefail

ROOT=$(realpath -m -- "${LAB_ROOT:-/tmp/nm-mptcp-lab}") # LAB_ROOT: only to test the harness
ROOTS=$(realpath -m -- "${LAB_ROOTS:-/var/cache/nm-mptcp-lab}")
SELF=$(realpath "${BASH_SOURCE[0]}")
REPO=$(dirname "$(dirname "$(dirname "$SELF")")")
START_TIMEOUT=20 # seconds until nmcli answers after start / restart-nm
LINK_TIMEOUT=10  # seconds until a new veth is usable by NetworkManager
HOOK=50-nm-mptcp
DISPATCHER=/etc/NetworkManager/dispatcher.d

die() {
    echo "lab: $*" >&2
    exit 1
}

state() { echo "$ROOT/$1"; }

# True if PID lives in network namespace NS (guards against stale pid files and pid reuse).
in_netns() {
    local a b
    a=$(stat -Lc %d:%i "/proc/$1/ns/net" 2>/dev/null) || return 1
    b=$(stat -Lc %d:%i "/run/netns/$2" 2>/dev/null) || return 1
    [[ $a == "$b" ]]
}

# The holder's pid, checked to still live in NAME-c.
holder_pid() {
    local name=$1 pid
    pid=$(cat "$(state "$name")/holder.pid" 2>/dev/null) || die "lab $name is not running"
    if ! [[ $pid =~ ^[0-9]+$ ]] || ! in_netns "$pid" "$name-c"; then
        die "lab $name: holder $pid is gone"
    fi
    echo "$pid"
}

# nsenter's flags for the lab's namespaces (and, in a root of another release, its root and
# working directory).
lab_ns_flags() {
    if [[ -s $(state "$1")/root ]]; then echo "-n -m -r -w"; else echo "-n -m"; fi
}

in_lab() {
    local name=$1 pid
    shift
    pid=$(holder_pid "$name")
    # shellcheck disable=SC2046 # the flags are words
    nsenter -t "$pid" $(lab_ns_flags "$name") -- "$@"
}

# The Debian release that ships NetworkManager VERSION; empty for the host's own.
suite_of() {
    case $1 in
    "" | 1.42) echo "" ;;
    1.52) echo trixie ;;
    1.58) echo sid ;;
    *) die "no Debian release known for NetworkManager $1 (1.42, 1.52 or 1.58)" ;;
    esac
}

# Build the root for NetworkManager VERSION once (racing labs wait for the first) and print it.
root() {
    local suite dir
    suite=$(suite_of "$1")
    [[ -n $suite ]] || die "NetworkManager $1 is the host's own: no root to build"
    dir=$ROOTS/$suite
    mkdir -p "$ROOTS"
    (
        flock 9
        [[ -x $dir/usr/sbin/NetworkManager ]] && exit 0
        command -v mmdebstrap >/dev/null || die "mmdebstrap is missing (apt-get install mmdebstrap)"
        rm -rf "$dir.tmp"
        mmdebstrap --quiet --variant=minbase --aptopt='Acquire::Check-Valid-Until "false"' \
            --include=network-manager,dbus,iproute2,procps "$suite" "$dir.tmp" >&2 ||
            die "mmdebstrap $suite failed"
        rm -rf "$dir"
        mv "$dir.tmp" "$dir"
    ) 9>"$ROOTS/$suite.lock"
    echo "$dir"
}

# Runs as `ip netns exec NAME-c unshare -m --propagation private lab.sh __holder DIR`;
# becomes the lab's long-lived holder.
holder() {
    local dir=$1 d i r
    if [[ -s $dir/root && -z ${LAB_IN_ROOT:-} ]]; then
        # A mount point of its own, so `unshare --propagation private` works inside.
        r=$(cat "$dir/root")
        mount --bind "$r" "$r"
        mount -t proc proc "$r/proc"
        mount --rbind /sys "$r/sys"
        mount --rbind /dev "$r/dev"
        for d in "$dir" "$REPO"; do
            mkdir -p "$r$d"
            mount --bind "$d" "$r$d"
        done
        LAB_IN_ROOT=1 exec chroot "$r" bash "$SELF" __holder "$dir"
    fi
    # Only now (in the root, if any): nsenter must never find the host's root or /run.
    echo $$ >"$dir/holder.pid.new"
    mv "$dir/holder.pid.new" "$dir/holder.pid"
    mount -t tmpfs -o mode=0755 tmpfs /run
    mkdir -p /run/dbus /run/NetworkManager
    # With a read-only /sys NetworkManager does not wait for udev (there is none) and manages
    # new devices; with a writable one every device stays unmanaged.
    mount -o remount,ro /sys
    for d in /etc/NetworkManager/system-connections "$DISPATCHER" /etc/NetworkManager/conf.d \
        /var/lib/NetworkManager /etc/nm-mptcp /etc/dbus-1/system.d; do
        mkdir -p "$d" # on the host only if missing: the mount point itself
        mount -t tmpfs -o mode=0755 tmpfs "$d"
    done
    mkdir -p "$DISPATCHER"/{pre-up.d,pre-down.d,no-wait.d}
    # Only NetworkManager's own helpers are D-Bus activatable in the lab: otherwise NM's requests
    # start ModemManager (which probes the host's serial devices), polkitd, hostnamed, ...
    mkdir -p "$dir/system-services"
    cp /usr/share/dbus-1/system-services/org.freedesktop.nm_{dispatcher,priv_helper}.service \
        "$dir/system-services/"
    mount --bind "$dir/system-services" /usr/share/dbus-1/system-services
    # --nosyslog: bus messages to stderr; nm-dispatcher (D-Bus activated) and the hooks it runs
    # inherit that stderr, so their output lands in dbus.log too.
    dbus-daemon --system --nofork --nopidfile --nosyslog </dev/null >>"$dir/dbus.log" 2>&1 &
    for i in $(seq 100); do
        [[ -S /run/dbus/system_bus_socket ]] && break
        sleep 0.05
    done
    [[ -S /run/dbus/system_bus_socket ]] || die "dbus-daemon did not create its socket"
    start_nm "$dir"
    exec sleep infinity
}

# NetworkManager in its own mount namespace, where net.mptcp.enabled is the lab's file.
# --debug: log to stderr (nm.log); without it NetworkManager logs only to the (absent) journal.
# Its pid goes to DIR/nm.pid (for restart-nm). The subshell makes it an orphan (adopted and
# reaped by init, not left a zombie under the holder's sleep); setsid, a session of its own.
start_nm() {
    local dir=$1
    # shellcheck disable=SC2016 # expanded by the inner sh
    (setsid unshare -m --propagation private sh -c '
        echo $$ >"$1/nm.pid"
        mount --bind "$1/nm-sysctl" /proc/sys/net/mptcp/enabled &&
            exec NetworkManager --no-daemon --debug --config="$1/NetworkManager.conf"' sh "$dir" \
        </dev/null >>"$dir/nm.log" 2>&1 &)
}

# True while PID runs (a zombie counts as gone).
alive() {
    local st
    st=$(sed -n 's/^.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $st && $st != Z ]]
}

# Wait until nmcli answers inside the lab; fails early when the holder (pid WATCH, if given)
# or NetworkManager exits.
wait_for_nm() {
    local name=$1 watch=${2:-} dir deadline=$((SECONDS + START_TIMEOUT))
    dir=$(state "$name")
    while ((SECONDS < deadline)); do
        # shellcheck disable=SC2046 # the flags are words
        if [[ -s $dir/holder.pid ]] &&
            timeout 5 nsenter -t "$(cat "$dir/holder.pid")" $(lab_ns_flags "$name") -- \
                nmcli -t general status >/dev/null 2>&1; then
            return 0
        fi
        if [[ -n $watch ]] && ! alive "$watch"; then
            echo "lab $name: the holder exited" >&2
            return 1
        fi
        if [[ -s $dir/nm.pid ]] && ! alive "$(cat "$dir/nm.pid")"; then
            echo "lab $name: NetworkManager exited" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "lab $name: no answer from NetworkManager within ${START_TIMEOUT}s" >&2
    return 1
}

start() {
    local name=$1 dir level=INFO holder suite
    dir=$(state "$name")
    [[ -e /run/netns/$name-c || -e /run/netns/$name-s ]] && die "lab $name exists; stop it first"
    rm -rf "$dir"
    mkdir -p "$dir"
    suite=$(suite_of "${LAB_NM:-}") || exit 1
    if [[ -n ${LAB_ROOT_DIR:-} ]]; then
        realpath -e -- "$LAB_ROOT_DIR" >"$dir/root" || die "LAB_ROOT_DIR: no such directory"
    elif [[ -n $suite ]]; then
        root "$LAB_NM" >"$dir/root"
    fi
    printf '1\n' >"$dir/nm-sysctl"
    [[ ${LAB_NM_DEBUG:-} == 1 ]] && level=DEBUG
    # dns=none, hostname-mode=none: NetworkManager shares the host's /etc/resolv.conf and
    # hostname (only the mount and network namespaces are the lab's); leave both alone.
    cat >"$dir/NetworkManager.conf" <<EOF
[main]
plugins=keyfile
no-auto-default=*
dns=none
rc-manager=unmanaged
hostname-mode=none
auth-polkit=root-only

[logging]
level=$level

[connectivity]
enabled=false
EOF
    : >"$dir/dbus.log"
    : >"$dir/nm.log"
    : >"$dir/holder.log"
    ip netns add "$name-c"
    ip netns add "$name-s"
    ip -n "$name-c" link set lo up
    ip -n "$name-s" link set lo up
    # setsid: the holder outlives this shell and is out of its caller's process group.
    setsid ip netns exec "$name-c" unshare -m --propagation private \
        bash "$SELF" __holder "$dir" </dev/null >>"$dir/holder.log" 2>&1 &
    holder=$!
    wait_for_nm "$name" "$holder" && return 0
    echo "lab $name did not start (lab.sh stop $name cleans up)" >&2
    logs "$name" >&2
    exit 1
}

restart_nm() {
    local name=$1 dir pid i
    dir=$(state "$name")
    holder_pid "$name" >/dev/null
    pid=$(cat "$dir/nm.pid" 2>/dev/null) || pid="" # none: NetworkManager is already gone
    if [[ $pid =~ ^[0-9]+$ ]] && in_netns "$pid" "$name-c"; then
        kill "$pid"
        for i in $(seq 100); do
            alive "$pid" || break
            sleep 0.1
        done
        alive "$pid" && die "NetworkManager ($pid) did not stop"
    fi
    rm -f "$dir/nm.pid"
    in_lab "$name" bash "$SELF" __start_nm "$dir"
    wait_for_nm "$name" && return 0
    # Seen once in ~20 full runs with three labs restarting at once: the new NetworkManager
    # gone at once, without a word in its log. Say so, and start it once more.
    echo "lab $name: NetworkManager did not come back; starting it once more" >&2
    logs "$name" >&2
    rm -f "$dir/nm.pid"
    in_lab "$name" bash "$SELF" __start_nm "$dir"
    wait_for_nm "$name" || {
        logs "$name" >&2
        die "NetworkManager did not come back"
    }
}

# What NetworkManager says about DEVICE (e.g. "disconnected"); empty if it does not list it.
device_state() {
    in_lab "$1" nmcli -t -f DEVICE,STATE device status 2>/dev/null |
        awk -F: -v dev="$2" '$1 == dev { print $2 }'
}

link() {
    local name=$1 client=$2 server=$3 st="" deadline
    holder_pid "$name" >/dev/null
    ip link add "$client" netns "$name-c" type veth peer name "$server" netns "$name-s"
    ip -n "$name-s" link set "$server" up
    deadline=$((SECONDS + LINK_TIMEOUT))
    while ((SECONDS < deadline)); do
        st=$(device_state "$name" "$client")
        case $st in
        "" | unmanaged | unavailable) sleep 0.1 ;;
        *) return 0 ;;
        esac
    done
    in_lab "$name" nmcli device status >&2 || true
    [[ $st == unmanaged ]] && echo "lab: $client is unmanaged (is /sys writable in the lab?)" >&2
    die "device $client did not become available to NetworkManager (state: ${st:-not listed})"
}

nm_sysctl() {
    [[ ${2:-} == 0 || ${2:-} == 1 ]] || die "nm-sysctl NAME 0|1"
    holder_pid "$1" >/dev/null
    # In place: the bind mount in NetworkManager's namespace points at this inode.
    printf '%s\n' "$2" >"$(state "$1")/nm-sysctl"
}

hook() {
    local name=$1 binary owner mode
    binary=$(realpath -e -- "$2") || die "no such file: $2"
    # nm-dispatcher silently skips scripts that are not root-owned, are group/other writable,
    # set-UID or not executable (it checks the symlink's target).
    read -r owner mode < <(stat -Lc '%u %a' -- "$binary")
    [[ $owner == 0 && $((8#$mode & 8#4022)) == 0 && $((8#$mode & 8#100)) != 0 ]] ||
        die "$binary: nm-dispatcher wants root-owned, mode u+x, no g+w/o+w/set-UID (got $owner $mode)"
    in_lab "$name" test -x "$binary" || die "$binary is not visible inside lab $name"
    in_lab "$name" ln -sfn -- "$binary" "$DISPATCHER/$HOOK"
    in_lab "$name" ln -sfn -- "$binary" "$DISPATCHER/pre-down.d/$HOOK"
}

dbus_install() {
    local name=$1 binary dir
    binary=$(realpath -e -- "$2") || die "no such file: $2"
    dir=$(state "$name")
    in_lab "$name" cp "$REPO/dbus/io.github.nm_mptcp1.conf" /etc/dbus-1/system.d/
    sed "s|^Exec=.*|Exec=$binary daemon|" "$REPO/dbus/io.github.nm_mptcp1.service" \
        >"$dir/system-services/io.github.nm_mptcp1.service"
    # dbus-send: the roots have no busctl (trixie's has no systemd).
    in_lab "$name" dbus-send --system --print-reply --dest=org.freedesktop.DBus \
        /org/freedesktop/DBus org.freedesktop.DBus.ReloadConfig >/dev/null
}

unhook() {
    in_lab "$1" rm -f -- "$DISPATCHER/$HOOK" "$DISPATCHER/pre-down.d/$HOOK"
}

logs() {
    local dir
    dir=$(state "$1")
    echo "--- lab holder ($dir/holder.log)"
    tail -n 20 "$dir/holder.log" 2>/dev/null || true
    echo "--- dbus-daemon, nm-dispatcher, hooks ($dir/dbus.log)"
    tail -n 60 "$dir/dbus.log" 2>/dev/null || true
    echo "--- NetworkManager ($dir/nm.log)"
    tail -n 40 "$dir/nm.log" 2>/dev/null || true
}

# All pids in the lab's two network namespaces.
lab_pids() {
    local ns
    for ns in "$1-c" "$1-s"; do
        [[ -e /run/netns/$ns ]] && ip netns pids "$ns" 2>/dev/null
    done
    return 0
}

stop() {
    local name=$1 i sig=TERM ns
    local -a pids
    # SIGTERM for 2 s, then SIGKILL; re-read the list each round (processes may still fork).
    for i in $(seq 50); do
        mapfile -t pids < <(lab_pids "$name")
        ((${#pids[@]} == 0)) && break
        ((i > 20)) && sig=KILL
        kill -s "$sig" -- "${pids[@]}" 2>/dev/null || true
        sleep 0.1
    done
    mapfile -t pids < <(lab_pids "$name")
    for ns in "$name-c" "$name-s"; do
        [[ -e /run/netns/$ns ]] && ip netns del "$ns"
    done
    # The mount point this lab left in a shared root (empty once its holder is gone).
    [[ -s $(state "$name")/root ]] && rmdir "$(cat "$(state "$name")/root")$(state "$name")" 2>/dev/null
    rm -rf "$(state "$name")"
    ((${#pids[@]} == 0)) || die "lab $name: processes survived SIGKILL: ${pids[*]}"
}

stop_all() {
    local dir rc=0
    for dir in "$ROOT"/*/; do
        [[ -d $dir ]] || continue
        stop "$(basename "$dir")" || rc=1
    done
    return "$rc"
}

usage() {
    sed -n '4,16p' "$SELF" | sed 's/^# *//' >&2
    exit 2
}

cmd=${1:-}
case $cmd in
__holder) holder "$2" ;;   # internal: inside NAME-c's private mount namespace
__start_nm) start_nm "$2" ;; # internal: inside the lab (restart-nm)
stop-all) stop_all ;;
root)
    [[ $# == 2 ]] || usage
    root "$2"
    ;;
"" | -h | --help | help) usage ;;
*)
    [[ $# -ge 2 ]] || usage
    name=$2
    [[ $name =~ ^[a-z0-9]{1,12}$ ]] || die "lab name must be 1-12 lowercase letters or digits"
    shift 2
    case $cmd in
    start) start "$name" ;;
    exec)
        [[ $# -ge 1 ]] || die "exec NAME CMD..."
        pid=$(holder_pid "$name")
        # shellcheck disable=SC2046 # the flags are words
        exec nsenter -t "$pid" $(lab_ns_flags "$name") -- "$@"
        ;;
    host)
        [[ $# -ge 1 ]] || die "host NAME CMD..."
        pid=$(holder_pid "$name")
        root=$(cat "$(state "$name")/root" 2>/dev/null || true)
        exec nsenter -t "$pid" -n -m -- \
            env DBUS_SYSTEM_BUS_ADDRESS="unix:path=$root/run/dbus/system_bus_socket" "$@"
        ;;
    peer)
        [[ $# -ge 1 ]] || die "peer NAME CMD..."
        [[ -e /run/netns/$name-s ]] || die "lab $name is not running"
        exec ip netns exec "$name-s" "$@"
        ;;
    link)
        [[ $# == 2 ]] || die "link NAME CIF SIF"
        link "$name" "$1" "$2"
        ;;
    nm-sysctl) nm_sysctl "$name" "${1:-}" ;;
    hook)
        [[ $# == 1 ]] || die "hook NAME BINARY"
        hook "$name" "$1"
        ;;
    unhook) unhook "$name" ;;
    dbus-install)
        [[ $# == 1 ]] || die "dbus-install NAME BINARY"
        dbus_install "$name" "$1"
        ;;
    logs) logs "$name" ;;
    restart-nm) restart_nm "$name" ;;
    stop) stop "$name" ;;
    *) die "unknown command $cmd" ;;
    esac
    ;;
esac
