#!/usr/bin/env bash
# Every test: unit and integration tests of the workspace, then every bench scenario in the
# nested QEMU bench (set up first, idempotently), then the user-script path of the bench.
set -euo pipefail
cd "$(dirname "$0")/.."
bench() { cargo run -q --locked -p guest-tests --bin bench -- "$@"; }

echo "== cargo test --workspace"
cargo test --locked --workspace

echo "== bench setup (with the 7.x kernel: guest-doe runs L2 on it too)"
bench setup --sid-kernel

echo "== bench run --all"
bench run --all --quiet

echo "== bench run guest-doe-policy on the 7.x L2 kernel (--all runs it on 6.12)"
bench run guest-doe-policy --l2-kernel 7 --quiet

echo "== bench script (a user's own script, with an extra file)"
bench script --quiet --topology cxl --l1 resources/examples/hello-l1.sh \
    --file resources/examples/hello.txt:/root/hello.txt

echo "== bench script --l1-env (a value with quotes, \$ and backquotes arrives unchanged)"
bench script --quiet --topology cxl --l1 resources/examples/env-l1.sh \
    --l1-env "BENCH_EXAMPLE=it's \"quoted\" \$HOME \`id\` two  words"

echo "== bench script whose L1 script fails must fail"
rc=0
bench script --quiet --topology cxl --l1 resources/examples/failing-l1.sh || rc=$?
if [ "$rc" -ne 1 ]; then
    echo "expected exit 1 from a failing script, got $rc" >&2
    exit 1
fi
echo "all tests passed"
