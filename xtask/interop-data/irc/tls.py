"""A client of the `irc` library over TLS (certificate verified against CA) and one in
plaintext on the same server talk in a channel.

Usage: tls.py TLS_PORT PLAIN_PORT CA_FILE
"""

import sys

from harness import Net, fail

CHANNEL = "#secure"


def main():
    try:
        tls_port, plain_port, ca = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    except (IndexError, ValueError):
        fail("usage: tls.py TLS_PORT PLAIN_PORT CA_FILE")
    secure_net = Net(tls_port)
    plain_net = Net(plain_port)
    tess = secure_net.connect("tess", tls_ca=ca)
    if not hasattr(tess.conn.socket, "version") or tess.conn.socket.version() is None:
        fail("the connection is not TLS")
    pat = plain_net.connect("pat")
    tess.join(CHANNEL)
    pat.join(CHANNEL)
    tess.conn.privmsg(CHANNEL, "over tls")
    # One process drives both reactors: pump the TLS one while waiting on the other.
    secure_net.pump(0.2)
    pat.expect("pubmsg", lambda e: e.arguments == ["over tls"], "the TLS client's message")
    pat.conn.privmsg(CHANNEL, "in plaintext")
    plain_net.pump(0.2)
    tess.expect("pubmsg", lambda e: e.arguments == ["in plaintext"], "the plaintext client's message")
    print("ok", tess.conn.socket.version())


main()
