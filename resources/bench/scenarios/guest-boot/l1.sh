# Scenario guest-boot (L1): our vmm boots L2 with the CXL function assigned through VFIO,
# with 1 and then 2 vCPUs; then, for the benchmark, QEMU and vmm boot the same L2 with the
# same device, alternately. vmm-probe measures boot-to-init and memory beyond guest RAM.
set -u
. /etc/bench/lib.sh

# The leftover-process check must be able to see a live process, or it proves nothing.
check_running_sees_processes
BDF=0000:0d:00.0
MEM_MIB=512
CMDLINE="console=ttyS0 panic=-1 quiet"

bind_vfio "$BDF"

for cpus in 1 2; do
    section "vmm-$cpus" vmm-probe --label "vmm-$cpus" --guest-memory-mib "$MEM_MIB" --timeout-s 180 -- \
        vmm --kernel /l2/vmlinuz --initramfs /l2/initramfs --cmdline "$CMDLINE" \
            --memory "${MEM_MIB}M" --cpus "$cpus" --device "vfio=$BDF" --serial stdout \
        || fail "vmm with $cpus vCPU(s) did not exit 0"
    running vmm && fail "a vmm process is still running"
done

# The benchmark (never asserted on): the same guest under QEMU as the L1 VMM, same kernel,
# initramfs and device, after vmm-1 above. One QEMU round: in this nested bench a QEMU L2
# boot occasionally hangs at start, and every extra round adds that risk.
section qemu-1 qemu_l2 qemu-1 "$MEM_MIB" "$CMDLINE" -device "vfio-pci,host=$BDF"
