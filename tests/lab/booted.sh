#!/usr/bin/env bash
# A booted Debian host: systemd as PID 1 in a container (systemd-nspawn), NetworkManager
# started by systemd, in a network namespace of its own, with links to a plain peer.
#
#   booted.sh root SUITE          build (once) the root of SUITE (trixie, sid) and print it
#   booted.sh start NAME SUITE    boot an overlay of it and wait until systemd is running
#   booted.sh link NAME CIF SIF   veth CIF (in the container) <-> SIF (up, in netns NAME-p)
#   booted.sh exec NAME CMD...    run CMD in the container (every namespace of its PID 1)
#   booted.sh put NAME FILE       copy FILE to the container's /var/tmp (its /tmp is a tmpfs)
#   booted.sh stop NAME
#
# The roots live in $LAB_ROOTS (default /var/cache/nm-mptcp-lab) as booted-SUITE; what a test
# changes lands in an overlay under /tmp/nm-mptcp-booted/NAME, so the cached root stays clean.
# NetworkManager's own MPTCP support is on there, as on every real host. Nothing here
# addresses anything outside the container and its peer namespace.
set -euo pipefail

ROOTS=$(realpath -m -- "${LAB_ROOTS:-/var/cache/nm-mptcp-lab}")
STATE=/tmp/nm-mptcp-booted

die() {
    echo "booted.sh: $*" >&2
    exit 1
}

root() {
    local suite=$1 dir
    [[ $suite =~ ^(trixie|sid)$ ]] || die "no root for $suite (trixie or sid)"
    dir=$ROOTS/booted-$suite
    mkdir -p "$ROOTS"
    (
        flock 9
        [[ -x $dir/lib/systemd/systemd && -x $dir/usr/sbin/NetworkManager ]] && exit 0
        command -v mmdebstrap >/dev/null || die "mmdebstrap is missing (apt-get install mmdebstrap)"
        rm -rf "$dir.tmp"
        mmdebstrap --quiet --variant=minbase --aptopt='Acquire::Check-Valid-Until "false"' \
            --include=systemd,systemd-sysv,dbus,network-manager,iproute2,procps,kmod \
            "$suite" "$dir.tmp" >&2 || die "mmdebstrap $suite failed"
        rm -rf "$dir"
        mv "$dir.tmp" "$dir"
    ) 9>"$ROOTS/booted-$suite.lock"
    echo "$dir"
}

pid1() {
    cat "$STATE/$1/pid1"
}

start() {
    local name=$1 suite=$2 lower dir nspawn pid=
    command -v systemd-nspawn >/dev/null ||
        die "systemd-nspawn is missing (apt-get install systemd-container)"
    lower=$(root "$suite")
    dir=$STATE/$name
    stop "$name" 2>/dev/null || true
    mkdir -p "$dir/upper" "$dir/work" "$dir/root"
    mount -t overlay overlay -o "lowerdir=$lower,upperdir=$dir/upper,workdir=$dir/work" "$dir/root"
    ip netns add "$name-p"
    ip -n "$name-p" link set lo up
    # The host mounts cgroups v1 with a v2 hierarchy beside it; systemd 257 and later run
    # only on a unified one.
    SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 setsid systemd-nspawn -q -b -D "$dir/root" \
        --private-network -M "$name" --register=no --console=pipe --keep-unit \
        </dev/null >"$dir/console.log" 2>&1 &
    nspawn=$!
    echo "$nspawn" >"$dir/nspawn.pid"
    for _ in $(seq 200); do
        pid=$(pgrep -P "$nspawn" -x systemd || true)
        [[ -n $pid ]] && break
        sleep 0.05
    done
    [[ -n $pid ]] || die "$name: no systemd in the container ($(tail -5 "$dir/console.log"))"
    echo "$pid" >"$dir/pid1"
    # Until systemd's own bus is there, systemctl cannot even ask.
    local state=
    for _ in $(seq 600); do
        state=$(nsenter -t "$pid" -a -- systemctl is-system-running 2>/dev/null || true)
        [[ $state == running || $state == degraded ]] && return 0
        sleep 0.1
    done
    die "$name: systemd is ${state:-unreachable} after 60 s ($(tail -5 "$dir/console.log"))"
}

link() {
    local name=$1 cif=$2 sif=$3
    # Made in the namespaces at once: two containers may both want an `enp4s0f0`.
    ip link add "$cif" netns "$(pid1 "$name")" type veth peer name "$sif" netns "$name-p"
    ip -n "$name-p" link set "$sif" up
}

run_in() {
    local name=$1
    shift
    nsenter -t "$(pid1 "$name")" -a -- "$@"
}

put() {
    cp -- "$2" "$STATE/$1/root/var/tmp/"
}

stop() {
    local name=$1 dir nspawn
    dir=$STATE/$name
    if [[ -f $dir/nspawn.pid ]]; then
        nspawn=$(cat "$dir/nspawn.pid")
        # SIGTERM halts the container.
        kill "$nspawn" 2>/dev/null || true
        for _ in $(seq 200); do
            kill -0 "$nspawn" 2>/dev/null || break
            sleep 0.05
        done
        kill -9 "$nspawn" 2>/dev/null || true
    fi
    ip netns del "$name-p" 2>/dev/null || true
    umount -l "$dir/root" 2>/dev/null || true
    rm -rf "$dir"
}

[[ $# -ge 1 ]] || die "usage: booted.sh root|start|link|exec|put|stop ..."
command=$1
shift
case $command in
    root) root "$@" ;;
    start) start "$@" ;;
    link) link "$@" ;;
    exec) run_in "$@" ;;
    put) put "$@" ;;
    stop) stop "$@" ;;
    *) die "no command $command" ;;
esac
