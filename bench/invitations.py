"""Invitation bench (issue 26): COUNT invitations created back to back through the API
(`POST /api/v1/agents` without a password, one after the other), each delivered by Deskward's
mail worker to a real SMTP server (aiosmtpd, plain SMTP on loopback, in a process of its own:
`smtp_sink.py`). Reports
how long until every message was accepted, the time from each request to its message's
acceptance (median, p99), and the server's resident memory (sampled every 100 ms from
/proc/PID/status) before, at its highest and after.

    target/test-venv/bin/python bench/invitations.py --deskward target/release/deskward
    target/test-venv/bin/python bench/invitations.py --count 200 --gap-ms 100   # one at a time

It creates a fresh SQLite database in a temporary directory, an account with
`deskward account create`, starts `deskward serve --smtp-url smtp://127.0.0.1:PORT`, runs, and
stops the server. Needs aiosmtpd (scripts/test-requirements.txt). Prints RESULT lines.
"""

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import tempfile
import threading
import time

from smtp_sink import Sink

PASSWORD = "bench invitation password 2026"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--deskward", default="target/release/deskward")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--within", type=float, default=60.0, help="seconds to wait for delivery")
    ap.add_argument("--gap-ms", type=float, default=0.0,
                    help="pause between invitations (0: back to back, a burst)")
    a = ap.parse_args()

    smtp = Sink()
    tmp = tempfile.mkdtemp(prefix="deskward-invite-bench-")
    db = f"sqlite://{tmp}/bench.db"
    env = dict(os.environ, DESKWARD_ADMIN_PASSWORD=PASSWORD, RUST_LOG="warn")
    subprocess.run(
        [a.deskward, "account", "create", "--name", "Bench Support", "--admin-name",
         "Bench Owner", "--admin-email", "owner@bench.example", "--database-url", db],
        env=env, check=True, stdout=subprocess.DEVNULL)
    port = free_port()
    server = subprocess.Popen(
        [a.deskward, "serve", "--bind", f"127.0.0.1:{port}", "--database-url", db,
         "--smtp-url", f"smtp://127.0.0.1:{smtp.port}",
         "--public-url", f"http://127.0.0.1:{port}",
         "--mail-from", "Deskward <deskward@bench.example>"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        run(a, port, server.pid, smtp)
    finally:
        server.terminate()
        server.wait(timeout=30)
        smtp.stop()


def run(a, port, pid, smtp):
    deadline = time.time() + 30
    while True:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                break
        except OSError:
            pass
        assert time.time() < deadline, "the server did not start"
        time.sleep(0.1)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

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

    r, me = call("POST", "/api/v1/auth/login",
                 {"email": "owner@bench.example", "password": PASSWORD})
    assert r.status == 200, (r.status, me)
    cookie = r.getheader("Set-Cookie").split(";")[0]
    auth = {"Cookie": cookie, "X-CSRF-Token": me["csrf_token"]}

    samples = [rss_kib(pid)]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            samples.append(rss_kib(pid))
            time.sleep(0.1)

    threading.Thread(target=sample, daemon=True).start()
    sent = {}
    # Wall-clock times: the SMTP server, in its own process, reports acceptances on this clock.
    t_start = time.time()
    for i in range(a.count):
        email = f"invitee{i:05}@bench.example"
        sent[email] = time.time()
        r, body = call("POST", "/api/v1/agents", {"name": f"Invitee {i:05}", "email": email}, auth)
        assert r.status == 201 and body["invited"], (r.status, body)
        if a.gap_ms:
            time.sleep(a.gap_ms / 1000)
    t_created = time.time()
    while time.time() - t_start < a.within + 30:
        if len(smtp.snapshot()) >= a.count:
            break
        time.sleep(0.02)
    t_done = time.time()
    time.sleep(1)
    stop.set()
    rss_after = rss_kib(pid)
    arrived = smtp.snapshot()
    twice = sum(1 for v in arrived.values() if len(v) > 1)
    lat = sorted((arrived[e][0] - sent[e]) * 1000 for e in sent if e in arrived)
    last = max((arrived[e][0] for e in sent if e in arrived), default=t_done)
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan")
    all_in = last - t_start
    print(f"invitations: {a.count} created in {t_created - t_start:.2f} s "
          f"({a.count / (t_created - t_start):.0f}/s); {len(lat)} accepted by the SMTP server "
          f"({twice} more than once), the last {all_in:.2f} s after the first request")
    print(f"invitations: request → accepted: median {statistics.median(lat):.1f} ms, "
          f"p99 {p99:.1f} ms, max {lat[-1]:.1f} ms")
    print(f"invitations: server RSS before {samples[0] / 1024:.1f} MiB, highest "
          f"{max(samples) / 1024:.1f} MiB, after {rss_after / 1024:.1f} MiB")
    tag = f"_gap{a.gap_ms:g}ms" if a.gap_ms else ""
    print(f"RESULT invitations{tag}_delivered {len(lat)} of_{a.count}")
    print(f"RESULT invitations{tag}_all_delivered_s {all_in:.2f} s")
    print(f"RESULT invitation{tag}_request_to_accepted_median_ms {statistics.median(lat):.2f} ms")
    print(f"RESULT invitation{tag}_request_to_accepted_p99_ms {p99:.2f} ms")
    print(f"RESULT invitations{tag}_rss_max_mib {max(samples) / 1024:.1f} MiB")
    ok = len(lat) == a.count and twice == 0 and all_in <= a.within
    print("invitations: " + ("all delivered once within" if ok else "NOT all delivered once within")
          + f" {a.within:.0f} s")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
