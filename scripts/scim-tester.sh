#!/usr/bin/env bash
# scim2-tester (python-scim's SCIM 2.0 compliance checker, from PyPI) against the real binary:
# discovery, then create, read, query, replace, PATCH add/replace/remove and delete of Users
# (with the enterprise extension) and Groups, every attribute our /Schemas publish. Every check
# must pass; none may be skipped.
#
#   scripts/scim-tester.sh [path/to/mobieus]      (default: target/debug/mobieus)
#
# Needs scim2-tester[httpx2] (pip). .ci/run installs it and runs this after the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/serve-tenant.sh "${1:-}"
# The checker sends a few hundred requests in a burst; the tenant's limit is not what is tested.
"$BIN" --data-dir "$DATA" settings set --tenant acme default_rate_limit_per_minute 100000 >/dev/null
TOKEN=$("$BIN" --data-dir "$DATA" scim token create --tenant acme --label scim2-tester --quiet)
python3 - "$PORT" "$HOST" "$TOKEN" <<'PY'
import sys
from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

port, host, token = sys.argv[1:]
http = Client(
    base_url=f"http://127.0.0.1:{port}/scim/v2",
    headers={"Host": host, "Authorization": f"Bearer {token}"},
)
results = check_server(SyncSCIMClient(http))
failed = [r for r in results if r.status != Status.SUCCESS]
for r in failed:
    print(f"{r.status.name}: {r.title}: {r.reason}")
print(f"scim2-tester: {len(results) - len(failed)} of {len(results)} checks passed")
sys.exit(1 if failed or not results else 0)
PY
if grep -q "internal_error" "$DATA/server.log"; then
    echo "the server logged an internal error:" >&2
    grep "internal_error" "$DATA/server.log" >&2
    exit 1
fi
