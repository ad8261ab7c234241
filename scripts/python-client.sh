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
. scripts/serve-tenant.sh "${1:-}"
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
