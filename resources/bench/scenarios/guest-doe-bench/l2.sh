# Scenario guest-doe-bench (L2): doe-bench on the assigned function (under vmm or QEMU).
. /etc/bench/lib.sh
fn=$(find_function 0x8086 0x0d93) || fail "no 8086:0d93 function in L2"
echo "@@l2 fn $fn"
section l2-bench doe-bench "$fn" --label l2 --iterations 50 || fail "doe-bench in L2"
