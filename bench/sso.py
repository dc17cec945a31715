#!/usr/bin/env python3
"""Single sign-on figures against the real provider (tests/oidc/provider.mjs, oidc-provider).

1. The callback's own work: the time Deskward takes to answer GET /sso/callback, minus the
   time the provider spent answering Deskward's requests during it (token, userinfo, JWKS), as
   the provider itself measured them. What is left is Deskward's work plus loopback transit.
2. Back-channel logout to the tab: a session signed in on instance A, its event stream open on
   A, the provider's logout token posted to instance B (both on one PostgreSQL database): the
   time from posting the token to `session_ended` arriving on the stream.

Usage: bench/sso.py BIN [--pg SERVER_URL] [--rounds N]
  BIN         a release build of deskward (cargo build --release)
  --pg URL    a PostgreSQL server (e.g. postgres://postgres@127.0.0.1:5432/postgres): a fresh
              database is made there and dropped at the end, and two instances serve it;
              without it, one instance on SQLite (the logout then goes to that instance)
Needs DESKWARD_OIDC_PROVIDER_DIR (scripts/test.sh installs oidc-provider into
target/oidc-provider), node, psql with --pg, and Python's requests.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from urllib.parse import urljoin, urlencode

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ADMIN_EMAIL = "admin@bench.example"
ADMIN_PASSWORD = "bench-password-2026"
USER_EMAIL = "ann@bench.example"
PROVIDER_PASSWORD = "provider password"


def announced(proc, pattern, what):
    """Reads proc's stdout until a line matches pattern; keeps draining it afterwards."""
    found = {}
    ready = threading.Event()

    def drain():
        for line in proc.stdout:
            m = re.search(pattern, line)
            if m and not ready.is_set():
                found["m"] = m
                ready.set()
        ready.set()

    threading.Thread(target=drain, daemon=True).start()
    if not ready.wait(30) or "m" not in found:
        sys.exit(f"{what} did not start")
    return found["m"]


def serve(binary, db_url, mail_dir):
    proc = subprocess.Popen(
        [binary, "serve", "--database-url", db_url, "--bind", "127.0.0.1:0",
         "--sso-allow-private", "--mail-dir", mail_dir],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    m = announced(proc, r"running at (http://127\.0\.0\.1:\d+)", "deskward")
    return proc, m.group(1)


def provider_sign_in(auth_url, issuer):
    """Drives the provider's sign-in page; returns the URL it sends the browser back to."""
    p = requests.Session()
    url = auth_url
    for _ in range(10):
        r = p.get(url, allow_redirects=False)
        if r.is_redirect:
            url = urljoin(url, r.headers["location"])
            if not url.startswith(issuer):
                return url
            continue
        r = p.post(url, data={"login": USER_EMAIL, "password": PROVIDER_PASSWORD},
                   allow_redirects=False)
        url = urljoin(url, r.headers["location"])
        if not url.startswith(issuer):
            return url
    sys.exit("the provider kept redirecting")


def callback_url(session, base, issuer):
    r = session.get(f"{base}/sso/start?" + urlencode({"rd": "/"}), allow_redirects=False)
    assert r.is_redirect, (r.status_code, r.text)
    return provider_sign_in(r.headers["location"], issuer)


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def describe(name, xs):
    print(f"{name}: n={len(xs)} median={statistics.median(xs):.2f} ms "
          f"p95={percentile(xs, 95):.2f} ms min={min(xs):.2f} max={max(xs):.2f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--pg")
    ap.add_argument("--rounds", type=int, default=50)
    a = ap.parse_args()
    if not os.environ.get("DESKWARD_OIDC_PROVIDER_DIR"):
        sys.exit("set DESKWARD_OIDC_PROVIDER_DIR (target/oidc-provider)")

    work = tempfile.mkdtemp(prefix="deskward-sso-bench.")
    procs = []
    dropdb = None
    try:
        if a.pg:
            name = f"deskward_bench_sso_{os.getpid()}"
            subprocess.run(["psql", a.pg, "-qc", f"CREATE DATABASE {name}"], check=True)
            db_url = a.pg.rsplit("/", 1)[0] + "/" + name
            dropdb = lambda: subprocess.run(["psql", a.pg, "-qc", f"DROP DATABASE {name} WITH (FORCE)"])
        else:
            db_url = f"sqlite://{work}/d.db"
        subprocess.run(
            [a.binary, "account", "create", "--name", "Bench", "--slug", "bench",
             "--admin-name", "Admin", "--admin-email", ADMIN_EMAIL, "--database-url", db_url],
            env={**os.environ, "DESKWARD_ADMIN_PASSWORD": ADMIN_PASSWORD},
            check=True, stdout=subprocess.DEVNULL,
        )
        pa, base_a = serve(a.binary, db_url, f"{work}/mail")
        procs.append(pa)
        base_b = base_a
        if a.pg:
            pb, base_b = serve(a.binary, db_url, f"{work}/mail")
            procs.append(pb)

        config = {
            "client": {
                "client_id": "deskward-bench",
                "client_secret": "deskward-bench-client-secret-0123456789",
                "redirect_uri": f"{base_a}/sso/callback",
                "backchannel_logout_uri": f"{base_a}/sso/backchannel-logout",
            },
            "users": [{"sub": "ann", "email": USER_EMAIL, "email_verified": True,
                       "name": "Ann", "password": PROVIDER_PASSWORD}],
        }
        with open(f"{work}/provider.json", "w") as f:
            json.dump(config, f)
        prov = subprocess.Popen(
            ["node", f"{ROOT}/tests/oidc/provider.mjs", f"{work}/provider.json"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        procs.append(prov)
        m = announced(prov, r"^issuer (\S+) control (\S+)", "the provider")
        issuer, control = m.group(1), m.group(2)

        admin = requests.Session()
        r = admin.post(f"{base_a}/api/v1/auth/login",
                       json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        assert r.ok, r.text
        admin.headers["x-csrf-token"] = r.json()["csrf_token"]
        r = admin.post(f"{base_a}/api/v1/agents",
                       json={"name": "Ann", "email": USER_EMAIL, "password": "agent password 123"})
        assert r.status_code == 201, r.text
        r = admin.put(f"{base_a}/api/v1/settings/security", json={"sso": {
            "issuer": issuer, "client_id": "deskward-bench",
            "client_secret": "deskward-bench-client-secret-0123456789",
            "button_label": "Bench", "agents": "allowed", "admins": "allowed",
            "allowed_domains": [], "create_agents": False,
        }})
        assert r.ok, r.text

        # 1. The callback's own work.
        own, total = [], []
        for i in range(a.rounds + 5):
            s = requests.Session()
            back = callback_url(s, base_a, issuer)
            requests.post(f"{control}/timings")
            t0 = time.perf_counter()
            r = s.get(back, allow_redirects=False)
            dt = (time.perf_counter() - t0) * 1000
            assert r.is_redirect and "deskward_session" in r.headers.get("set-cookie", ""), \
                (r.status_code, r.text[:300])
            spent = sum(t["ms"] for t in requests.post(f"{control}/timings").json())
            if i >= 5:  # the first rounds warm the connections and caches up
                total.append(dt)
                own.append(dt - spent)
        describe("callback, as the browser waits", total)
        describe("callback, Deskward's own work (provider time subtracted)", own)

        # 2. Back-channel logout to the tab.
        where = "instance B, tab on instance A (one PostgreSQL)" if a.pg else "the same instance (SQLite)"
        ends = []
        for i in range(a.rounds):
            s = requests.Session()
            back = callback_url(s, base_a, issuer)
            r = s.get(back, allow_redirects=False)
            assert r.is_redirect, r.text
            ready, ended, at = threading.Event(), threading.Event(), {}

            def listen():
                with s.get(f"{base_a}/api/v1/events", stream=True, timeout=30) as ev:
                    for line in ev.iter_lines(decode_unicode=True):
                        if line == "event: ready":
                            ready.set()
                        elif line == "event: session_ended":
                            at["t"] = time.perf_counter()
                            ended.set()
                            return

            th = threading.Thread(target=listen, daemon=True)
            th.start()
            assert ready.wait(10), "no ready event"
            token = requests.post(f"{control}/logout-token", json={"sub": "ann"}).text
            t0 = time.perf_counter()
            r = requests.post(f"{base_b}/sso/backchannel-logout", data={"logout_token": token})
            assert r.status_code == 200, r.text
            assert ended.wait(10), "the tab never heard its session end"
            ends.append((at["t"] - t0) * 1000)
        describe(f"back-channel logout to {where} -> session_ended on the tab", ends)
    finally:
        for p in procs:
            p.kill()
            p.wait()
        if dropdb:
            dropdb()


if __name__ == "__main__":
    main()
