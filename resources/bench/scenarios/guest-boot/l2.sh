# Scenario guest-boot (L2): report what the guest sees; the host checks it.
. /etc/bench/lib.sh
cpus=$(grep -c '^processor' /proc/cpuinfo)
echo "@@l2 cpus $cpus"
section "l2-pci" pci-inventory
