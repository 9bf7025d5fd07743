# Scenario contention (L2): reads the CDAT through the virtual DOE many times (each
# exchange timed) while L1 uses the same physical mailbox; prints one doe-stress report.
. /etc/bench/lib.sh
fn=$(find_function 0x8086 0x0d93) || fail "no 8086:0d93 function in L2"
echo "@@l2 fn $fn"
echo "@@l2 stress-begin"
section l2-stress doe-stress "$fn" --iterations 150 --label l2 || fail "doe-stress in L2"
echo "@@l2 stress-end"
exit 0
