#!/usr/bin/env python3
"""A modern client against an old server through imapfront's legacy route.

The server behind the route advertises only what Exchange 2003 did
(IMAP4 IMAP4rev1 LOGIN-REFERRALS MAILBOX-REFERRALS NAMESPACE LITERAL+ UIDPLUS
CHILDREN). Through imapfront (routes[].compat) the client sees and uses what
today's clients rely on: IDLE, UNSELECT, ID, AUTH=PLAIN (emulated with LOGIN where the server lacks
it) and SPECIAL-USE.
Checks, in order: the capability list, ID, AUTHENTICATE PLAIN, a \\Sent
attribute on "Sent Items", UNSELECT, and an IDLE that reports a message
appended by a second connection.

Exit status: 0 on success, 1 when a check fails, 2 on bad usage.

  legacy_demo_client.py --port 9994 --cafile cert.pem
"""

import argparse
import imaplib
import ssl
import sys
import time

# AUTH=PLAIN: emulated when the server lacks it (Dovecot always has it
# before login, so through the demo it is the server's own).
WANTED = ["IDLE", "UNSELECT", "ID", "AUTH=PLAIN", "SPECIAL-USE"]
REMOVED = ["MAILBOX-REFERRALS", "LOGIN-REFERRALS"]


class Failed(Exception):
    pass


def expect(what: str, ok: bool, detail="") -> None:
    print(f"  {what}: {'ok' if ok else 'FAILED'}{' (' + str(detail) + ')' if detail else ''}")
    if not ok:
        raise Failed(what)


def connect(args):
    ctx = ssl.create_default_context(cafile=args.cafile)
    m = imaplib.IMAP4_SSL(args.host, args.port, ssl_context=ctx, timeout=args.timeout)
    return m


def login(m, args) -> None:
    m.authenticate("PLAIN", lambda _: f"\0{args.user}\0{args.password}".encode())


def idle_sees_new_mail(m, args) -> None:
    tag = m._new_tag()
    m.send(tag + b" IDLE\r\n")
    line = m.readline()
    expect("IDLE accepted", line.startswith(b"+"), line.strip().decode(errors="replace"))
    # Another client delivers a message while this one idles.
    other = connect(args)
    login(other, args)
    other.append("INBOX", None, None, b"Subject: pushed\r\n\r\nNew mail while idling.\r\n")
    other.logout()
    deadline = time.monotonic() + args.timeout
    seen = b""
    while time.monotonic() < deadline and not seen.endswith(b"EXISTS\r\n"):
        seen = m.readline()
    expect("IDLE reported the new message", seen.endswith(b"EXISTS\r\n"),
           seen.strip().decode(errors="replace"))
    m.send(b"DONE\r\n")
    while True:
        line = m.readline()
        if not line:
            raise Failed("connection closed during IDLE")
        if line.startswith(tag + b" "):
            break
    expect("DONE answered", line.startswith(tag + b" OK"), line.strip().decode(errors="replace"))


def run(args) -> int:
    print(f"connecting to imaps://{args.host}:{args.port} (the legacy route)")
    m = connect(args)
    caps = [c.decode() if isinstance(c, bytes) else c for c in m.capabilities]
    print(f"  capabilities: {' '.join(caps)}")
    expect("emulated capabilities advertised", all(c in caps for c in WANTED),
           ", ".join(c for c in WANTED if c not in caps) or None)
    expect("referrals removed", not any(c in caps for c in REMOVED))
    imaplib.Commands.setdefault("ID", ("NONAUTH", "AUTH", "SELECTED"))  # imaplib has no ID
    typ, data = m._simple_command("ID", '("name" "legacy_demo_client")')
    ident = m._untagged_response(typ, data, "ID")[1]
    expect("ID answered", typ == "OK" and ident and b"imapfront" in ident[0], ident)
    login(m, args)
    expect("AUTHENTICATE PLAIN", m.state == "AUTH")
    m.create('"Sent Items"')  # may exist from an earlier run
    typ, boxes = m.list('""', '"Sent Items"')
    expect("SPECIAL-USE: \\Sent on \"Sent Items\"",
           typ == "OK" and any(b"\\Sent" in b for b in boxes if b), boxes)
    typ, _ = m.select("INBOX")
    expect("SELECT INBOX", typ == "OK")
    typ, data = m.unselect()
    expect("UNSELECT (a SELECT that fails, at the server)", typ == "OK", data)
    m.select("INBOX")
    idle_sees_new_mail(m, args)
    m.logout()
    print("OK: the legacy server looked modern through imapfront")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9994)
    p.add_argument("--cafile", help="PEM file with the certificate(s) to trust")
    p.add_argument("--user", default="demo")
    p.add_argument("--password", default="demo")
    p.add_argument("--timeout", type=float, default=15.0)
    args = p.parse_args()
    try:
        return run(args)
    except Failed as e:
        print(f"FAIL: {e}")
        return 1
    except (OSError, imaplib.IMAP4.error) as e:
        print(f"FAIL: {e}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
