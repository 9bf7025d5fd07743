# Scenario guest-doe (L1): read the CDAT of the physical function first (the reference),
# then let our vmm (default policy) boot L2 with the function assigned, once with the Debian
# 6.12 kernel and once with the 7.x kernel; L2 (l2.sh) reads the virtual DOE and the host
# compares. The 7.x kernel is carried in by the scenario (extra_l2_kernels = ["7"]).
set -u
. /etc/bench/lib.sh
BDF=0000:0d:00.0
MEM_MIB=512
CMDLINE="console=ttyS0 panic=-1 quiet"

[ -f /l2/vmlinuz-7 ] || fail "guest-doe needs the 7.x L2 kernel at /l2/vmlinuz-7; run \`bench setup --sid-kernel\`"

section l1-cdat doectl cdat "$BDF" --json || fail "doectl cdat on the physical function"
bind_vfio "$BDF"

for k in 6 7; do
    kernel=/l2/vmlinuz
    [ "$k" = 6 ] || kernel=/l2/vmlinuz-$k
    section "vmm-l2-$k" vmm --kernel "$kernel" --initramfs /l2/initramfs --cmdline "$CMDLINE" \
        --memory "${MEM_MIB}M" --cpus 1 --device "vfio=$BDF" --serial stdout --name guest-doe \
        || fail "vmm with the $k.x L2 kernel did not exit 0"
    running vmm && fail "a vmm process is still running"
done
exit 0
