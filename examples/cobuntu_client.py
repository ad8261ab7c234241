#!/usr/bin/env python3
"""A Cobuntu API client written from Cobuntu's REST API documentation alone (seed 001).

It knows nothing of Mobieus: moving a community means changing COBUNTU_API and COBUNTU_KEY.

    COBUNTU_API=https://api.cobuntu.com/api/v1 COBUNTU_KEY=pk_live_... \\
        COBUNTU_COMMUNITY=my-community python3 examples/cobuntu_client.py

It reads every READ_PUBLIC row of the seed's table (the seed documents no request bodies, so
writes are left to clients that know them). Standard library only.
"""

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

API = os.environ.get("COBUNTU_API", "https://api.cobuntu.com/api/v1").rstrip("/")
KEY = os.environ["COBUNTU_KEY"]
COMMUNITY = os.environ["COBUNTU_COMMUNITY"]


def call(method, path, body=None):
    url = f"{API}/communities/{urllib.parse.quote(COMMUNITY)}{path}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"X-API-Key": KEY})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        sys.exit(f"{method} {path}: {error.code} {error.read().decode()}")


def every(path):
    """All items of a list, 20 at a time (`?limit=20&offset=0`)."""
    items, offset = [], 0
    while True:
        page = call("GET", f"{path}?limit=20&offset={offset}")
        items.extend(page["data"])
        offset += len(page["data"])
        if not page["data"] or offset >= page["total"]:
            return items


events = every("/events")
print(f"events: {len(events)}")
for event in events:
    detail = call("GET", f"/events/{event['slug']}")
    tiers = every(f"/events/{event['slug']}/tiers")
    print(f"  {detail['title']} at {detail['starts_at']}: {len(tiers)} tiers")
    for tier in tiers:
        form = call("GET", f"/tiers/{tier['id']}/form")
        print(f"    {tier['name']} ({tier['price']} {tier['currency']}), form fields: {len(form['fields'])}")
print(f"articles: {', '.join(a['title'] for a in every('/articles'))}")
for product in every("/products"):
    print(f"product {product['sku']}: {call('GET', '/products/' + product['sku'])['name']}")
print(f"members: {', '.join(m['username'] for m in every('/members'))}")
for hotspot in every("/atlas/hotspots"):
    print(f"hotspot: {call('GET', '/atlas/hotspots/' + hotspot['id'])['name']}")
print(f"categories: {', '.join(c['name'] for c in every('/atlas/categories'))}")
for segment in every("/segments/public"):
    form = call("GET", f"/segments/{segment['id']}/form")
    print(f"segment {segment['name']}: {len(form['fields'])} form fields")

