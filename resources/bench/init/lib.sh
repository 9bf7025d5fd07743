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

# probe_piped FILTER VMM-PROBE-ARGS...: runs `vmm-probe VMM-PROBE-ARGS...` with its output
# (the VMM's console, then the @@probe line) piped into FILTER, a command line split on
# spaces (e.g. a shell function and its arguments) that reads it and should echo what it
# reads, and returns vmm-probe's exit status (a plain pipeline in sh returns FILTER's).
probe_piped() {
    _pp_filter=$1; shift
    _pp_rcfile=$(mktemp) || fail "probe_piped: mktemp"
    { vmm-probe "$@"; echo $? > "$_pp_rcfile"; } | $_pp_filter
    _pp_rc=$(cat "$_pp_rcfile")
    rm -f "$_pp_rcfile"
    [ -n "$_pp_rc" ] || fail "probe_piped: vmm-probe's exit status was not recorded"
    return "$_pp_rc"
}

# qemu_l2 [--no-sample] [--filter FILTER] LABEL MEM_MIB CMDLINE [QEMU-ARGS...]: boots
# /l2/vmlinuz and /l2/initramfs under QEMU as the L1 VMM (the baseline our vmm is compared
# with), measured by vmm-probe under LABEL (`--no-sample`: vmm-probe samples no memory;
# `--filter`: its output goes through FILTER as in probe_piped). In this nested bench a
# QEMU L2 boot occasionally hangs at its start: such a boot is killed after 180 s and tried
# once more as LABEL-retry; the baseline is not what the bench tests, but a second hang
# fails the script.
qemu_l2() {
    _q_probe=""; _q_filter=cat
    while :; do
        case $1 in
            --no-sample) _q_probe=--no-sample; shift ;;
            --filter) _q_filter=$2; shift 2 ;;
            *) break ;;
        esac
    done
    # The label is kept before the shift: after it, $1 is the first QEMU argument.
    _q_base=$1; _q_label=$1; _mem=$2; _cmdline=$3; shift 3
    for _try in 1 2; do
        probe_piped "$_q_filter" $_q_probe --label "$_q_label" --guest-memory-mib "$_mem" \
            --timeout-s 180 -- \
            qemu-system-x86_64 -machine q35,accel=kvm -cpu host -m "${_mem}M" -smp 1 \
                -nodefaults -no-user-config -display none -serial stdio -no-reboot \
                -kernel /l2/vmlinuz -initrd /l2/initramfs -append "$_cmdline" "$@"
        _rc=$?
        [ "$_rc" -eq 0 ] && return 0
        case $_rc in
            124) _q_why="hung" ;;
            125) _q_why="exited without L2 reaching init" ;;
            *) fail "QEMU ($_q_label) exited $_rc" ;;
        esac
        [ "$_try" -eq 1 ] && echo "QEMU ($_q_label) $_q_why; retrying once"
        _q_label="$_q_base-retry"
    done
    fail "QEMU ($_q_base) did not boot L2 twice (hung or ended before init; last: $_q_why)"
}

# find_function VENDOR DEVICE: prints the address of the first PCI function with these
# IDs (as sysfs writes them, e.g. 0x8086 0x0d93); fails if there is none.
find_function() {
    for _d in /sys/bus/pci/devices/*; do
        if [ "$(cat "$_d/vendor")" = "$1" ] && [ "$(cat "$_d/device")" = "$2" ]; then
            basename "$_d"
            return 0
        fi
    done
    return 1
}
