# Shell helpers for bench scripts (L1 and L2): `. /etc/bench/lib.sh`.

# section NAME CMD...: runs CMD between markers the host-side checks read back.
section() {
    _name=$1; shift
    echo "@@begin $_name"
    "$@"
    _rc=$?
    echo "@@end $_name rc=$_rc"
    return $_rc
}

# fail MESSAGE: prints why a check failed and exits non-zero.
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# expect_eq WHAT GOT WANT: fails unless GOT equals WANT.
expect_eq() {
    [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
    echo "ok: $1 = $3"
}

# bind_vfio BDF: detaches the function from its driver (if any) and binds it to vfio-pci.
bind_vfio() {
    _dev=/sys/bus/pci/devices/$1
    [ -d "$_dev" ] || fail "bind_vfio: no device $1"
    if [ -e "$_dev/driver" ]; then
        echo "$1" > "$_dev/driver/unbind" || fail "bind_vfio: unbind $1"
    fi
    echo vfio-pci > "$_dev/driver_override" || fail "bind_vfio: driver_override $1"
    echo "$1" > /sys/bus/pci/drivers_probe || fail "bind_vfio: drivers_probe $1"
    [ "$(basename "$(readlink "$_dev/driver")")" = vfio-pci ] || fail "bind_vfio: $1 is not bound to vfio-pci"
    echo "bound $1 to vfio-pci (IOMMU group $(basename "$(readlink "$_dev/iommu_group")"))"
}

# running NAME: true if a process whose command name is NAME is alive (busybox-static
# has no pgrep).
running() {
    for _comm in /proc/[0-9]*/comm; do
        [ "$(cat "$_comm" 2>/dev/null)" = "$1" ] && return 0
    done
    return 1
}

# check_running_sees_processes: fails unless `running` can see a live process (so a
# "nothing is left running" check is not vacuous).
check_running_sees_processes() {
    sleep 60 &
    _pid=$!
    running sleep || fail "running() cannot see a live process"
    kill "$_pid" 2>/dev/null
    wait "$_pid" 2>/dev/null
    return 0
}
