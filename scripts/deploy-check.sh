#!/usr/bin/env bash
# The files in deploy/ stay valid: the systemd unit passes `systemd-analyze verify` and stays
# hardened (an exposure score of at most 2.0 in `systemd-analyze security`), and the example
# configuration passes `mobieus config check`. Skips the unit where systemd is not installed.
#
#   scripts/deploy-check.sh [path/to/mobieus]      (default: target/debug/mobieus)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/debug/mobieus}
"$BIN" config check deploy/mobieus.toml
if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "systemd-analyze not found: the unit is not checked" >&2
    exit 0
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# verify wants the binary the unit names to exist.
sed "s|/usr/local/bin/mobieus serve|$(realpath "$BIN") serve|" deploy/mobieus.service >"$TMP/mobieus.service"
systemd-analyze verify "$TMP/mobieus.service"
exposure=$(systemd-analyze security --offline=yes "$TMP/mobieus.service" 2>/dev/null |
    sed -n 's/.*Overall exposure level for mobieus.service: \([0-9.]*\).*/\1/p')
echo "deploy/mobieus.service: exposure $exposure"
python3 -c "import sys; sys.exit(0 if float('$exposure') <= 2.0 else 'the unit is less hardened than 2.0')"
