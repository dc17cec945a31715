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
"""

import asyncio
import subprocess
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

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


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
