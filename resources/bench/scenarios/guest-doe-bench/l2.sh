# Scenario guest-doe-bench (L2): doe-bench on the assigned function (under vmm or QEMU),
# spinning on Status, then Linux-like (a 4 ms pause between Status reads, as the kernel's
# jiffy at HZ=250), each with a mark and a 1 s pause around every operation so L1 can
# snapshot vmm's exit counters while this guest is idle (the same under QEMU).
. /etc/bench/lib.sh
fn=$(find_function 0x8086 0x0d93) || fail "no 8086:0d93 function in L2"
echo "@@l2 fn $fn"
section l2-bench-spin doe-bench "$fn" --label l2-spin --iterations 50 --poll-us 0 \
    --pause-ms 1000 || fail "doe-bench (spinning) in L2"
section l2-bench-linux doe-bench "$fn" --label l2-linux-like --iterations 50 --poll-us 4000 \
    --pause-ms 1000 || fail "doe-bench (Linux-like) in L2"
