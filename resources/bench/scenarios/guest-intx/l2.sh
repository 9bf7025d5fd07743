# Scenario guest-intx (L2): bind edu to uio_pci_generic (loaded by L2's init), raise its
# INTx five times with intx-test, and show the kernel's count of the interrupt line.
. /etc/bench/lib.sh
fn=$(find_function 0x1234 0x11e8) || fail "no edu (1234:11e8) function in L2"
dev=/sys/bus/pci/devices/$fn
echo "@@l2 fn $fn"

drv=/sys/bus/pci/drivers/uio_pci_generic
[ -d "$drv" ] || fail "uio_pci_generic is not loaded"
# new_id binds every unbound function with these IDs; bind explicitly if it did not.
echo "1234 11e8" > "$drv/new_id" || fail "uio_pci_generic: new_id 1234 11e8"
[ -e "$dev/driver" ] || echo "$fn" > "$drv/bind" || fail "uio_pci_generic: bind $fn"
[ "$(basename "$(readlink "$dev/driver")")" = uio_pci_generic ] \
    || fail "$fn is not bound to uio_pci_generic"
echo "@@l2 bound $fn to uio_pci_generic: $(ls "$dev/uio"), IRQ $(cat "$dev/irq")"

if ! section l2-intx intx-test "$fn" --count 5; then
    # Evidence for a failed run: the interrupt lines and what the kernel said.
    cat /proc/interrupts
    dmesg | grep -i -e uio -e irq -e "$fn" | tail -n 20
    fail "intx-test"
fi
section l2-interrupts grep uio_pci_generic /proc/interrupts || fail "no uio_pci_generic line in /proc/interrupts"
