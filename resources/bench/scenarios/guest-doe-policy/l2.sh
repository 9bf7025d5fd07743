# Scenario guest-doe-policy (L2): under a policy that denies 1e98:02 to this guest,
# Discovery lists only 0001:00 and a CDAT request sent anyway is discarded (doectl exit 6);
# then wait until L1 reloads a policy that allows it, and read the CDAT in the same boot.
. /etc/bench/lib.sh
fn=$(find_function 0x8086 0x0d93) || fail "no 8086:0d93 function in L2"
echo "@@l2 fn $fn"

section l2-discover-denied doectl discover "$fn" --json || fail "doectl discover (denied)"
start=$(date +%s)
section l2-cdat-denied doectl cdat "$fn" --mailbox 0x190 --no-discovery --json
echo "@@l2 cdat-denied-rc $? after $(( $(date +%s) - start ))s"

# Hand over to L1, then poll Discovery (answered by the VMM, never audited) until CDAT shows.
echo "@@l2 waiting-for-reload"
waited=0
until doectl discover "$fn" | grep -q '1e98:02'; do
    [ "$waited" -lt 300 ] || fail "Discovery never offered 1e98:02 (no reload?)"
    sleep 1
    waited=$((waited + 1))
done
echo "@@l2 reload seen after ${waited}s"
section l2-discover-allowed doectl discover "$fn" --json || fail "doectl discover (allowed)"
section l2-cdat-allowed doectl cdat "$fn" --json || fail "doectl cdat after the reload"
exit 0
