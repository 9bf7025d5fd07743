# Scenario guest-msi (L1): our vmm boots L2 with QEMU's edu device assigned through VFIO;
# L2 has edu signal its interrupt by MSI and must receive each message. While vmm runs,
# L1 samples the /proc/interrupts line of the function's VFIO MSI interrupt.
set -u
. /etc/bench/lib.sh

# The leftover-process check must be able to see a live process, or it proves nothing.
check_running_sees_processes
EDU=$(find_function 0x1234 0x11e8) || fail "no edu (1234:11e8) function in L1"
echo "@@l1 edu $EDU"

bind_vfio "$EDU"

# vfio-pci requests the interrupt when vmm enables MSI on the function for the guest and
# frees it when vmm ends, so keep the last line seen while vmm runs.
sample=/tmp/vfio-msi
stop=/tmp/vfio-msi.stop
: > "$sample"
(
    while [ ! -e "$stop" ]; do
        line=$(grep -F "vfio-msi[0]($EDU)" /proc/interrupts) && echo "$line" > "$sample"
        sleep 0.1
    done
) &
sampler=$!

section vmm vmm --kernel /l2/vmlinuz --initramfs /l2/initramfs \
    --cmdline "console=ttyS0 panic=-1 quiet" --memory 512M --cpus 1 \
    --device "vfio=$EDU" --serial stdout
rc=$?
touch "$stop"
wait "$sampler"
echo "@@vmm-exit $rc"
section l1-vfio-msi cat "$sample"
[ "$rc" -eq 0 ] || fail "vmm exited $rc"
[ -s "$sample" ] || fail "no vfio-msi[0]($EDU) line in /proc/interrupts while vmm ran"
running vmm && fail "a vmm process is still running"
echo "vmm exited 0 and nothing is left running"
