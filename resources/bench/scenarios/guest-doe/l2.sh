# Scenario guest-doe (L2): what the guest sees of the virtual DOE — kernel, doe_features
# (7.x only), Discovery and CDAT from user space, lspci's decoding, the kernel's DOE lines.
# The host checks every section; this script fails only if a tool that must work does not.
. /etc/bench/lib.sh
fn=$(find_function 0x8086 0x0d93) || fail "no 8086:0d93 function in L2"
echo "@@l2 fn $fn"
section l2-uname uname -r
section l2-doe-features ls -1 "/sys/bus/pci/devices/$fn/doe_features/"
section l2-discover doectl discover "$fn" --json || fail "doectl discover in L2"
section l2-cdat doectl cdat "$fn" --json || fail "doectl cdat in L2"
section l2-lspci lspci -vvv -s "${fn#0000:}" || fail "lspci in L2"
section l2-dmesg-doe sh -c "dmesg | grep -iw doe"
exit 0
