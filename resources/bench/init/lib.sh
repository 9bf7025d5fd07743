# Shell helpers for bench scripts (L1 and L2): `. /etc/bench/lib.sh`.

# section NAME CMD...: runs CMD between markers the host-side checks read back.
section() {
    _name=$1; shift
    echo "@@begin $_name"
    "$@"
    _rc=$?
    echo "@@end $_name rc=$_rc"
    return $_rc
}

# fail MESSAGE: prints why a check failed and exits non-zero.
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# expect_eq WHAT GOT WANT: fails unless GOT equals WANT.
expect_eq() {
    [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
    echo "ok: $1 = $3"
}
