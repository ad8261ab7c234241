#!/usr/bin/env bash
# ADL's xAPI LRS conformance test suite (the 1.0.3 battery, 1365 tests) against the real binary's
# LRS at /api/v1/learn/xapi, over HTTP Basic with a key holding learn:xapi:read and
# learn:xapi:write, on an empty store. Passes only when every test passes.
#
#   scripts/xapi-conformance.sh [path/to/mobieus]      (default: target/debug/mobieus)
#
# The suite is not in a registry: it is copied from ../shared/tools/lrs-conformance-test-suite
# (or $XAPI_SUITE) into target/xapi-suite, and its npm dependencies installed there from the
# registry. Set XAPI_GREP to run one group (e.g. "Communication 2.1"). Its log of every request
# is left in target/xapi-suite/logs.
set -euo pipefail
cd "$(dirname "$0")/.."
SUITE_SRC=${XAPI_SUITE:-../shared/tools/lrs-conformance-test-suite}
SUITE=target/xapi-suite
if ! [ -f "$SUITE/node_modules/.installed" ]; then
    rm -rf "$SUITE"
    cp -r "$SUITE_SRC" "$SUITE"
    (cd "$SUITE" && npm ci --silent --no-audit --no-fund >/dev/null && touch node_modules/.installed)
fi
. scripts/serve-tenant.sh "${1:-}"
KEY=$("$BIN" --data-dir "$DATA" key create --tenant acme --env live \
    --scopes learn:xapi:read,learn:xapi:write --rate-limit 100000000 --quiet)
rm -rf "$SUITE/logs"
export NODE_OPTIONS="--require $PWD/scripts/localhost-resolver.js"
args=(-e "http://$HOST/api/v1/learn/xapi" -a -u xapi -p "$KEY" -x 1.0.3)
if [ -n "${XAPI_GREP:-}" ]; then
    args+=(-g "$XAPI_GREP")
fi
# Its exit code is the failure count modulo 256: the summary line decides. A few of its tests
# have no time limit of their own.
(cd "$SUITE" && timeout 1200 node bin/console_runner.js "${args[@]}") > "$DATA/suite.txt" 2>&1 || true
tail -n 40 "$DATA/suite.txt" | grep -v '^\s*$' | tail -n 15
SUMMARY=$(grep -o '{"total":[^}]*}' "$DATA/suite.txt" | tail -n 1 || true)
echo "xAPI conformance: ${SUMMARY:-no summary}"
cp "$DATA/suite.txt" target/xapi-suite/last-run.txt
if grep -q "internal_error" "$DATA/server.log"; then
    echo "the server logged an internal error:" >&2
    grep "internal_error" "$DATA/server.log" >&2
    exit 1
fi
python3 - "$SUMMARY" <<'PY'
import json, sys
summary = json.loads(sys.argv[1] or "{}")
if not summary or summary.get("failed", 1) != 0 or summary.get("passed", 0) != summary.get("total", -1):
    sys.exit("the xAPI conformance suite did not pass whole")
PY
