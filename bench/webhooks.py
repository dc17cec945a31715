"""Webhook bench (issue 15): N session endings, one request each, to N `session.ended`
deliveries to a receiver in this process; time from the ending request to the delivery's
arrival (median, p99). Back to back by default (a burst: the figure includes queueing), or
with --gap-ms between endings (each delivery on its own). Standard library only.

    python3 bench/webhooks.py --base http://127.0.0.1:28111 --count 1000 --password PW

The server must run with --webhook-allow-private (the receiver is on loopback) and have at least
COUNT live sessions (deskward seed-large). Prints RESULT lines for bench/run.sh.
"""

import argparse
import http.client
import json
import statistics
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARRIVED = {}
LOCK = threading.Lock()


class Receiver(BaseHTTPRequestHandler):
    # Keep-alive, as receivers behind any real web server do: a new connection per delivery
    # would measure Python's accept loop, not Deskward.
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        now = time.perf_counter()
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        sid = body["data"]["session"]["id"]
        with LOCK:
            ARRIVED.setdefault(sid, now)
        self.send_response(204)
        self.end_headers()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--email", default="admin@bench.example")
    ap.add_argument("--password", default="demo-password-2026")
    ap.add_argument("--gap-ms", type=float, default=0.0, help="pause between endings")
    a = ap.parse_args()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{server.server_address[1]}/hook"

    u = urllib.parse.urlparse(a.base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)

    def call(method, path, body=None, headers=None):
        h = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body)
            h["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        raw = r.read()
        return r, (json.loads(raw) if raw else None)

    r, me = call("POST", "/api/v1/auth/login", {"email": a.email, "password": a.password})
    assert r.status == 200, (r.status, me)
    cookie = r.getheader("Set-Cookie").split(";")[0]
    auth = {"Cookie": cookie, "X-CSRF-Token": me["csrf_token"]}
    own = me.get("session", {}).get("id")
    r, created = call("POST", "/api/v1/webhooks", {"url": hook, "events": ["session.ended"]}, auth)
    assert r.status == 201, (r.status, created)

    sessions, page = [], 1
    while len(sessions) < a.count:
        r, v = call("GET", f"/api/v1/agents?session=active&per_page=200&page={page}", None, auth)
        if not v["items"]:
            break
        for m in v["items"]:
            sessions += [s["id"] for s in m["sessions"] if s["id"] != own]
        page += 1
    sessions = sessions[: a.count]
    assert len(sessions) == a.count, f"only {len(sessions)} live sessions"

    sent = {}
    t_start = time.perf_counter()
    for sid in sessions:
        sent[sid] = time.perf_counter()
        r, _ = call("DELETE", f"/api/v1/sessions/{sid}", None, auth)
        assert r.status == 204, r.status
        if a.gap_ms:
            time.sleep(a.gap_ms / 1000)
    t_ended = time.perf_counter()
    deadline = time.time() + 120
    while time.time() < deadline:
        with LOCK:
            if len(ARRIVED) >= a.count:
                break
        time.sleep(0.05)
    t_done = time.perf_counter()
    with LOCK:
        lat = sorted((ARRIVED[s] - sent[s]) * 1000 for s in sessions if s in ARRIVED)
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan")
    print(f"webhooks: {a.count} endings in {(t_ended - t_start):.2f} s "
          f"({a.count / (t_ended - t_start):.0f}/s), {len(lat)} deliveries arrived, "
          f"the last {(t_done - t_ended) * 1000:.0f} ms after the last ending")
    print(f"webhooks: ending → delivery: median {statistics.median(lat):.1f} ms, p99 {p99:.1f} ms, "
          f"max {lat[-1]:.1f} ms")
    # The next run registers its own endpoint: this one goes with its receiver.
    call("DELETE", f"/api/v1/webhooks/{created['id']}", None, auth)
    tag = f"_gap{a.gap_ms:g}ms" if a.gap_ms else ""
    print(f"RESULT webhook_deliveries{tag} {len(lat)} of_{a.count}")
    print(f"RESULT webhook_ending_to_delivery{tag}_median_ms {statistics.median(lat):.2f} ms")
    print(f"RESULT webhook_ending_to_delivery{tag}_p99_ms {p99:.2f} ms")


if __name__ == "__main__":
    main()
