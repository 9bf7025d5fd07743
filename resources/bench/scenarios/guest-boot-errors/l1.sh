# Scenario guest-boot-errors (L1): every vmm failure the bench can provoke ends with one
# clear line and a non-zero exit, and leaves nothing running.
set -u
. /etc/bench/lib.sh

# The leftover-process check must be able to see a live process, or it proves nothing.
check_running_sees_processes
BDF=0000:0d:00.0
BOOT="--initramfs /l2/initramfs --cmdline console=ttyS0 --cpus 1 --serial stdout"

# expect_failure NAME PATTERN vmm-args...: vmm must exit non-zero, print PATTERN on stderr
# (its last line), and leave no vmm process behind.
expect_failure() {
    _name=$1; _pattern=$2; shift 2
    vmm "$@" >/tmp/out 2>/tmp/err
    _rc=$?
    echo "@@error-case $_name rc=$_rc stderr=$(tail -n 1 /tmp/err)"
    [ "$_rc" -ne 0 ] || fail "$_name: vmm exited 0"
    grep -q -- "$_pattern" /tmp/err || fail "$_name: stderr lacks '$_pattern': $(cat /tmp/err)"
    running vmm && fail "$_name: a vmm process is still running"
    echo "ok: $_name"
}

expect_failure missing-kernel "kernel" --kernel /nonexistent $BOOT --memory 256M
expect_failure not-a-bzimage "bzImage" --kernel /etc/bench/lib.sh $BOOT --memory 256M
expect_failure too-little-memory "memory" --kernel /l2/vmlinuz $BOOT --memory 1M
expect_failure wrong-bdf "0000:77:00.0" --kernel /l2/vmlinuz $BOOT --memory 256M --device vfio=0000:77:00.0
# The CXL function has no driver yet: not bound to vfio-pci.
expect_failure not-bound-to-vfio "vfio-pci" --kernel /l2/vmlinuz $BOOT --memory 256M --device "vfio=$BDF"
mv /dev/kvm /dev/kvm.hidden
expect_failure no-kvm "/dev/kvm" --kernel /l2/vmlinuz $BOOT --memory 256M
mv /dev/kvm.hidden /dev/kvm
echo "all error cases behaved"
