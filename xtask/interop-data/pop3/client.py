"""Python's poplib against torsion-pop3. Usage: client.py STEP ARGS…; prints `ok …` or
`FAIL why` (exit 1).

read-mail PORT EXPECTED  USER/PASS (a wrong password refused with [AUTH]), CAPA, STAT, LIST,
                         UIDL, RETR byte for byte, TOP, DELE + RSET, a second session IN-USE,
                         then DELE + QUIT: the next session finds the maildrop empty
starttls PORT CA          USER refused before STLS; STLS with the certificate verified; login
implicit-tls PORT CA      POP3_SSL on a tls: endpoint, verified; login, STAT
"""
import os
import poplib
import ssl
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "imap"))
from checks import check, fail  # noqa: E402

USER, PASSWORD = "alice@example.test", "wonderland"


def connect(port):
    return poplib.POP3("127.0.0.1", int(port), timeout=10)


def read_mail(port, expected_path):
    expected = open(expected_path, "rb").read()
    c = connect(port)
    check(c.getwelcome().startswith(b"+OK"), f"greeting {c.getwelcome()!r}")
    caps = c.capa()
    for cap in ("TOP", "UIDL", "USER", "PIPELINING", "RESP-CODES", "AUTH-RESP-CODE"):
        check(cap in caps, f"CAPA lacks {cap}: {caps}")
    c.user(USER)
    try:
        c.pass_("wrong")
        fail("a wrong password was accepted")
    except poplib.error_proto as e:
        check(b"[AUTH]" in e.args[0], f"wrong password: {e}")
    c = connect(port)
    c.user(USER)
    c.pass_(PASSWORD)
    count, size = c.stat()
    check((count, size) == (1, len(expected)), f"STAT {(count, size)} vs 1 {len(expected)}")
    resp, listing, _ = c.list()
    check(listing == [f"1 {len(expected)}".encode()], f"LIST {listing}")
    resp, uidls, _ = c.uidl()
    check(len(uidls) == 1 and len(uidls[0].split()[1]) == 16, f"UIDL {uidls}")
    resp, lines, octets = c.retr(1)
    got = b"".join(line + b"\r\n" for line in lines)
    check(got == expected, f"RETR gave {got!r}")
    resp, top, _ = c.top(1, 0)
    header = expected.split(b"\r\n\r\n")[0].split(b"\r\n")
    check(top == header + [b""], f"TOP 1 0 gave {top}")
    c.dele(1)
    check(c.stat()[0] == 0, "DELE did not hide the message")
    c.rset()
    check(c.stat()[0] == 1, "RSET did not restore it")
    other = connect(port)
    other.user(USER)
    try:
        other.pass_(PASSWORD)
        fail("a second session got the locked maildrop")
    except poplib.error_proto as e:
        check(b"[IN-USE]" in e.args[0], f"second session: {e}")
    other.quit()
    c.dele(1)
    c.quit()
    c = connect(port)
    c.user(USER)
    c.pass_(PASSWORD)
    check(c.stat() == (0, 0), f"after DELE + QUIT: {c.stat()}")
    c.quit()
    print("ok read-mail")


def verified(ca):
    # The certificate names IP:127.0.0.1, which is what we dial: host name checked too.
    return ssl.create_default_context(cafile=ca)


def starttls(port, ca):
    c = connect(port)
    caps = c.capa()
    check("STLS" in caps and "USER" not in caps, f"CAPA before STLS: {caps}")
    try:
        c.user(USER)
        fail("USER accepted before STLS")
    except poplib.error_proto as e:
        check(b"[AUTH]" in e.args[0], f"USER before STLS: {e}")
    c.stls(context=verified(ca))
    caps = c.capa()
    check("USER" in caps and "STLS" not in caps, f"CAPA after STLS: {caps}")
    c.user(USER)
    c.pass_(PASSWORD)
    c.stat()
    c.quit()
    print("ok starttls")


def implicit_tls(port, ca):
    c = poplib.POP3_SSL("127.0.0.1", int(port), timeout=10, context=verified(ca))
    c.user(USER)
    c.pass_(PASSWORD)
    c.stat()
    c.quit()
    print("ok implicit-tls")


STEPS = {"read-mail": read_mail, "starttls": starttls, "implicit-tls": implicit_tls}

if __name__ == "__main__":
    try:
        STEPS[sys.argv[1]](*sys.argv[2:])
    except (poplib.error_proto, OSError, ssl.SSLError) as e:
        fail(f"{type(e).__name__}: {e}")
