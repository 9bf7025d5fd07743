# Scenario guest-intx (L1): our vmm boots L2 with QEMU's edu device assigned through VFIO;
# L2 raises edu's legacy INTx through uio_pci_generic and must receive each interrupt.
set -u
. /etc/bench/lib.sh

# The leftover-process check must be able to see a live process, or it proves nothing.
check_running_sees_processes
EDU=$(find_function 0x1234 0x11e8) || fail "no edu (1234:11e8) function in L1"
echo "@@l1 edu $EDU"

bind_vfio "$EDU"

section vmm vmm --kernel /l2/vmlinuz --initramfs /l2/initramfs \
    --cmdline "console=ttyS0 panic=-1 quiet" --memory 512M --cpus 1 \
    --device "vfio=$EDU" --serial stdout
rc=$?
echo "@@vmm-exit $rc"
[ "$rc" -eq 0 ] || fail "vmm exited $rc"
running vmm && fail "a vmm process is still running"
echo "vmm exited 0 and nothing is left running"
