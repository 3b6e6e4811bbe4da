"""The PyPI `imapclient` library (pinned in .ci/run) against torsion-imap.

Usage: imapclient_check.py STEP PORT (or `version VERSION`: the library imported is that
version); prints "ok ..." on success, exits non-zero with the reason otherwise. Every step opens its own connections with a 10 s socket timeout; the IDLE
wait is bounded too. Each step leaves the account as it found it apart from INBOX, whose
contents the later steps do not depend on (they use folders of their own).
"""
import datetime
import importlib.metadata
import os
import socket
import sys
import time

from checks import fail, check

# .ci/run installs the pinned library here (pip install --target), beside any system-wide copy.
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
LIBRARY = os.path.join(ROOT, "var", "interop", "python")
if os.path.isdir(LIBRARY):
    sys.path.insert(0, LIBRARY)

try:
    import imapclient
    from imapclient import IMAPClient
    from imapclient.imapclient import ARCHIVE, DRAFTS, JUNK, SENT, TRASH
    from imapclient.exceptions import CapabilityError, IMAPClientError
except ImportError as e:  # pragma: no cover - reported by the suite
    sys.exit(f"cannot import imapclient ({e}): "
             "python3 -m pip install --target var/interop/python imapclient==4.1.0")

USER, PASSWORD = "alice@example.test", "wonderland"
# Socket timeout for every operation, and the bound on waiting for IDLE news.
TIMEOUT = 10
IDLE_WAIT = 10


def kept(flags):
    """Flags without \\Recent: it is this session's (RFC 3501 section 2.3.2, recent in the
    first session to see a message), so which messages carry it is not what is checked."""
    return tuple(f for f in flags if f.lower() != b"\\recent")


def connect(port, login=True):
    c = IMAPClient("127.0.0.1", port=port, ssl=False, timeout=TIMEOUT)
    if login:
        c.login(USER, PASSWORD)
    return c


def message(subject, sender="Carol <carol@example.test>", body="body\r\n"):
    return (f"From: {sender}\r\nTo: alice@example.test\r\nSubject: {subject}\r\n"
            f"Date: Sun, 13 Sep 2020 12:26:40 +0000\r\nMessage-ID: <{subject}@example.test>\r\n"
            f"\r\n{body}").encode()


MULTIPART = (
    b"From: Dave <dave@example.test>\r\nTo: alice@example.test\r\nSubject: parts\r\n"
    b"Date: Mon, 14 Sep 2020 08:00:00 +0200\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
    b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nthe text\r\n"
    b"--b1\r\nContent-Type: application/octet-stream; name=\"a.bin\"\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nAAECAw==\r\n--b1--\r\n"
)


def uid_of(resp):
    """The new UID from an APPENDUID/COPYUID response text."""
    text = resp.decode() if isinstance(resp, bytes) else str(resp)
    check("APPENDUID" in text, f"no APPENDUID in {text!r}")
    return int(text.split("]")[0].split()[-1])


def session(port):
    """Capabilities before and after LOGIN, a wrong password, NAMESPACE, ID, ENABLE,
    LIST with special-use flags (find_special_folder), XLIST not advertised."""
    c = connect(port, login=False)
    pre = c.capabilities()
    check(b"IMAP4REV1" in pre and b"IDLE" in pre, f"capabilities before login {pre}")
    try:
        c.login(USER, "wrong")
        fail("a wrong password logged in")
    except IMAPClientError:
        pass
    c.login(USER, PASSWORD)
    caps = c.capabilities()
    for cap in (b"IMAP4REV1", b"IDLE", b"NAMESPACE", b"ID", b"ENABLE", b"UIDPLUS", b"MOVE",
                b"CONDSTORE", b"SPECIAL-USE"):
        check(cap in caps, f"{cap} missing from {caps}")
    ns = c.namespace()
    check(len(ns.personal) == 1 and ns.personal[0][1] == ".",
          f"personal namespace {ns.personal!r}")
    check(ns.personal[0][0] == "", f"personal prefix {ns.personal[0][0]!r}")
    check(not ns.other and not ns.shared, f"other/shared namespaces {ns!r}")
    # RFC 2971 section 3.1: the server MUST answer with an untagged ID response.
    ident = c.id_({"name": "imapclient", "version": imapclient.__version__})
    check(ident is not None and len(ident) >= 1, f"ID response {ident!r}")
    enabled = c.enable("CONDSTORE")
    check(enabled == [b"CONDSTORE"], f"ENABLE CONDSTORE returned {enabled!r}")
    folders = {name: flags for flags, delim, name in c.list_folders()}
    check(all(d == b"." for _, d, _ in c.list_folders()), "hierarchy delimiter is not '.'")
    for name, flag in (("Sent", SENT), ("Drafts", DRAFTS), ("Trash", TRASH), ("Junk", JUNK),
                       ("Archive", ARCHIVE)):
        check(name in folders and flag in folders[name], f"{name} {flag} in {folders!r}")
        found = c.find_special_folder(flag)
        check(found == name, f"find_special_folder({flag}) = {found!r}")
    check("INBOX" in folders, f"no INBOX in {folders!r}")
    # XLIST is Gmail's deprecated predecessor of SPECIAL-USE; imapclient refuses to send it
    # unless advertised, and torsion-imap rightly does not advertise it.
    try:
        c.xlist_folders()
        fail("xlist_folders ran without an XLIST capability")
    except CapabilityError:
        pass
    c.logout()
    print("ok session", len(folders), "folders")


def messages(port):
    """APPEND (flags, date), SELECT with CONDSTORE, SEARCH, FETCH, flags, COPY, MOVE,
    EXPUNGE and UID EXPUNGE, STATUS — in a folder of its own."""
    c = connect(port)
    box = "ImapclientBox"
    if c.folder_exists(box):
        c.delete_folder(box)
    c.create_folder(box)
    c.enable("CONDSTORE")
    when = datetime.datetime(2020, 9, 13, 12, 26, 40, tzinfo=datetime.timezone.utc)
    m1, m2 = message("first", sender="Bob <bob@example.test>"), message("second")
    u1 = uid_of(c.append(box, m1, flags=[imapclient.SEEN], msg_time=when))
    u2 = uid_of(c.append(box, m2, msg_time=when + datetime.timedelta(days=400)))
    u3 = uid_of(c.append(box, MULTIPART, flags=[b"$Work"]))
    check(u1 < u2 < u3, f"APPENDUIDs not ascending: {u1} {u2} {u3}")
    info = c.select_folder(box)
    check(info[b"EXISTS"] == 3, f"EXISTS {info.get(b'EXISTS')}")
    check(info[b"UIDNEXT"] == u3 + 1, f"UIDNEXT {info.get(b'UIDNEXT')} after {u3}")
    check(b"HIGHESTMODSEQ" in info, f"no HIGHESTMODSEQ with CONDSTORE enabled: {info!r}")
    check(b"READ-WRITE" in info, f"not read-write: {info!r}")
    modseq0 = info[b"HIGHESTMODSEQ"]

    def search(criteria, expect):
        got = sorted(c.search(criteria))
        check(got == sorted(expect), f"SEARCH {criteria!r} = {got} not {sorted(expect)}")

    search("ALL", [u1, u2, u3])
    search(["UNSEEN"], [u2, u3])
    search(["SEEN"], [u1])
    search(["FROM", "bob@example.test"], [u1])
    search(["FROM", "Dave"], [u3])
    search(["SUBJECT", "second"], [u2])
    search(["SINCE", datetime.date(2021, 1, 1)], [u2, u3])
    search(["BEFORE", datetime.date(2021, 1, 1)], [u1])
    search(["KEYWORD", "$Work"], [u3])
    search(["NOT", "FROM", "bob"], [u2, u3])
    search(["OR", "SUBJECT", "first", "SUBJECT", "parts"], [u1, u3])
    search(["BODY", "the text"], [u3])
    search(["LARGER", 200], [u3])
    search(["UID", f"{u2}:*"], [u2, u3])

    data = c.fetch([u1, u2, u3], ["ENVELOPE", "BODYSTRUCTURE", "BODY.PEEK[]", "FLAGS",
                                  "INTERNALDATE", "RFC822.SIZE", "MODSEQ"])
    check(sorted(data) == [u1, u2, u3], f"FETCH returned {sorted(data)}")
    for uid, raw in ((u1, m1), (u2, m2), (u3, MULTIPART)):
        d = data[uid]
        check(d[b"BODY[]"] == raw, f"BODY[] of {uid}: {d[b'BODY[]'][:60]!r} vs {raw[:60]!r}")
        check(d[b"RFC822.SIZE"] == len(raw), f"RFC822.SIZE {d[b'RFC822.SIZE']} != {len(raw)}")
        check(isinstance(d[b"MODSEQ"], tuple) and d[b"MODSEQ"][0] >= 1, f"MODSEQ {d[b'MODSEQ']}")
    env = data[u1][b"ENVELOPE"]
    check(env.subject == b"first", f"envelope subject {env.subject!r}")
    frm = env.from_[0]
    check((frm.name, frm.mailbox, frm.host) == (b"Bob", b"bob", b"example.test"),
          f"envelope from {frm!r}")
    check(env.to[0].mailbox == b"alice" and env.message_id == b"<first@example.test>",
          f"envelope to/message-id {env!r}")
    check(env.date == datetime.datetime(2020, 9, 13, 12, 26, 40).replace(
        tzinfo=env.date.tzinfo) or env.date.replace(tzinfo=None) == datetime.datetime(
        2020, 9, 13, 12, 26, 40), f"envelope date {env.date!r}")
    check(kept(data[u1][b"FLAGS"]) == (imapclient.SEEN,), f"flags of {u1}: {data[u1][b'FLAGS']}")
    check(kept(data[u2][b"FLAGS"]) == (), f"flags of {u2}: {data[u2][b'FLAGS']}")
    check(kept(data[u3][b"FLAGS"]) == (b"$Work",), f"flags of {u3}: {data[u3][b'FLAGS']}")
    # imapclient normalises INTERNALDATE to a naive local datetime (normalise_times).
    idate = data[u1][b"INTERNALDATE"]
    local = when.astimezone().replace(tzinfo=None)
    check(idate == local, f"INTERNALDATE {idate!r} != {local!r}")
    bs = data[u1][b"BODYSTRUCTURE"]
    check(bs[0].lower() == b"text" and bs[1].lower() == b"plain", f"bodystructure {bs!r}")
    bs = data[u3][b"BODYSTRUCTURE"]
    check(bs.is_multipart, f"multipart bodystructure {bs!r}")
    parts, subtype = bs[0], bs[1]
    check(subtype.lower() == b"mixed" and len(parts) == 2, f"multipart {bs!r}")
    check(parts[0][0].lower() == b"text" and parts[1][0].lower() == b"application"
          and parts[1][5].lower() == b"base64", f"parts {parts!r}")
    part = c.fetch([u3], ["BODY.PEEK[1]", "BODY.PEEK[2]"])[u3]
    check(part[b"BODY[1]"] == b"the text", f"BODY[1] {part[b'BODY[1]']!r}")
    check(part[b"BODY[2]"] == b"AAECAw==", f"BODY[2] {part[b'BODY[2]']!r}")

    # Flags, and CONDSTORE's MODSEQ moving with them (RFC 7162 section 3.1).
    got = c.add_flags([u2], [imapclient.FLAGGED, b"$Later"])
    check(set(kept(got.get(u2, ()))) == {imapclient.FLAGGED, b"$Later"}, f"add_flags {got!r}")
    got = c.remove_flags([u2], [b"$Later"])
    check(kept(got.get(u2, ())) == (imapclient.FLAGGED,), f"remove_flags {got!r}")
    got = c.set_flags([u1], [imapclient.SEEN, imapclient.ANSWERED])
    check(set(kept(got.get(u1, ()))) == {imapclient.SEEN, imapclient.ANSWERED},
          f"set_flags {got!r}")
    flags = {uid: kept(f) for uid, f in c.get_flags([u1, u2, u3]).items()}
    check(set(flags[u1]) == {imapclient.SEEN, imapclient.ANSWERED}
          and flags[u2] == (imapclient.FLAGGED,) and flags[u3] == (b"$Work",),
          f"get_flags {flags!r}")
    search(["FLAGGED"], [u2])
    search(["ANSWERED"], [u1])
    # Explicit UIDs, not "1:*": imapclient 4 maps fetch()'s answer back through int() of each
    # requested id, which a sequence-set string fails.
    changed = c.fetch([u1, u2, u3], ["FLAGS"], modifiers=[f"CHANGEDSINCE {modseq0}"])
    check(sorted(changed) == [u1, u2], f"CHANGEDSINCE {modseq0} returned {sorted(changed)}")
    search(["MODSEQ", modseq0 + 1], [u1, u2])
    check(c.select_folder(box)[b"HIGHESTMODSEQ"] > modseq0, "HIGHESTMODSEQ did not grow")

    # COPY and MOVE into a second folder; STATUS on both.
    other = "ImapclientOther"
    if c.folder_exists(other):
        c.delete_folder(other)
    c.create_folder(other)
    # imapclient's copy() returns imaplib's untagged FETCH data (None), not the tagged
    # [COPYUID]; client.py checks COPYUID, here the copy's contents are compared below.
    c.copy([u1], other)
    c.move([u3], other)
    search("ALL", [u1, u2])
    status = c.folder_status(other, [b"MESSAGES", b"UNSEEN", b"UIDNEXT", b"UIDVALIDITY"])
    check(status[b"MESSAGES"] == 2 and status[b"UNSEEN"] == 1,
          f"STATUS {other} {status!r} (want 2 messages, 1 unseen)")
    moved = c.folder_status(box, [b"MESSAGES"])
    check(moved[b"MESSAGES"] == 2, f"STATUS {box} after MOVE {moved!r}")

    # EXPUNGE: UID EXPUNGE removes only the named message among two \Deleted ones.
    c.add_flags([u1, u2], [imapclient.DELETED])
    c.uid_expunge([u2])
    search("ALL", [u1])
    resp, untagged = c.expunge()
    check((1, b"EXPUNGE") in untagged, f"EXPUNGE untagged {untagged!r}")
    search("ALL", [])
    check(c.folder_status(box, [b"MESSAGES"])[b"MESSAGES"] == 0, "box not empty")

    c.select_folder(other, readonly=True)
    got = c.fetch(c.search("ALL"), ["BODY.PEEK[]"])
    bodies = sorted(v[b"BODY[]"] for v in got.values())
    check(bodies == sorted([m1, MULTIPART]), f"{other} holds {bodies!r}")
    c.unselect_folder()
    c.delete_folder(other)
    c.delete_folder(box)
    c.logout()
    print("ok messages")


def folders(port):
    """CREATE (with a sub-folder), RENAME (children follow), SUBSCRIBE, STATUS, DELETE."""
    c = connect(port)
    for name in ("Projects", "Done", "Done.Alpha", "Projects.Alpha"):
        if c.folder_exists(name):
            c.delete_folder(name)
    c.create_folder("Projects")
    c.create_folder("Projects.Alpha")
    names = [n for _, _, n in c.list_folders(pattern="Projects*")]
    check(sorted(names) == ["Projects", "Projects.Alpha"], f"LIST Projects* {names!r}")
    flags = {n: f for f, _, n in c.list_folders()}
    check(b"\\HasChildren" in flags["Projects"], f"Projects flags {flags['Projects']!r}")
    children = [n for _, _, n in c.list_folders(directory="Projects.", pattern="%")]
    check(children == ["Projects.Alpha"], f"LIST Projects. % {children!r}")
    uid_of(c.append("Projects.Alpha", message("nested")))
    c.rename_folder("Projects", "Done")
    names = sorted(n for _, _, n in c.list_folders(pattern="*") if n.startswith(("Projects", "Done")))
    check(names == ["Done", "Done.Alpha"], f"after RENAME {names!r}")
    status = c.folder_status("Done.Alpha", [b"MESSAGES"])
    check(status[b"MESSAGES"] == 1, f"the child's message after RENAME: {status!r}")
    c.subscribe_folder("Done.Alpha")
    subs = [n for _, _, n in c.list_sub_folders()]
    check("Done.Alpha" in subs, f"LSUB {subs!r}")
    c.unsubscribe_folder("Done.Alpha")
    check("Done.Alpha" not in [n for _, _, n in c.list_sub_folders()], "still subscribed")
    # Unicode names go out in modified UTF-7 (imapclient encodes them itself).
    c.create_folder("Entwürfe")
    check(c.folder_exists("Entwürfe"), "Entwürfe not listed")
    c.delete_folder("Entwürfe")
    c.delete_folder("Done.Alpha")
    c.delete_folder("Done")
    check(not c.folder_exists("Done") and not c.folder_exists("Done.Alpha"), "delete")
    try:
        c.select_folder("Done")
        fail("selected a deleted folder")
    except IMAPClientError:
        pass
    c.logout()
    print("ok folders")


def idle(port):
    """IDLE in a folder; a second connection APPENDs; the idler sees EXISTS within
    IDLE_WAIT seconds, then DONE and FETCH of the new message."""
    box = "ImapclientIdle"
    watcher = connect(port)
    if watcher.folder_exists(box):
        watcher.delete_folder(box)
    watcher.create_folder(box)
    info = watcher.select_folder(box)
    check(info[b"EXISTS"] == 0, f"EXISTS {info[b'EXISTS']}")
    watcher.idle()
    raw = message("idle-news")
    writer = connect(port)
    new_uid = uid_of(writer.append(box, raw))
    writer.logout()
    deadline = time.monotonic() + IDLE_WAIT
    seen = []
    while time.monotonic() < deadline and (1, b"EXISTS") not in seen:
        seen += watcher.idle_check(timeout=max(0.1, deadline - time.monotonic()))
    text, after = watcher.idle_done()
    check((1, b"EXISTS") in seen + list(after), f"no '* 1 EXISTS' within {IDLE_WAIT} s: {seen!r}")
    got = watcher.fetch([new_uid], ["BODY.PEEK[]"])
    check(got.get(new_uid, {}).get(b"BODY[]") == raw, f"fetched after IDLE {got!r}")
    watcher.unselect_folder()
    watcher.delete_folder(box)
    watcher.logout()
    print("ok idle", seen)


def version(expected):
    """The imported library is the pinned one, from var/interop/python if installed there."""
    got = importlib.metadata.version("imapclient")
    check(got == expected, f"imapclient {got} is installed ({imapclient.__file__}), "
          f"{expected} expected: python3 -m pip install --target var/interop/python "
          f"imapclient=={expected}")
    print("ok imapclient", got, "from", os.path.dirname(os.path.dirname(imapclient.__file__)))


STEPS = {"session": session, "messages": messages, "folders": folders, "idle": idle}

if __name__ == "__main__":
    step, port = sys.argv[1:]
    if step == "version":
        version(port)
        sys.exit(0)
    socket.setdefaulttimeout(TIMEOUT)
    try:
        STEPS[step](int(port))
    except (IMAPClientError, OSError, KeyError) as e:
        fail(f"{type(e).__name__}: {e!r}")
