#!/usr/bin/env bash
# Fetches the front-end files the binary serves (Redoc for /api/docs, the Inter font for the docs
# and the admin console) from the npm registry at pinned versions, checks each tarball against its
# pinned integrity, and writes them with their licences to host/assets/vendor/. The result is
# committed: a build needs no network and no Node.js. Run it only to move a pin.
set -euo pipefail
cd "$(dirname "$0")/.."
out=host/assets/vendor
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# name  version  tarball  integrity (as the registry publishes it)
fetch() {
  local name=$1 url=$2 integrity=$3
  curl -fsSL "$url" -o "$tmp/$name.tgz"
  local got="sha512-$(openssl dgst -sha512 -binary "$tmp/$name.tgz" | base64 -w0)"
  if [[ "$got" != "$integrity" ]]; then
    echo "integrity mismatch for $url: $got" >&2
    exit 1
  fi
  mkdir -p "$tmp/$name"
  tar xzf "$tmp/$name.tgz" -C "$tmp/$name"
}

fetch redoc https://registry.npmjs.org/redoc/-/redoc-2.5.4.tgz \
  sha512-M6jWhG1qoBnH6TFmzJnstyCZ87HmOY/UzDm78mHiYihEdlV/YcS9ogOo1NlElnJMeLsyxHFe2yFc4sNjHTrABQ==
fetch inter https://registry.npmjs.org/@fontsource-variable/inter/-/inter-5.3.0.tgz \
  sha512-OupL48va4JNofb97w6NYeF9S7W/kHNKM0Er8Dem5nqi4jeOLrVJDoE8tZEpnMJmtkvNbB1EIPPwHcdkF6b1oUA==

mkdir -p "$out"
cp "$tmp/redoc/package/bundles/redoc.standalone.js" "$out/redoc.standalone.js"
# One change to upstream: the sidebar's "API docs by Redocly" logo is fetched from a CDN. Point it
# at an empty data: URL instead (the image then hides itself), so the page never reaches out.
logo='https://cdn.redoc.ly/redoc/logo-mini.svg'
grep -q "$logo" "$out/redoc.standalone.js"
sed -i "s#$logo#data:,#" "$out/redoc.standalone.js"
if grep -q 'cdn\.redoc\.ly' "$out/redoc.standalone.js"; then
  echo "redoc still names cdn.redoc.ly" >&2
  exit 1
fi
cp "$tmp/redoc/package/bundles/redoc.standalone.js.LICENSE.txt" "$out/redoc.standalone.js.LICENSE.txt"
cp "$tmp/redoc/package/LICENSE" "$out/LICENSE-redoc"
cp "$tmp/inter/package/files/inter-latin-wght-normal.woff2" "$out/inter-latin-wght-normal.woff2"
cp "$tmp/inter/package/LICENSE" "$out/LICENSE-inter"
(cd "$out" && sha256sum redoc.standalone.js inter-latin-wght-normal.woff2 > SHA256SUMS)
echo "vendored into $out"
