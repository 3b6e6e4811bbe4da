"""SMTP clients for `cargo xtask interop smtp`: Python's smtplib, and raw sockets for what
smtplib and swaks cannot do (BDAT, a plaintext AUTH attempt). Each mode prints `ok …` and
exits 0, or exits non-zero with its reason. The xtask checks the mailboxes afterwards.

Usage:
  client.py bdat PORT TOKEN
      EHLO offers CHUNKING; MAIL, RCPT and `BDAT n` with its chunk pipelined in one write
      (RFC 3030), then `BDAT m LAST`; every reply 250. The chunks are not dot-stuffed.
  client.py auth-refused PORT USER PASSWORD
      On a submission port without TLS: EHLO does not offer AUTH, `AUTH PLAIN …` gets a 5yz
      reply, and MAIL FROM without AUTH gets 530 5.7.0.
  client.py smtplib-send PORT TOKEN
      smtplib.SMTP(...).send_message(), no TLS, no AUTH, to alice@example.test.
  client.py smtplib-submission PORT CAFILE USER PASSWORD TOKEN
      smtplib: STARTTLS verified against CAFILE, login(), send_message() to alice@example.test.
"""

import base64
import smtplib
import socket
import ssl
import sys
from email.message import EmailMessage

HOST = "127.0.0.1"
WAIT = 10.0
RECIPIENT = "alice@example.test"


def fail(message):
    sys.exit(message)


class Raw:
    """A line-oriented SMTP client on a plain socket."""

    def __init__(self, port):
        self.sock = socket.create_connection((HOST, port), timeout=WAIT)
        self.file = self.sock.makefile("rb")

    def send(self, data):
        self.sock.sendall(data)

    def reply(self):
        """One (possibly multi-line) reply: (code, [text lines])."""
        lines = []
        while True:
            raw = self.file.readline(1024)
            if not raw:
                fail(f"connection closed; replies so far: {lines}")
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if len(line) < 3 or not line[:3].isdigit():
                fail(f"not an SMTP reply: {line!r}")
            lines.append(line[4:])
            if line[3:4] != "-":
                return int(line[:3]), lines

    def expect(self, code, what):
        got, lines = self.reply()
        if got != code:
            fail(f"{what}: expected {code}, got {got} {lines}")
        return lines

    def ehlo(self):
        self.expect(220, "greeting")
        self.send(b"EHLO client.test\r\n")
        return [line.upper() for line in self.expect(250, "EHLO")]

    def quit(self):
        self.send(b"QUIT\r\n")
        self.expect(221, "QUIT")
        self.sock.close()


def bdat(port, token):
    c = Raw(port)
    if "CHUNKING" not in c.ehlo():
        fail("EHLO does not offer CHUNKING")
    first = (
        f"Subject: {token}\r\nFrom: <bdat@client.test>\r\nTo: <{RECIPIENT}>\r\n\r\n"
        "first chunk\r\n.not stuffed\r\n"
    ).encode()
    last = b"second chunk\r\n"
    c.send(
        b"MAIL FROM:<bdat@client.test>\r\n"
        + f"RCPT TO:<{RECIPIENT}>\r\n".encode()
        + b"BDAT %d\r\n" % len(first)
        + first
    )
    c.expect(250, "MAIL")
    c.expect(250, "RCPT")
    c.expect(250, "BDAT (first chunk)")
    c.send(b"BDAT %d LAST\r\n" % len(last) + last)
    c.expect(250, "BDAT LAST")
    c.quit()
    print("ok bdat")


def auth_refused(port, user, password):
    c = Raw(port)
    offered = c.ehlo()
    if any(line.startswith("AUTH") for line in offered):
        fail(f"EHLO offers AUTH without TLS: {offered}")
    credentials = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
    c.send(f"AUTH PLAIN {credentials}\r\n".encode())
    code, lines = c.reply()
    if not 500 <= code < 600:
        fail(f"AUTH PLAIN without TLS: expected 5yz, got {code} {lines}")
    c.send(b"MAIL FROM:<someone@client.test>\r\n")
    mail = c.expect(530, "MAIL FROM without AUTH")
    if not mail or not mail[0].startswith("5.7.0"):
        fail(f"MAIL FROM without AUTH: expected 530 5.7.0, got 530 {mail}")
    c.quit()
    print(f"ok auth-refused ({code} {lines[0]})")


def message(token, sender):
    msg = EmailMessage()
    msg["Subject"] = token
    msg["From"] = sender
    msg["To"] = RECIPIENT
    msg.set_content(f"sent by smtplib ({token})\n")
    return msg


def smtplib_send(port, token):
    with smtplib.SMTP(HOST, port, local_hostname="client.test", timeout=WAIT) as s:
        refused = s.send_message(message(token, "smtplib@client.test"))
        if refused:
            fail(f"recipients refused: {refused}")
    print("ok smtplib-send")


def smtplib_submission(port, cafile, user, password, token):
    context = ssl.create_default_context(cafile=cafile)
    with smtplib.SMTP(HOST, port, local_hostname="client.test", timeout=WAIT) as s:
        s.ehlo()
        if s.has_extn("auth"):
            fail("AUTH offered before STARTTLS")
        s.starttls(context=context)
        s.ehlo()
        if not s.has_extn("auth"):
            fail("AUTH not offered after STARTTLS")
        version = s.sock.version()
        s.login(user, password)
        refused = s.send_message(message(token, user))
        if refused:
            fail(f"recipients refused: {refused}")
    print(f"ok smtplib-submission {version}")


def main(argv):
    modes = {
        "bdat": (bdat, 2),
        "auth-refused": (auth_refused, 3),
        "smtplib-send": (smtplib_send, 2),
        "smtplib-submission": (smtplib_submission, 5),
    }
    if len(argv) < 2 or argv[1] not in modes or len(argv) - 2 != modes[argv[1]][1]:
        fail(__doc__)
    function, _ = modes[argv[1]]
    args = argv[2:]
    args[0] = int(args[0])
    try:
        function(*args)
    except (OSError, smtplib.SMTPException) as e:
        fail(f"{argv[1]}: {type(e).__name__}: {e}")


if __name__ == "__main__":
    main(sys.argv)
