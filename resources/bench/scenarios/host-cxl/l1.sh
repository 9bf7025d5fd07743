# Scenario host-cxl (L1): our DOE requester against QEMU's cxl-type3 DOE, through sysfs.
set -u
. /etc/bench/lib.sh
BDF=0000:0d:00.0

section list doectl list --json || fail "doectl list"
section discover doectl discover "$BDF" || fail "doectl discover"
section discover-json doectl discover "$BDF" --json || fail "doectl discover --json"
section cdat doectl cdat "$BDF" || fail "doectl cdat"
section cdat-json doectl cdat "$BDF" --json || fail "doectl cdat --json"

# The same facts, checked in L1 too, so the script's own verdict means something.
protocols=$(doectl discover "$BDF" | awk '/^  [0-9a-f]{4}:[0-9a-f]{2}/ {print $1}' | tr '\n' ' ')
expect_eq "protocols of $BDF" "$protocols" "0001:00 1e98:02 "

# Exit codes users' scripts rely on.
doectl discover 0000:77:00.0 >/dev/null 2>&1
expect_eq "exit code for a missing device" "$?" 3
doectl discover 0000:00:00.0 >/dev/null 2>&1
expect_eq "exit code for a device without DOE" "$?" 4
