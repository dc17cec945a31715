"""A real SMTP server for the e-mail benchmarks (aiosmtpd, plain SMTP on 127.0.0.1), in a
process of its own so that its work does not share an interpreter lock with the benchmark's
clients. Accepts every message and reports each acceptance on standard output.

Run as a program, it prints `port N` once it listens, then one line per accepted message and
recipient: `ACCEPTED <time.time()> <recipient, lowercased>`. Imported, `Sink` starts that
program and collects the lines:

    sink = Sink()                    # listening once this returns
    ... --smtp-url smtp://127.0.0.1:{sink.port} ...
    sink.wait(to, 1, within=30)      # the time the first message to `to` was accepted
    sink.stop()

Both processes read the same wall clock, so a time taken by the benchmark (`time.time()`)
and an acceptance time compare directly.

`PostfixSink` has the same interface around Postfix's `smtp-sink` (Debian package `postfix`,
/usr/sbin/smtp-sink), a C server made for benchmarking mail clients, which spends far less
processor time a message than aiosmtpd. It appends every accepted message to a dump file
(`-D`), before it answers the final dot with 250; `tail -F` follows that file and each
`X-Rcpt-Args:` line it writes is one acceptance, timed when the line arrives. `cpu_pids()`
names the processes whose processor time is the SMTP server's (the server and the tail).
"""

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import sys
import threading
import time


class Sink:
    """The SMTP server in a child process, and the acceptances it reported."""

    def __init__(self, python=sys.executable):
        self.proc = subprocess.Popen(
            [python, __file__], stdout=subprocess.PIPE, text=True, bufsize=1
        )
        first = self.proc.stdout.readline().split()
        if len(first) != 2 or first[0] != "port":
            self.proc.kill()
            raise SystemExit(f"the SMTP server did not start: {first}")
        self.port = int(first[1])
        self.accepted = {}  # recipient -> acceptance times, in order
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            kind, t, rcpt = line.split()
            if kind != "ACCEPTED":
                continue
            with self.cond:
                self.accepted.setdefault(rcpt, []).append(float(t))
                self.cond.notify_all()

    def wait(self, to, count, within=30.0):
        """The time the `count`-th message to `to` was accepted."""
        deadline = time.time() + within
        with self.cond:
            while len(self.accepted.get(to, [])) < count:
                left = deadline - time.time()
                if left <= 0:
                    raise SystemExit(f"no message {count} to {to} within {within} s")
                self.cond.wait(left)
            return self.accepted[to][count - 1]

    def snapshot(self):
        """recipient -> acceptance times, as reported so far."""
        with self.cond:
            return {k: list(v) for k, v in self.accepted.items()}

    def cpu_pids(self):
        return [self.proc.pid]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


class PostfixSink(Sink):
    """Postfix's smtp-sink on a loopback port, and the acceptances its dump file shows."""

    def __init__(self, binary="/usr/sbin/smtp-sink"):
        if not os.path.exists(binary):
            raise SystemExit(f"{binary} is missing (Debian: apt-get install postfix)")
        self.dir = tempfile.mkdtemp(prefix="smtp-sink-")
        dump = os.path.join(self.dir, "messages")
        open(dump, "w").close()
        args = [binary, "-4", "-D", dump]
        if os.geteuid() == 0:
            # smtp-sink refuses to run as root; the dump file must stay writable.
            import pwd

            nobody = pwd.getpwnam("nobody")
            os.chown(self.dir, nobody.pw_uid, nobody.pw_gid)
            os.chown(dump, nobody.pw_uid, nobody.pw_gid)
            args += ["-u", "nobody"]
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc = subprocess.Popen(args + [f"127.0.0.1:{self.port}", "256"])
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as c:
                    banner = c.recv(100)
                if banner.startswith(b"220"):
                    break
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise SystemExit(f"smtp-sink exited with {self.proc.returncode}")
            time.sleep(0.02)
        else:
            self.proc.kill()
            raise SystemExit("smtp-sink did not answer on its port")
        self.tail = subprocess.Popen(
            ["tail", "-n", "+1", "-F", dump], stdout=subprocess.PIPE, text=True, bufsize=1
        )
        self.accepted = {}
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.tail.stdout:
            if not line.startswith("X-Rcpt-Args:"):
                continue
            t = time.time()
            rcpt = line.split(":", 1)[1].strip().split()[0].strip("<>").lower()
            with self.cond:
                self.accepted.setdefault(rcpt, []).append(t)
                self.cond.notify_all()

    def cpu_pids(self):
        return [self.proc.pid, self.tail.pid]

    def stop(self):
        for p in (self.proc, self.tail):
            p.terminate()
            p.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


def serve():
    from aiosmtpd.smtp import SMTP

    class Recorder:
        async def handle_DATA(self, server, session, envelope):
            t = time.time()
            for r in envelope.rcpt_tos:
                sys.stdout.write(f"ACCEPTED {t:.6f} {r.lower()}\n")
            sys.stdout.flush()
            return "250 2.0.0 Accepted"

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(
        loop.create_server(
            lambda: SMTP(Recorder(), hostname="localhost"), host="127.0.0.1", port=0
        )
    )
    print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
    loop.run_forever()


if __name__ == "__main__":
    serve()
