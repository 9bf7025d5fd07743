# Scenario guest-doe-policy (L1): our vmm runs L2 in the background under a policy that
# denies CXL Table Access (1e98:02) to this guest, with an audit file and a control socket.
# L2 (l2.sh) sees Discovery without 1e98:02, sends a CDAT request anyway (silently
# discarded: doectl times out, exit 6), prints `@@l2 waiting-for-reload` and polls
# Discovery. L1 sees the marker in L2's serial file, checks the one audit record, rewrites
# the policy to allow CDAT, reloads it through the socket (and SIGHUP), and L2's CDAT read
# then succeeds in the same boot.
set -u
. /etc/bench/lib.sh
BDF=0000:0d:00.0
NAME=guest-doe-policy
POLICY=/root/policy.toml
AUDIT=/root/audit.jsonl
SOCKET=/root/vmm.sock
SERIAL=/root/l2-serial.log
CMDLINE="console=ttyS0 panic=-1 quiet"
WAIT_S=300

section l1-cdat doectl cdat "$BDF" --json || fail "doectl cdat on the physical function"
bind_vfio "$BDF"
cp /root/deny-cdat.toml "$POLICY" || fail "copy the policy"
: > "$SERIAL"

vmm --kernel /l2/vmlinuz --initramfs /l2/initramfs --cmdline "$CMDLINE" --memory 512M \
    --cpus 1 --device "vfio=$BDF" --name "$NAME" --policy "$POLICY" --audit "$AUDIT" \
    --api-socket "$SOCKET" --serial "$SERIAL" &
VMM=$!

# dump_l2: L2's console so far, for the host-side check (and for a human when it fails).
dump_l2() {
    echo "@@begin l2-console"
    cat "$SERIAL"
    echo "@@end l2-console rc=0"
}

# wait_for MARKER: polls L2's serial file until MARKER appears (fails if vmm exits first).
wait_for() {
    _waited=0
    until grep -q "^$1" "$SERIAL" 2>/dev/null; do
        if ! kill -0 "$VMM" 2>/dev/null; then
            dump_l2
            fail "vmm exited before L2 printed '$1'"
        fi
        [ "$_waited" -lt "$WAIT_S" ] || { dump_l2; kill "$VMM"; fail "no '$1' from L2 after ${WAIT_S}s"; }
        sleep 1
        _waited=$((_waited + 1))
    done
    echo "L1 saw '$1' after ${_waited}s"
}

wait_for "@@l2 waiting-for-reload"
# The audit line is written by the vCPU's exchange path; give it a moment to reach the file.
sleep 1
section l1-audit cat "$AUDIT" || { dump_l2; kill "$VMM"; fail "no audit file $AUDIT"; }
records=$(grep -c '"1e98:02"' "$AUDIT")
[ "$records" = 1 ] || echo "L1: $records audit line(s) name 1e98:02 (the host checks for one)"

# Allow CDAT: the exception no longer names this guest.
sed -i "s/^guests = \"$NAME\"/guests = \"no-such-guest\"/" "$POLICY" || fail "rewrite the policy"
grep -q "^guests = \"$NAME\"" "$POLICY" && fail "the policy still names $NAME"
section l1-reload doectl policy reload --vmm "$SOCKET"
reload_rc=$?
# The other reload path: SIGHUP re-reads the same (now allowing) file; vmm must live on.
kill -HUP "$VMM" || fail "SIGHUP to vmm"
echo "L1: policy reloaded (socket rc=$reload_rc, SIGHUP sent)"

wait "$VMM"
rc=$?
dump_l2
echo "@@vmm-exit $rc"
[ "$reload_rc" = 0 ] || fail "doectl policy reload exited $reload_rc"
[ "$rc" = 0 ] || fail "vmm exited $rc"
running vmm && fail "a vmm process is still running"
[ -e "$SOCKET" ] && fail "vmm left its control socket $SOCKET behind"
echo "L1: the control socket is gone after vmm's exit"
exit 0
