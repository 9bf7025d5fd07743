# Scenario contention (L1): one physical mailbox, two users at once.
#  1. mediated: vmm runs L2 with --doe-socket; while L2 reads the CDAT through its virtual
#     DOE, L1 reads it (and walks Discovery) through the socket. Both must be right.
#  2. bypass: the same, but L1 drives the physical registers itself (`doe-stress --force`,
#     as `doectl --force` would): corrupted or failed exchanges are expected and counted.
#  3. doe-proxyd, no guest: root reads CDAT through its socket; uid 1000 (allowed only
#     CMA/SPDM) is denied CDAT, with one audit record; uid 1001 (no rule) is refused at
#     the door, with one audit record; the socket goes with the daemon.
#  4. recovery: a raw host writer (`doectl --force cdat` in a loop) drives the physical
#     mailbox while vmm starts; once it stops, L2's Discovery and CDAT read work in the
#     same boot, and L1's next exchange through vmm's socket works.
# `doectl doctor` runs on the function bound to its driver, then to vfio-pci with vmm
# owning it.
set -u
. /etc/bench/lib.sh
BDF=0000:0d:00.0
N=60
SOCK=/run/doe.sock
SERIAL=/root/l2-serial.log
CMDLINE="console=ttyS0 panic=-1 quiet"
WAIT_S=300

ref_json=$(doectl cdat "$BDF" --json) || fail "doectl cdat on the physical function"
REF=$(printf '%s\n' "$ref_json" | sed -n 's/.*"bytes": *"\([0-9a-f]*\)".*/\1/p')
[ -n "$REF" ] || fail "no CDAT bytes in doectl's report"
echo "@@reference $REF"
section doctor-driver doectl doctor "$BDF"
bind_vfio "$BDF"

# wait_for MARKER: polls L2's serial file until MARKER appears (fails if vmm exits first).
wait_for() {
    _waited=0
    until grep -q "^$1" "$SERIAL" 2>/dev/null; do
        kill -0 "$VMM" 2>/dev/null || { dump_l2 x; fail "vmm exited before L2 printed '$1'"; }
        [ "$_waited" -lt $((WAIT_S * 10)) ] || { dump_l2 x; kill "$VMM"; fail "no '$1' from L2"; }
        sleep 0.1
        _waited=$((_waited + 1))
    done
}

# dump_l2 MODE: L2's console, for the host-side check.
dump_l2() {
    echo "@@begin l2-console-$1"
    cat "$SERIAL"
    echo "@@end l2-console-$1 rc=0"
}

# round MODE: L2 under vmm --doe-socket; L1's workload through the socket (mediated) or
# on the registers (bypass) while L2's runs.
round() {
    : > "$SERIAL"
    vmm --kernel /l2/vmlinuz --initramfs /l2/initramfs --cmdline "$CMDLINE" --memory 512M \
        --cpus 1 --device "vfio=$BDF" --name contention --policy /root/policy.toml \
        --doe-socket "$SOCK" --serial "$SERIAL" &
    VMM=$!
    wait_for "@@l2 stress-begin"
    [ "$1" = mediated ] && section doctor-vfio doectl doctor "$BDF"
    if grep -q "^@@l2 stress-end" "$SERIAL"; then
        echo "@@overlap $1 no"
    else
        echo "@@overlap $1 yes"
    fi
    if [ "$1" = mediated ]; then
        section "l1-$1" doe-stress "$BDF" --socket "$SOCK" --iterations "$N" --discovery \
            --reference "$REF" --label "l1-$1"
    else
        section "l1-$1" doe-stress "$BDF" --force --iterations "$N" --discovery \
            --reference "$REF" --label "l1-$1"
    fi
    grep -q "^@@l2 stress-end" "$SERIAL" && echo "@@l2-ended-before-l1 $1 yes" \
        || echo "@@l2-ended-before-l1 $1 no"
    wait "$VMM"
    _rc=$?
    dump_l2 "$1"
    echo "@@vmm-exit $1 $_rc"
    [ "$_rc" = 0 ] || fail "vmm ($1) exited $_rc"
    [ -e "$SOCK" ] && fail "vmm left its DOE socket $SOCK behind"
    return 0
}

round mediated
round bypass

# doe-proxyd owns the mailbox; no guest.
PSOCK=/run/doe-proxyd.sock
AUDIT=/root/proxyd-audit.jsonl
: > "$AUDIT"
doe-proxyd --socket "$PSOCK" --socket-mode 0666 --policy /root/proxyd.toml --audit "$AUDIT" \
    --function "$BDF" &
PROXYD=$!
_w=0
until [ -S "$PSOCK" ]; do
    kill -0 "$PROXYD" 2>/dev/null || fail "doe-proxyd exited"
    [ "$_w" -lt 300 ] || fail "doe-proxyd never created $PSOCK"
    sleep 0.1
    _w=$((_w + 1))
done
section proxyd-root doe-stress "$BDF" --socket "$PSOCK" --iterations 20 --discovery \
    --reference "$REF" --label proxyd-root --as-uid 0
section proxyd-1000 doe-stress "$BDF" --socket "$PSOCK" --iterations 1 --label proxyd-1000 \
    --as-uid 1000
section proxyd-1001 doe-stress "$BDF" --socket "$PSOCK" --iterations 1 --label proxyd-1001 \
    --as-uid 1001
kill -TERM "$PROXYD"
wait "$PROXYD"
echo "@@proxyd-exit $?"
section proxyd-audit cat "$AUDIT"
[ -e "$PSOCK" ] && fail "doe-proxyd left $PSOCK behind"

# 4. recovery: a raw writer runs while vmm starts and until L2 has tried a few times, then
# stops; L2 must then succeed in the same boot, and L1 through vmm's socket.
#   recovery      the writer is `doectl --force cdat` in a loop (a host user bypassing it);
#   recovery-jam  the writer is doe-jam (garbage and Go, never an abort: a broken
#                 requester whose Gos discard the others' requests).
STOP=/root/stop-writer
WLOG=/root/writer.log
IN=/root/l2-in

# force_loop: `doectl --force cdat` until $STOP exists; "runs failed" into $WLOG.
force_loop() {
    runs=0 failed=0
    while [ ! -e "$STOP" ]; do
        runs=$((runs + 1))
        doectl --force cdat "$BDF" > /dev/null 2>&1 || failed=$((failed + 1))
    done
    echo "$runs $failed" > "$WLOG"
}

# jam: doe-jam until $STOP exists; its report into $WLOG.
jam() {
    doe-jam "$BDF" --until "$STOP" > "$WLOG" 2>&1
}

# recovery_round MODE WRITER
recovery_round() {
    : > "$SERIAL"
    VLOG=/root/vmm-$1.log
    rm -f "$STOP" "$WLOG" "$IN"
    $2 &
    WRITER=$!
    sleep 2
    # vmm's serial input: L1 tells L2 when the writer has stopped.
    mkfifo "$IN" || fail "mkfifo $IN"
    exec 3<> "$IN"
    VMM_LOG=info vmm --kernel /l2/vmlinuz --initramfs /l2/initramfs \
        --cmdline "$CMDLINE contention.mode=recovery" --memory 512M --cpus 1 \
        --device "vfio=$BDF" --name contention --policy /root/policy.toml \
        --doe-socket "$SOCK" --serial "$SERIAL" < "$IN" 2> "$VLOG" &
    VMM=$!
    wait_for "@@l2 waiting-for-stop"
    touch "$STOP"
    wait "$WRITER"
    echo "@@writer $1 $(cat "$WLOG")"
    echo writer-stopped >&3
    wait_for "@@l2 recovery-end"
    section "l1-after-$1" doectl --socket "$SOCK" cdat "$BDF" --json
    echo host-done >&3
    wait "$VMM"
    _rc=$?
    exec 3>&-
    dump_l2 "$1"
    section "vmm-$1-log" cat "$VLOG"
    echo "@@vmm-exit $1 $_rc"
    [ "$_rc" = 0 ] || fail "vmm ($1) exited $_rc"
    return 0
}

recovery_round recovery force_loop
recovery_round recovery-jam jam
exit 0
