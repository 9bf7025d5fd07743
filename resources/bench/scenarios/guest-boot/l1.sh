# Scenario guest-boot (L1): our vmm boots L2 with the CXL function assigned through VFIO,
# with 1 and then 2 vCPUs; then, for the benchmark, QEMU boots the same L2 with the same
# device. vmm-probe measures boot-to-init and memory beyond guest RAM for each.
set -u
. /etc/bench/lib.sh

# The leftover-process check must be able to see a live process, or it proves nothing.
check_running_sees_processes
BDF=0000:0d:00.0
MEM_MIB=512
CMDLINE="console=ttyS0 panic=-1 quiet"

bind_vfio "$BDF"

for cpus in 1 2; do
    section "vmm-$cpus" vmm-probe --label "vmm-$cpus" --guest-memory-mib "$MEM_MIB" -- \
        vmm --kernel /l2/vmlinuz --initramfs /l2/initramfs --cmdline "$CMDLINE" \
            --memory "${MEM_MIB}M" --cpus "$cpus" --device "vfio=$BDF" --serial stdout \
        || fail "vmm with $cpus vCPU(s) did not exit 0"
    running vmm && fail "a vmm process is still running"
done

# The same guest under QEMU as the L1 VMM: the benchmark's baseline (never asserted on).
section qemu-1 vmm-probe --label qemu-1 --guest-memory-mib "$MEM_MIB" -- \
    qemu-system-x86_64 -machine q35,accel=kvm -cpu host -m "${MEM_MIB}M" -smp 1 \
        -nodefaults -no-user-config -display none -serial stdio -no-reboot \
        -kernel /l2/vmlinuz -initrd /l2/initramfs -append "$CMDLINE" \
        -device "vfio-pci,host=$BDF" \
    || fail "QEMU did not exit 0"
