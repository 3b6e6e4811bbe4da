"""Python's imaplib (the standard library's IMAP client) against torsion-imap.

Usage: client.py STEP PORT [ARGS...]; prints "ok ..." on success, exits non-zero with the
reason otherwise. Every step has its own connection and a 10 s socket timeout.
"""
import imaplib
import socket
import ssl
import sys
import time

from checks import fail, check, ok

USER, PASSWORD = "alice@example.test", "wonderland"


def connect(port):
    socket.setdefaulttimeout(10)
    return imaplib.IMAP4("127.0.0.1", port)


def read_mail(port, expected_path):
    """LOGIN, LIST, SELECT, FETCH the delivered message byte for byte, STORE, LOGOUT."""
    expected = open(expected_path, "rb").read()
    m = connect(port)
    check("IMAP4REV1" in m.capabilities, f"capabilities {m.capabilities}")
    try:
        m.login(USER, "wrong")
        fail("a wrong password logged in")
    except imaplib.IMAP4.error:
        pass
    ok(*m.login(USER, PASSWORD), "login")
    names = ok(*m.list(), "list")
    listing = b"\n".join(names)
    check(b'"INBOX"' in listing and b"\\Sent" in listing, f"list {names!r}")
    count = ok(*m.select("INBOX"), "select")
    check(count == [b"1"], f"select count {count!r}")
    data = ok(*m.fetch("1", "(RFC822.SIZE BODY.PEEK[])"), "fetch")
    body = data[0][1]
    check(body == expected, f"body differs: {body[:80]!r} vs {expected[:80]!r}")
    check(f"RFC822.SIZE {len(expected)}".encode() in data[0][0], f"size in {data[0][0]!r}")
    data = ok(*m.fetch("1", "(ENVELOPE BODYSTRUCTURE)"), "fetch envelope")
    meta = data[0] if isinstance(data[0], bytes) else data[0][0]
    check(b'ENVELOPE (' in meta and b'"interop"' in meta and b'"bob" "example.test"' in meta,
          f"envelope {meta!r}")
    check(b'BODYSTRUCTURE ("TEXT" "PLAIN"' in meta, f"bodystructure {meta!r}")
    found = ok(*m.search(None, "FROM", '"Bob"', "SUBJECT", "interop"), "search")
    check(found == [b"1"], f"search {found!r}")
    found = ok(*m.uid("SEARCH", "UNSEEN"), "uid search")
    check(found == [b"1"], f"uid search {found!r}")
    ok(*m.store("1", "+FLAGS", "(\\Flagged)"), "store")
    flags = ok(*m.fetch("1", "(FLAGS)"), "fetch flags")
    check(b"\\Flagged" in flags[0], f"flags {flags!r}")
    ok(*m.close(), "close")
    m.logout()
    print("ok read-mail", len(expected), "bytes")


def folders(port):
    """APPEND with flags and date, COPY, UID MOVE, EXPUNGE, STATUS, CREATE/RENAME/DELETE."""
    m = connect(port)
    ok(*m.login(USER, PASSWORD), "login")
    message = b"From: carol@example.test\r\nSubject: appended\r\n\r\nappended body\r\n"
    date = imaplib.Time2Internaldate(time.mktime((2020, 9, 13, 12, 26, 40, 0, 0, 0)))
    typ, data = m.append("Drafts", "(\\Draft $Work)", date, message)
    ok(typ, data, "append")
    check(b"APPENDUID" in data[0], f"no APPENDUID in {data!r}")
    ok(*m.select("Drafts"), "select Drafts")
    typ, data = m.copy("1", "Archive")
    ok(typ, data, "copy")
    check(b"COPYUID" in data[0], f"no COPYUID in {data!r}")
    typ, data = m.uid("MOVE", "1", "Trash")
    ok(typ, data, "uid move")
    status = ok(*m.status("Trash", "(MESSAGES UIDNEXT)"), "status")
    check(b"MESSAGES 1" in status[0], f"status {status!r}")
    ok(*m.select("Archive"), "select Archive")
    ok(*m.store("1", "+FLAGS", "(\\Deleted)"), "store deleted")
    typ, data = m.expunge()
    ok(typ, data, "expunge")
    check(data == [b"1"], f"expunge reported {data!r}")
    # Non-ASCII names in modified UTF-7, as IMAP4rev1 clients send them.
    ok(*m.create("Entw&APw-rfe"), "create")
    ok(*m.rename("Entw&APw-rfe", "Projekt&AOk-"), "rename")
    names = b"\n".join(ok(*m.list('""', "Projekt*"), "list"))
    check(b"Projekt&AOk-" in names, f"list {names!r}")
    ok(*m.delete("Projekt&AOk-"), "delete")
    ok(*m.subscribe("Archive"), "subscribe")
    subs = b"\n".join(ok(*m.lsub(), "lsub"))
    check(b"Archive" in subs, f"lsub {subs!r}")
    m.logout()
    print("ok folders")


def starttls(port, cafile):
    """LOGINDISABLED before STARTTLS, then a verified TLS session and LOGIN."""
    m = connect(port)
    check("LOGINDISABLED" in m.capabilities, f"capabilities before TLS {m.capabilities}")
    try:
        m.login(USER, PASSWORD)
        fail("LOGIN accepted before STARTTLS")
    except imaplib.IMAP4.error:
        pass
    context = ssl.create_default_context(cafile=cafile)
    ok(*m.starttls(context), "starttls")
    check("LOGINDISABLED" not in m.capabilities, f"capabilities after TLS {m.capabilities}")
    ok(*m.login(USER, PASSWORD), "login")
    version = m.sock.version()
    m.logout()
    print("ok starttls", version)


def implicit_tls(port, cafile):
    """IMAP4_SSL on a tls: endpoint, the certificate verified."""
    socket.setdefaulttimeout(10)
    context = ssl.create_default_context(cafile=cafile)
    m = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=context)
    ok(*m.login(USER, PASSWORD), "login")
    ok(*m.select("INBOX", readonly=True), "examine")
    version = m.sock.version()
    m.logout()
    print("ok implicit-tls", version)


STEPS = {
    "read-mail": read_mail,
    "folders": folders,
    "starttls": starttls,
    "implicit-tls": implicit_tls,
}

if __name__ == "__main__":
    step, port, *rest = sys.argv[1:]
    try:
        STEPS[step](int(port), *rest)
    except (imaplib.IMAP4.error, OSError) as e:
        fail(f"{type(e).__name__}: {e}")
