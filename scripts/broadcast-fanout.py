#!/usr/bin/env python3
# A broadcast to a segment of N members, timed: how long its request takes and how soon every
# recipient is handed to the outbox (a batch per call, then a timer per batch). The members are
# written straight into a fresh tenant file while the server is stopped, so setting up 100,000
# takes seconds, not 300,000 requests.
#
#   scripts/broadcast-fanout.py [path/to/mobieus] [N]      (default: target/release/mobieus 20000)
import json, shutil, socket, sqlite3, subprocess, sys, tempfile, time, urllib.request
binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/mobieus"
n = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
data = tempfile.mkdtemp(prefix="mobieus-broadcast-")

def cli(*args):
    return subprocess.run([binary, "--data-dir", data, *args], check=True, capture_output=True, text=True).stdout
def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
port = free_port()
def start():
    p = subprocess.Popen([binary, "--data-dir", data, "serve", "--listen", f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz"); return p
        except Exception: time.sleep(0.05)
    raise SystemExit("no server")
def call(method, path, key, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method, headers={"Host": "acme.localhost", "X-API-Key": key, "Content-Type": "application/json"}, data=None if body is None else json.dumps(body).encode())
    with urllib.request.urlopen(req) as r: return json.loads(r.read())
cli("tenant", "create", "acme", "--plan", "pro")
key = cli("key", "create", "--tenant", "acme", "--env", "live", "--format", "cobuntu", "--kind", "secret", "--scopes", "ADMIN", "--quiet").strip()
srv = start()
seg = call("POST", "/api/v1/communities/acme/segments", key, {"name": "Everyone"})
srv.terminate(); srv.wait()
db = sqlite3.connect(f"{data}/tenants/acme/live.db")
now = "2026-12-07T00:00:00Z"
db.executemany("INSERT INTO users (id, username, email, created_at) VALUES (?, ?, ?, ?)", ((f"usr_{i:026d}", f"u{i}", f"u{i}@example.com", now) for i in range(n)))
db.executemany("INSERT INTO community_members (user_id, status, joined_at, updated_at) VALUES (?, 'active', ?, ?)", ((f"usr_{i:026d}", now, now) for i in range(n)))
db.executemany("INSERT INTO community_segment_members (segment_id, user_id, answers, joined_at) VALUES (?, ?, '{}', ?)", ((seg["id"], f"usr_{i:026d}", now) for i in range(n)))
db.commit(); db.close()
srv = start()
t0 = time.time()
b = call("POST", "/api/v1/communities/acme/broadcasts", key, {"segment_id": seg["id"], "subject": "News", "text": "Hello, " * 100})
t1 = time.time()
print(f"{n} members: the request took {1000*(t1-t0):.0f} ms; recipients {b['recipients']}, pending {b['pending']}")
while True:
    l = call("GET", "/api/v1/communities/acme/broadcasts", key)
    if l["data"][0]["pending"] == 0: break
    time.sleep(0.05)
t2 = time.time()
print(f"all {n} handed to the outbox {t2-t0:.2f} s after the request ({n/(t2-t0):.0f} a second)")
srv.terminate(); srv.wait()
shutil.rmtree(data, ignore_errors=True)
