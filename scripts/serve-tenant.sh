# Sourced by the scripts that check the real binary from outside: starts `mobieus serve` on a free
# port over a fresh data dir with tenant `acme` (pro), stops it on exit, and writes the tenant's
# OpenAPI document to "$DATA/openapi.json" once the server answers. Sets BIN, DATA, PORT, HOST.
BIN=${1:-}
BIN=${BIN:-target/debug/mobieus}
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
