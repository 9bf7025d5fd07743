# Scenario guest-doe-bench (L1): DOE exchange latency with the same tool (doe-bench: N
# Discovery exchanges and walks, N CDAT entry-0 exchanges and whole reads) from L1 on the
# physical function (sysfs), then from L2 through our vmm's virtual DOE, then from L2
# through QEMU's raw VFIO passthrough. The host prints the comparison; nothing is asserted
# on the figures.
set -u
. /etc/bench/lib.sh
BDF=0000:0d:00.0
MEM_MIB=512
CMDLINE="console=ttyS0 panic=-1 quiet"

section l1-bench doe-bench "$BDF" --label l1 --iterations 50 || fail "doe-bench in L1"
bind_vfio "$BDF"

section vmm-bench vmm --kernel /l2/vmlinuz --initramfs /l2/initramfs --cmdline "$CMDLINE" \
    --memory "${MEM_MIB}M" --cpus 1 --device "vfio=$BDF" --serial stdout \
    --name guest-doe-bench --policy /root/bench.toml \
    || fail "vmm did not exit 0"
running vmm && fail "a vmm process is still running"

section qemu-bench qemu_l2 qemu-bench "$MEM_MIB" "$CMDLINE" -device "vfio-pci,host=$BDF"
exit 0
