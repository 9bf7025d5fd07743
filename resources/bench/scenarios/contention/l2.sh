# Scenario contention (L2). Default: reads the CDAT through the virtual DOE many times
# (each exchange timed) while L1 uses the same physical mailbox; prints one doe-stress
# report. With `contention.mode=recovery` on the command line: L1 drives the physical
# mailbox raw while vmm starts; L2 tries Discovery and a CDAT read a few times meanwhile,
# then waits for L1's "writer-stopped" on the console and tries until it works.
. /etc/bench/lib.sh
fn=$(find_function 0x8086 0x0d93) || fail "no 8086:0d93 function in L2"
echo "@@l2 fn $fn"

# attempt PHASE N: one Discovery walk and one whole CDAT read, each result on a line.
attempt() {
    if out=$(doectl discover "$fn" --json 2>&1); then
        echo "@@l2 attempt $1 $2 discover ok"
    else
        echo "@@l2 attempt $1 $2 discover rc=$? $(printf '%s' "$out" | tr '\n' ' ' | tail -c 160)"
        return 1
    fi
    if out=$(doectl cdat "$fn" --json 2>&1); then
        echo "@@l2 attempt $1 $2 cdat ok"
    else
        echo "@@l2 attempt $1 $2 cdat rc=$? $(printf '%s' "$out" | tr '\n' ' ' | tail -c 160)"
        return 1
    fi
}

# wait_line WORD: reads console lines until WORD (L1 writes into vmm's serial input).
wait_line() {
    while read -r -t 600 _line; do
        case $_line in *"$1"*) return 0 ;; esac
    done
    fail "no '$1' from L1 on the console"
}

case " $(cat /proc/cmdline) " in
*" contention.mode=recovery "*)
    echo "@@l2 recovery-begin"
    for n in 1 2 3; do
        attempt under-writer "$n"
    done
    echo "@@l2 waiting-for-stop"
    wait_line writer-stopped
    n=0
    until attempt after-stop "$((n + 1))"; do
        n=$((n + 1))
        [ "$n" -lt 40 ] || fail "Discovery and CDAT still failing 40 attempts after the writer stopped"
        sleep 0.5
    done
    echo "@@l2 recovered-at-attempt $((n + 1))"
    section l2-recovered-discover doectl discover "$fn" --json
    section l2-recovered-cdat doectl cdat "$fn" --json
    echo "@@l2 recovery-end"
    wait_line host-done
    exit 0
    ;;
esac

echo "@@l2 stress-begin"
section l2-stress doe-stress "$fn" --iterations 150 --label l2 || fail "doe-stress in L2"
echo "@@l2 stress-end"
exit 0
