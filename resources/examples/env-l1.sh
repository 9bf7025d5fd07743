# Example user script for `bench script --l1-env` (runs in L1 as root): the value arrives
# exactly as given on the host, quotes, `$` and backquotes included, never expanded.
# Usage: bench script --topology cxl --l1 resources/examples/env-l1.sh \
#          --l1-env "BENCH_EXAMPLE=it's \"quoted\" \$HOME \`id\` two  words"
set -eu
want="it's \"quoted\" \$HOME \`id\` two  words"
if [ "${BENCH_EXAMPLE-<unset>}" != "$want" ]; then
    echo "BENCH_EXAMPLE is '${BENCH_EXAMPLE-<unset>}', want '$want'" >&2
    exit 1
fi
echo "BENCH_EXAMPLE arrived unchanged: $BENCH_EXAMPLE"
