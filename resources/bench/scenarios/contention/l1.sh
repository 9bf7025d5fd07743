# Scenario contention (L1): one physical mailbox, two users at once.
#  1. mediated: vmm runs L2 with --doe-socket; while L2 reads the CDAT through its virtual
#     DOE, L1 reads it (and walks Discovery) through the socket. Both must be right.
#  2. bypass: the same, but L1 drives the physical registers itself (no mediator, what
#     `doectl --force` does): corrupted or failed exchanges are expected and counted.
#  3. doe-proxyd, no guest: root reads CDAT through its socket; uid 1000 (allowed only
#     CMA/SPDM) is denied CDAT, with one audit record; the socket goes with the daemon.
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
    if grep -q "^@@l2 stress-end" "$SERIAL"; then
        echo "@@overlap $1 no"
    else
        echo "@@overlap $1 yes"
    fi
    if [ "$1" = mediated ]; then
        section "l1-$1" doe-stress "$BDF" --socket "$SOCK" --iterations "$N" --discovery \
            --reference "$REF" --label "l1-$1"
    else
        section "l1-$1" doe-stress "$BDF" --iterations "$N" --discovery \
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
kill -TERM "$PROXYD"
wait "$PROXYD"
echo "@@proxyd-exit $?"
section proxyd-audit cat "$AUDIT"
[ -e "$PSOCK" ] && fail "doe-proxyd left $PSOCK behind"
exit 0
