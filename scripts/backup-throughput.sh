#!/usr/bin/env bash
# Backup and restore throughput, measured while the server writes, against a plain `cp -r` of the
# same tenant directory in the same run (this machine's disk speed swings; the ratio is the
# figure). Fills tenant `acme` with uploads (random, incompressible) and users, then backs it up
# while four clients keep creating users, and restores it into a fresh data dir.
#
#   scripts/backup-throughput.sh [path/to/mobieus] [MiB of uploads, default 256]
#
# Build first: cargo build --release. Prints the figures docs/performance.md records.
set -euo pipefail
cd "$(dirname "$0")/.."
MIB=${2:-256}
. scripts/serve-tenant.sh "${1:-target/release/mobieus}"
"$BIN" --data-dir "$DATA" settings set --tenant acme default_rate_limit_per_minute 1000000 >/dev/null
"$BIN" --data-dir "$DATA" settings set --tenant acme files.max_upload_bytes 4194304 >/dev/null
KEY=$("$BIN" --data-dir "$DATA" key create --tenant acme --env live --quiet \
    --scopes users:read,users:write,files:read,files:write)
api() { curl -sf -o /dev/null -H "Host: $HOST" -H "Authorization: Bearer $KEY" "$@"; }
echo "filling acme with $MIB MiB of uploads and 5,000 users..."
for i in $(seq 1 $((MIB / 2))); do
    head -c 2097152 /dev/urandom >"$DATA/upload.bin"
    api -X POST -H 'Content-Type: application/octet-stream' --data-binary @"$DATA/upload.bin" \
        "http://127.0.0.1:$PORT/api/v1/files?filename=blob$i.bin"
done
for i in $(seq 1 5000); do
    printf '{"username":"filler-%d"}\n' "$i"
done | xargs -P 4 -I{} curl -sf -o /dev/null -H "Host: $HOST" -H "Authorization: Bearer $KEY" \
    -H 'Content-Type: application/json' -d {} "http://127.0.0.1:$PORT/api/v1/users" || true
sleep 2 # the scan moves uploads out of quarantine

writers() {
    for w in 1 2 3 4; do
        (i=0; while :; do
            api -X POST -H 'Content-Type: application/json' -d "{\"username\":\"live-$w-$i\"}" \
                "http://127.0.0.1:$PORT/api/v1/users" || true
            i=$((i + 1))
        done) &
    done
}
seconds() { python3 -c 'import time; print(time.monotonic())'; }

SIZE=$(du -sm "$DATA/tenants/acme" | cut -f1)
sync
start=$(seconds); cp -r "$DATA/tenants/acme" "$DATA/copy"; sync; end=$(seconds)
CP=$(python3 -c "print($SIZE / ($end - $start))")

writers
WRITERS=$(jobs -p | grep -v "^$SERVER$" || true)
start=$(seconds); "$BIN" --data-dir "$DATA" backup --tenant acme "$DATA/backup"; sync; end=$(seconds)
kill $WRITERS 2>/dev/null || true
BACKUP=$(python3 -c "print($SIZE / ($end - $start))")

start=$(seconds); "$BIN" --data-dir "$DATA/fresh" restore --tenant acme "$DATA/backup" 2>/dev/null; sync; end=$(seconds)
RESTORE=$(python3 -c "print($SIZE / ($end - $start))")

python3 - "$SIZE" "$CP" "$BACKUP" "$RESTORE" <<'PY'
import sys
size, cp, backup, restore = map(float, sys.argv[1:])
print(f"tenant directory: {size:.0f} MiB")
print(f"cp -r (reference):            {cp:7.0f} MiB/s")
print(f"backup, four writers running: {backup:7.0f} MiB/s  ({backup / cp:.2f}x cp)")
print(f"restore (checks every byte):  {restore:7.0f} MiB/s  ({restore / cp:.2f}x cp)")
PY
