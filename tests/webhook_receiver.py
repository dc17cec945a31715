"""A webhook receiver for Deskward's tests: verifies every delivery with the `standardwebhooks`
package (as a real receiver would, not with Deskward's own code) and records what it got.

Usage: webhook_receiver.py [PORT]  (0 or absent: any free port). Prints the port on the first
line of stdout, then serves:
  POST /_control  {"secret", "status", "delay", "location"}  how to answer from now on
  GET  /_received                                          everything received, in order
  POST anything else                                       a delivery: verified, recorded, answered
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

STATE = {"secret": None, "status": 200, "delay": 0.0, "location": None}
RECEIVED = []
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _answer(self, status, body=b"", headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/_received":
            with LOCK:
                body = json.dumps(RECEIVED).encode()
            self._answer(200, body, {"Content-Type": "application/json"})
        else:
            self._answer(404)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        if self.path == "/_control":
            with LOCK:
                STATE.update(json.loads(raw))
            self._answer(204)
            return
        with LOCK:
            secret, status, delay, location = (
                STATE["secret"], STATE["status"], STATE["delay"], STATE["location"])
        headers = {k.lower(): v for k, v in self.headers.items()}
        verified, error = False, None
        try:
            Webhook(secret).verify(raw.decode(), headers)
            verified = True
        except Exception as e:  # any failure is recorded and answered 400
            error = f"{type(e).__name__}: {e}"
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        with LOCK:
            RECEIVED.append({
                "path": self.path,
                "id": headers.get("webhook-id"),
                "timestamp": headers.get("webhook-timestamp"),
                "verified": verified,
                "error": error,
                "body": body,
                "received_at": time.time(),
            })
        if delay:
            time.sleep(delay)
        if not verified:
            self._answer(400)
        elif 300 <= status < 400 and location:
            self._answer(status, b"", {"Location": location})
        else:
            self._answer(status)


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    # SO_REUSEPORT: the test holds the port with a socket of its own (bound, never listening)
    # while no receiver runs, so that a receiver started again gets the same port.
    ThreadingHTTPServer.allow_reuse_port = True
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
