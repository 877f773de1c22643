#!/usr/bin/env python3
"""A real IMAP client round trip: LOGIN, APPEND, SELECT, SEARCH, FETCH, LOGOUT.

Appends a message to INBOX and fetches it back, then checks that the fetched
bytes equal the appended bytes exactly. The message body is shaped to trip a
proxy that does not frame IMAP properly: it holds text that looks like IMAP
commands and literal headers, and it is large enough to span many TLS records.

Exit status: 0 on success, 1 when the round trip fails or the bytes differ,
2 on bad usage.

  demo_client.py --port 9993 --cafile cert.pem          # IMAPS (TLS)
  demo_client.py --port 14300 --plain                   # plaintext, e.g. to the backend
"""

import argparse
import imaplib
import os
import re
import socket
import ssl
import sys
import time


def build_message(subject: str, size: int) -> bytes:
    lines = [
        "From: Demo Sender <demo@localhost>",
        "To: demo@localhost",
        f"Subject: {subject}",
        f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())}",
        f"Message-ID: <{os.urandom(8).hex()}@imapfront.demo>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        "Hello through imapfront.",
        "",
        "The lines below look like IMAP; a proxy that parses literals correctly",
        "passes them through as message data:",
        "a1 LOGOUT",
        "a2 APPEND INBOX {12}",
        "a3 APPEND INBOX {5+}",
        "+ ready for literal",
        "* BYE not really",
        ".",
        "",
    ]
    head = "\r\n".join(lines).encode("ascii")
    # Pad with numbered 72-character lines up to about `size` bytes, so the
    # literal spans many TLS records and socket reads.
    filler = []
    n = 0
    total = len(head)
    while total < size:
        line = f"{n:08d} " + "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ!#"[:63]
        filler.append(line.encode("ascii") + b"\r\n")
        total += len(filler[-1])
        n += 1
    return head + b"".join(filler) + b"-- \r\nend of demo message\r\n"


def text(e: Exception) -> str:
    """imaplib puts the server's bytes in its exceptions; make them readable."""
    arg = e.args[0] if e.args else e
    return arg.decode(errors="replace") if isinstance(arg, bytes) else str(arg)


def check(what: str, typ: str, data) -> None:
    if typ != "OK":
        raise imaplib.IMAP4.error(f"{what} failed: {typ} {data!r}")


def connect(args):
    if args.plain:
        return imaplib.IMAP4(args.host, args.port, timeout=args.timeout)
    if args.cafile:
        ctx = ssl.create_default_context(cafile=args.cafile)
    else:
        ctx = ssl.create_default_context()
    return imaplib.IMAP4_SSL(args.host, args.port, ssl_context=ctx, timeout=args.timeout)


def run(args) -> int:
    scheme = "imap" if args.plain else "imaps"
    print(f"connecting to {scheme}://{args.host}:{args.port}")
    m = connect(args)
    try:
        rc = round_trip(m, args)
    except (OSError, imaplib.IMAP4.error) as e:
        print(describe(e, args))
        rc = 1
        if isinstance(e, OSError):  # the connection is broken: no LOGOUT
            try:
                m.shutdown()
            except OSError:
                pass
            return rc
    try:
        typ, data = m.logout()
        print(f"  LOGOUT: {typ}")
    except (OSError, imaplib.IMAP4.error) as e:
        print(f"  LOGOUT failed: {describe(e, args)}")
        rc = 1
    if rc == 0:
        print("OK: IMAP round trip succeeded")
    return rc


def round_trip(m, args) -> int:
    """The session after the greeting; returns 0 or 1, the caller logs out."""
    if not args.plain:
        sock = m.sock
        print(f"  TLS: {sock.version()} {sock.cipher()[0]}, "
              f"server certificate subject {sock.getpeercert().get('subject')}")
    print(f"  greeting: {m.welcome.decode(errors='replace')}")

    try:
        typ, data = m.login(args.user, args.password)
    except imaplib.IMAP4.error as e:
        print(f"FAIL: LOGIN {args.user} refused: {text(e)}")
        return 1
    check("LOGIN", typ, data)
    print(f"  LOGIN {args.user}: {typ}")

    token = os.urandom(6).hex()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    subject = f"imapfront demo {stamp} {token}"
    message = build_message(subject, args.size)
    typ, data = m.append("INBOX", None, None, message)
    check("APPEND", typ, data)
    print(f"  APPEND {len(message)} bytes, subject '{subject}': "
          f"{typ} {data[0].decode(errors='replace')}")

    typ, data = m.select("INBOX")
    check("SELECT", typ, data)
    print(f"  SELECT INBOX: {typ}, {data[0].decode()} messages")

    typ, data = m.uid("SEARCH", None, "HEADER", "Subject", f'"{token}"')
    check("UID SEARCH", typ, data)
    uids = data[0].split()
    print(f"  UID SEARCH for '{token}': {[u.decode() for u in uids]}")
    if len(uids) != 1:
        print(f"FAIL: expected exactly one message with '{token}', found {len(uids)}")
        return 1

    typ, data = m.uid("FETCH", uids[0], "(BODY.PEEK[])")
    check("UID FETCH", typ, data)
    fetched = None
    for item in data:
        if isinstance(item, tuple) and re.search(rb"BODY\[\] \{\d+\}$", item[0]):
            fetched = item[1]
    if fetched is None:
        print(f"FAIL: no BODY[] in the FETCH response: {data!r:.300}")
        return 1
    print(f"  UID FETCH {uids[0].decode()} BODY.PEEK[]: {len(fetched)} bytes")

    if fetched != message:
        at = next((i for i, (a, b) in enumerate(zip(fetched, message)) if a != b),
                  min(len(fetched), len(message)))
        print(f"FAIL: fetched message differs from the appended one at byte {at} "
              f"(appended {len(message)} bytes, fetched {len(fetched)} bytes)")
        print(f"  appended: {message[max(0, at - 40):at + 40]!r}")
        print(f"  fetched:  {fetched[max(0, at - 40):at + 40]!r}")
        return 1
    print("  fetched message equals the appended one, byte for byte")

    if args.delete:
        typ, data = m.uid("STORE", uids[0], "+FLAGS.SILENT", r"(\Deleted)")
        check("UID STORE", typ, data)
        typ, data = m.expunge()
        check("EXPUNGE", typ, data)
        print("  deleted the demo message")
    return 0


def describe(e: Exception, args) -> str:
    where = f"{args.host}:{args.port}"
    if isinstance(e, ssl.SSLError):
        return f"FAIL: TLS error talking to {where}: {e}"
    if isinstance(e, (socket.timeout, TimeoutError)):
        return f"FAIL: timed out talking to {where}"
    if isinstance(e, OSError):
        return f"FAIL: cannot talk to {where}: {e}"
    return f"FAIL: IMAP error: {text(e)}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9993)
    p.add_argument("--cafile", help="PEM file with the certificate(s) to trust "
                   "(default: the system trust store)")
    p.add_argument("--user", default="demo")
    p.add_argument("--password", default="demo")
    p.add_argument("--plain", action="store_true",
                   help="plaintext IMAP instead of IMAPS (for checking a backend directly)")
    p.add_argument("--size", type=int, default=100_000,
                   help="approximate message size in bytes (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=15.0,
                   help="socket timeout in seconds (default: %(default)s)")
    p.add_argument("--delete", action="store_true",
                   help="delete the message again after checking it")
    args = p.parse_args()
    try:
        return run(args)
    except (OSError, imaplib.IMAP4.error) as e:  # connecting, greeting, TLS handshake
        print(describe(e, args))
        return 1


if __name__ == "__main__":
    sys.exit(main())
