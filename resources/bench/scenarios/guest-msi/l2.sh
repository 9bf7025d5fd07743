# Scenario guest-msi (L2): edu stays unbound; msi-test programs its MSI capability (CPU 0,
# vector 0xf5), raises its interrupt five times and waits for each message in the kernel
# log; then the kernel's count of interrupts on unused vectors.
. /etc/bench/lib.sh
fn=$(find_function 0x1234 0x11e8) || fail "no edu (1234:11e8) function in L2"
echo "@@l2 fn $fn"
[ -e "/sys/bus/pci/devices/$fn/driver" ] \
    && fail "$fn is bound to $(basename "$(readlink "/sys/bus/pci/devices/$fn/driver")")"

if ! section l2-msi msi-test "$fn" --count 5; then
    # Evidence for a failed run: the interrupt counts and what the kernel said.
    cat /proc/interrupts
    dmesg | tail -n 20
    fail "msi-test"
fi
section l2-spurious grep SPU /proc/interrupts || fail "no SPU line in /proc/interrupts"
# MSI stays enabled until L2 powers off: give L1's sampler (every 0.1 s) time to see the
# final count of the function's VFIO MSI interrupt.
sleep 1
