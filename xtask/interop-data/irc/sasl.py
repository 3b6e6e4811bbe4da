"""SASL PLAIN with IRCv3 capability negotiation on a raw socket (the `irc` library has no
SASL): CAP LS 302, CAP REQ :sasl, AUTHENTICATE PLAIN, the credentials in base64, then
900/903 and the welcome after CAP END. A wrong password must get 904 and still allow an
unauthenticated registration.

Usage: sasl.py PORT USER PASSWORD
"""

import base64
import socket
import sys
import time

HOST = "127.0.0.1"
WAIT = 5.0


def fail(message):
    sys.exit(message)


class Raw:
    def __init__(self, port):
        self.sock = socket.create_connection((HOST, port), timeout=WAIT)
        self.file = self.sock.makefile("rb")
        self.log = []

    def send(self, line):
        self.sock.sendall(line.encode() + b"\r\n")

    def expect(self, command):
        """Read lines until one whose command (or numeric) is `command`; returns its words."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            raw = self.file.readline()
            if not raw:
                fail(f"connection closed waiting for {command}; got {self.log[-6:]}")
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            self.log.append(line)
            words = line.split(" ")
            if words[0].startswith(":"):
                words = words[1:]
            if words and words[0] == "PING":
                self.send("PONG " + " ".join(words[1:]))
                continue
            if words and words[0] == command:
                return words
        fail(f"no {command} within {WAIT} s; got {self.log[-6:]}")


def authenticate(port, nick, user, password):
    c = Raw(port)
    c.send("CAP LS 302")
    c.send(f"NICK {nick}")
    c.send(f"USER {nick} 0 * :sasl interop")
    ls = c.expect("CAP")
    caps = " ".join(ls[3:]).lstrip(":").split()
    if not any(cap == "sasl" or cap.startswith("sasl=") for cap in caps):
        fail(f"CAP LS does not offer sasl: {caps}")
    mechanisms = next((cap.split("=", 1)[1] for cap in caps if cap.startswith("sasl=")), "PLAIN")
    if "PLAIN" not in mechanisms.split(","):
        fail(f"sasl mechanisms {mechanisms!r} lack PLAIN")
    c.send("CAP REQ :sasl")
    ack = c.expect("CAP")
    if ack[2] != "ACK" or "sasl" not in " ".join(ack[3:]):
        fail(f"CAP REQ :sasl answered {' '.join(ack)}")
    c.send("AUTHENTICATE PLAIN")
    go = c.expect("AUTHENTICATE")
    if go[1:] != ["+"]:
        fail(f"expected AUTHENTICATE +, got {' '.join(go)}")
    token = base64.b64encode(f"{user}\0{user}\0{password}".encode()).decode()
    c.send(f"AUTHENTICATE {token}")
    return c


def main():
    try:
        port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    except (IndexError, ValueError):
        fail("usage: sasl.py PORT USER PASSWORD")
    # The right password: 900 RPL_LOGGEDIN names the account, 903 RPL_SASLSUCCESS.
    c = authenticate(port, "saslgood", user, password)
    logged_in = c.expect("900")
    if user not in logged_in:
        fail(f"900 does not name {user}: {' '.join(logged_in)}")
    c.expect("903")
    c.send("CAP END")
    c.expect("001")
    c.send("QUIT :done")
    # A wrong password: 904 ERR_SASLFAIL; registration still completes without an account.
    c = authenticate(port, "saslbad", user, password + "-wrong")
    c.expect("904")
    c.send("CAP END")
    c.expect("001")
    c.send("QUIT :done")
    print("ok")


main()
