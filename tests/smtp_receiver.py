"""A real SMTP server for Deskward's tests (aiosmtpd): STARTTLS with the test's certificate,
AUTH (after STARTTLS only) for one user, and each message saved as a file.

Usage: smtp_receiver.py PORT DIR CERT KEY USER PASSWORD  (PORT 0: any free port). Prints the
port on the first line of stdout, then serves until killed. Binds with SO_REUSEPORT, so a test
can hold the port while no server listens on it.

In DIR: each accepted message is `NNNN-<tls|plain>-<user|anonymous>.eml` (written whole, then
renamed into place); every DATA attempt appends a line to `_attempts`; while the file `_answer`
exists, its text (e.g. "451 4.3.0 try again later") is the answer to DATA instead of 250.
"""

import asyncio
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

PORT, DIR, CERT, KEY, USER, PASSWORD = sys.argv[1:7]


class Saver:
    def __init__(self):
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        with open(os.path.join(DIR, "_attempts"), "a") as f:
            f.write("DATA\n")
        answer = os.path.join(DIR, "_answer")
        if os.path.exists(answer):
            with open(answer) as f:
                return f.read().strip()
        self.count += 1
        tls = "tls" if session.ssl is not None else "plain"
        who = session.authenticated and session.auth_data.login.decode() or "anonymous"
        name = f"{self.count:04}-{tls}-{who}.eml"
        tmp = os.path.join(DIR, "." + name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(tmp, os.path.join(DIR, name))
        return "250 2.0.0 Saved"


def authenticate(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login.decode() == USER
        and auth_data.password.decode() == PASSWORD
    )
    return AuthResult(success=ok, auth_data=auth_data)


async def main():
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(CERT, KEY)
    saver = Saver()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(
            saver,
            hostname="localhost",
            tls_context=context,
            authenticator=authenticate,
            auth_require_tls=True,
        ),
        host="127.0.0.1",
        port=int(PORT),
        reuse_port=True,
    )
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


asyncio.run(main())
