#!/usr/bin/env bash
# A client generated from a tenant's OpenAPI document, as a new user would make one: with
# openapi-python-client, from the real binary's document (the host's operations and the
# first-party plugins'). It must generate without warnings about the document, and its models
# must read like the API: `Listing`, `NewListing`, `Post`, `Group` — not `CreateListingResponse2XX`.
#
#   scripts/python-client.sh [path/to/mobieus]      (default: target/debug/mobieus)
#
# Needs openapi-python-client (pip install openapi-python-client); .ci/run installs it.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/debug/mobieus}
DATA=$(mktemp -d)
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
HOST="acme.localhost:$PORT"
"$BIN" --data-dir "$DATA" tenant create --plan pro acme >/dev/null
"$BIN" --data-dir "$DATA" serve --listen "127.0.0.1:$PORT" >"$DATA/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$DATA"' EXIT
python3 - "$PORT" "$HOST" "$DATA/openapi.json" <<'PY'
import sys, time, urllib.request
port, host, path = sys.argv[1:]
for _ in range(150):
    try:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/openapi.json", headers={"Host": host})
        open(path, "wb").write(urllib.request.urlopen(request, timeout=5).read())
        break
    except OSError:
        time.sleep(0.2)
else:
    sys.exit("the server did not answer")
PY
cd "$DATA"
python3 -m openapi_python_client generate --path openapi.json --meta none --output-path client >generate.log 2>&1 || {
    cat generate.log >&2
    exit 1
}
if grep -qiE "warning|error|could not|unable" generate.log; then
    echo "openapi-python-client had something to say about the document:" >&2
    cat generate.log >&2
    exit 1
fi
missing=0
for model in listing new_listing listing_page post new_post group new_group member report action error_envelope; do
    if [ ! -f "client/models/$model.py" ]; then
        echo "no model $model.py" >&2
        missing=1
    fi
done
if ls client/models | grep -qiE "response_[0-9]xx|response_2"; then
    echo "models named after responses, not shapes:" >&2
    ls client/models | grep -iE "response_[0-9]xx|response_2" >&2
    missing=1
fi
[ "$missing" = 0 ] || { ls client/models >&2; exit 1; }
echo "openapi-python-client: $(ls client/models | wc -l) models, $(find client/api -name '*.py' ! -name '__init__.py' | wc -l) operations, named like the API"
