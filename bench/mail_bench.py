"""E-mail benchmarks (issue 26), against a release `deskward serve` and a real SMTP server
(aiosmtpd on loopback, in a process of its own: `smtp_sink.py`):

  reset   POST /api/v1/auth/password-reset for a known agent → the message accepted by the SMTP
          server (one request at a time; median and p90 of N)
  alert   a sign-in from a new browser with sign-in alerts on → the alert accepted (the same)
  timing  the reset request's answer time for known and for unknown addresses, interleaved
          (median of N each): the "same answer in similar time" rule
  signin  sign-in throughput with alerts off and on for agents, rounds alternating: K sign-ins
          of distinct agents, C at a time, from new browsers (every one sends an alert when on);
          beside each rate, the processor time Deskward, the SMTP server and the clients spent
          per sign-in (read from /proc; with alerts on, until every alert was accepted)

Usage: mail_bench.py [--smtp aiosmtpd|smtp-sink] DESKWARD_BINARY WORKDIR [N] [ROUNDS] [SIGNINS] [CONCURRENCY]

--smtp picks the SMTP server: `aiosmtpd` (the default; Python, in a process of its own) or
`smtp-sink` (Postfix's C test server, /usr/sbin/smtp-sink from the Debian package `postfix`,
which costs far less processor time a message: the choice when the figure should be Deskward's
cost and not the test server's, on a machine where both share the cores). Either way, the run
ends by checking that the SMTP server accepted every message it should have exactly once and
nothing else (no alert while alerts were off, no message to an unknown address).
Needs aiosmtpd (the test venv has it: target/test-venv/bin/python). Prints one line per figure.
Everything listens on and talks to 127.0.0.1 only.
"""

import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from smtp_sink import PostfixSink, Sink

ARGS = sys.argv[1:]
SMTP = "aiosmtpd"
if ARGS[:1] == ["--smtp"]:
    SMTP, ARGS = ARGS[1], ARGS[2:]
    if SMTP not in ("aiosmtpd", "smtp-sink"):
        raise SystemExit(f"--smtp: aiosmtpd or smtp-sink, not {SMTP!r}")
sys.argv[1:] = ARGS
BIN, WORK = sys.argv[1], sys.argv[2]
N = int(sys.argv[3]) if len(sys.argv) > 3 else 100
ROUNDS = int(sys.argv[4]) if len(sys.argv) > 4 else 3
SIGNINS = int(sys.argv[5]) if len(sys.argv) > 5 else 200
CONC = int(sys.argv[6]) if len(sys.argv) > 6 else 8
PASSWORD = "bench password 2026"
ADMIN = "owner@bench.example"

# ------------------------------------------------------------------ the SMTP server

SINK = None  # set in main()
SERVE = None


def wait_accepted(to, count, within=30.0):
    """The time the `count`-th message to `to` was accepted."""
    return SINK.wait(to, count, within)


# ------------------------------------------------------------------ HTTP


class Browser:
    """A cookie-keeping client (one browser)."""

    def __init__(self, base):
        self.base = base
        self.cookies = {}
        self.csrf = None

    def call(self, method, path, body=None, headers=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if self.cookies:
            req.add_header("Cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        if self.csrf:
            req.add_header("X-CSRF-Token", self.csrf)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            res = urllib.request.urlopen(req, timeout=60)
        except urllib.error.HTTPError as e:
            res = e
        for c in res.headers.get_all("Set-Cookie") or []:
            k, _, rest = c.partition("=")
            self.cookies[k] = rest.split(";")[0]
        text = res.read()
        return res.status, (json.loads(text) if text else None)

    def login(self, email, kind="agent"):
        status, body = self.call(
            "POST", "/api/v1/auth/login", {"email": email, "password": PASSWORD, "as": kind}
        )
        if status != 200:
            raise SystemExit(f"sign-in of {email}: {status} {body}")
        self.csrf = body["csrf_token"]


def agent(i):
    return f"agent{i:05}@bench.example"


def median_p90(xs):
    xs = sorted(xs)
    return statistics.median(xs), xs[int(0.9 * (len(xs) - 1))]


def main():
    global SINK
    os.makedirs(WORK, exist_ok=True)
    SINK = PostfixSink() if SMTP == "smtp-sink" else Sink()
    print(f"smtp server: {SMTP} on port {SINK.port}", flush=True)
    smtp_port = SINK.port
    db = f"sqlite://{WORK}/bench-mail.db"
    env = dict(os.environ, DESKWARD_ADMIN_PASSWORD=PASSWORD, RUST_LOG="warn")
    subprocess.run(
        [BIN, "account", "create", "--database-url", db, "--name", "Bench",
         "--admin-name", "Owner", "--admin-email", ADMIN],
        check=True, env=env, stdout=subprocess.DEVNULL,
    )
    global SERVE
    serve = SERVE = subprocess.Popen(
        [BIN, "serve", "--database-url", db, "--bind", "127.0.0.1:0",
         "--smtp-url", f"smtp://127.0.0.1:{smtp_port}",
         "--mail-from", "Deskward <deskward@bench.example>",
         "--public-url", "https://desk.bench.example",
         "--trusted-proxy", "127.0.0.1/32"],
        env=env, stdout=subprocess.PIPE, text=True,
    )
    try:
        port = None
        for line in serve.stdout:
            if "http://127.0.0.1:" in line:
                port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
                break
        base = f"http://127.0.0.1:{port}"
        threading.Thread(target=lambda: [None for _ in serve.stdout], daemon=True).start()
        run(base)
    finally:
        serve.terminate()
        serve.wait()
        SINK.stop()


def run(base):
    admin = Browser(base)
    admin.login(ADMIN, "admin")
    wait_accepted(ADMIN, 1)  # the primary's own alert (administrators: on by default)
    expected = {ADMIN: 1}  # recipient -> messages the SMTP server must have accepted
    people = 2 * N + ROUNDS * 2 * SIGNINS + N
    t = time.time()
    with ThreadPoolExecutor(4) as pool:
        def add(i):
            s, b = admin.call("POST", "/api/v1/agents",
                              {"name": f"Agent {i}", "email": agent(i), "password": PASSWORD})
            if s != 201:
                raise SystemExit(f"add agent {i}: {s} {b}")
        list(pool.map(add, range(people)))
    print(f"setup: {people} agents added in {time.time() - t:.0f} s", flush=True)
    next_agent = iter(range(people))

    def alerts(on):
        s, b = admin.call("PUT", "/api/v1/settings/security",
                          {"signin_alerts": {"agents": on}})
        assert s == 200, (s, b)

    # Reset: request → accepted. Each request from its own client address (sign-in throttling
    # counts requests per address) and for its own agent (three messages an address an hour).
    lat = []
    for k in range(N):
        to = agent(next(next_agent))
        t0 = time.time()
        s, _ = Browser(base).call("POST", "/api/v1/auth/password-reset", {"email": to},
                                  {"X-Forwarded-For": f"10.1.{k // 250}.{k % 250 + 1}"})
        assert s == 202, s
        lat.append(wait_accepted(to, 1) - t0)
        expected[to] = 1
    m, p90 = median_p90(lat)
    print(f"reset: request → accepted by SMTP: median {m * 1000:.0f} ms, p90 {p90 * 1000:.0f} ms (n={N})", flush=True)

    # Alert: sign-in → accepted.
    alerts(True)
    lat = []
    for _ in range(N):
        to = agent(next(next_agent))
        t0 = time.time()
        Browser(base).login(to)
        lat.append(wait_accepted(to, 1) - t0)
        expected[to] = 1
    m, p90 = median_p90(lat)
    print(f"alert: sign-in → accepted by SMTP: median {m * 1000:.0f} ms, p90 {p90 * 1000:.0f} ms (n={N})", flush=True)
    alerts(False)

    # Timing: known and unknown addresses, interleaved, the answer's time.
    known, unknown = [], []
    for k in range(N):
        for kind in ("known", "unknown"):
            to = agent(next(next_agent)) if kind == "known" else f"nobody{k}@bench.example"
            ip = f"10.2.{k // 250}.{k % 250 + 1}" if kind == "known" else f"10.3.{k // 250}.{k % 250 + 1}"
            t0 = time.perf_counter()
            s, _ = Browser(base).call("POST", "/api/v1/auth/password-reset", {"email": to},
                                      {"X-Forwarded-For": ip})
            (known if kind == "known" else unknown).append(time.perf_counter() - t0)
            assert s == 202, s
            if kind == "known":
                expected[to] = 1
    for name, xs in (("known", known), ("unknown", unknown)):
        m, p90 = median_p90(xs)
        print(f"timing: reset request for a {name} address: median {m * 1000:.2f} ms, p90 {p90 * 1000:.2f} ms (n={N})", flush=True)

    # Sign-in throughput, alerts off and on, rounds alternating; and the processor time each
    # process spent per sign-in (with alerts on, until every alert was accepted), which a
    # busy machine disturbs less than the rate.
    rates = {False: [], True: []}
    cpu = {False: [], True: []}
    for r in range(ROUNDS):
        for on in (False, True):
            alerts(on)
            batch = [agent(next(next_agent)) for _ in range(SIGNINS)]
            c0 = (cpu_ms(SERVE.pid), sink_cpu_ms(), own_cpu_ms())
            t0 = time.perf_counter()
            with ThreadPoolExecutor(CONC) as pool:
                list(pool.map(lambda e: Browser(base).login(e), batch))
            wall = time.perf_counter() - t0
            if on:
                for e in batch:
                    wait_accepted(e, 1, 120)
                    expected[e] = 1
            c1 = (cpu_ms(SERVE.pid), sink_cpu_ms(), own_cpu_ms())
            per = [(b - a) / SIGNINS for a, b in zip(c0, c1)]
            rates[on].append(SIGNINS / wall)
            cpu[on].append(per)
            print(f"signin: round {r + 1}, alerts {'on ' if on else 'off'}: {SIGNINS} sign-ins, {CONC} at a time, in {wall:.2f} s: {SIGNINS / wall:.1f}/s; "
                  f"processor ms per sign-in: deskward {per[0]:.2f}, smtp server {per[1]:.2f}, clients {per[2]:.2f}; load {os.getloadavg()[0]:.1f}", flush=True)
    off, on = statistics.median(rates[False]), statistics.median(rates[True])
    pairs = statistics.median(b / a for a, b in zip(rates[False], rates[True]))
    print(f"signin: median alerts off {off:.1f}/s, on {on:.1f}/s: on / off = {on / off:.3f} "
          f"(median of the rounds' own ratios {pairs:.3f})", flush=True)
    for i, who in enumerate(("deskward", "smtp server", "clients")):
        a = statistics.median(c[i] for c in cpu[False])
        b = statistics.median(c[i] for c in cpu[True])
        print(f"signin: processor ms per sign-in, {who}: off {a:.2f}, on {b:.2f}", flush=True)
    a = statistics.median(sum(c) for c in cpu[False])
    b = statistics.median(sum(c) for c in cpu[True])
    print(f"signin: processor ms per sign-in, all three: off {a:.2f}, on {b:.2f}: off / on = {a / b:.3f}", flush=True)

    # Every message accepted exactly once, and nothing else: wait for stragglers first (the
    # known-address resets are not waited for above, and a duplicate would come late).
    deadline = time.time() + 30
    while time.time() < deadline:
        got = {k: len(v) for k, v in SINK.snapshot().items()}
        if got == expected:
            break
        time.sleep(0.5)
    time.sleep(2)
    got = {k: len(v) for k, v in SINK.snapshot().items()}
    wrong = {k: (got.get(k, 0), expected.get(k, 0)) for k in set(got) | set(expected)
             if got.get(k, 0) != expected.get(k, 0)}
    if wrong:
        raise SystemExit(f"messages accepted (got, expected) differ for {len(wrong)} recipients: "
                         f"{dict(list(wrong.items())[:10])}")
    print(f"check: {sum(got.values())} messages to {len(got)} recipients, each accepted exactly once, "
          f"nothing else accepted", flush=True)


TICK = os.sysconf("SC_CLK_TCK")


def cpu_ms(pid):
    """User and system processor time of a process (all its threads), in ms."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / TICK


def sink_cpu_ms():
    return sum(cpu_ms(pid) for pid in SINK.cpu_pids())


def own_cpu_ms():
    t = os.times()
    return (t.user + t.system) * 1000

main()
