"""Shared helpers for the IRC interop checks: clients of the third-party `irc` library
(PyPI `irc`, pinned in .ci/run) driven from one Reactor, every wait bounded.

Each check script takes the server's port (and more, see the script), prints `ok` on success,
and exits non-zero with one line saying what went wrong otherwise.
"""

import functools
import os
import ssl
import sys
import time

# .ci/run installs the pinned library here (pip install --target), beside any system-wide copy.
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
LIBRARY = os.path.join(ROOT, "var", "interop", "python")
if os.path.isdir(LIBRARY):
    sys.path.insert(0, LIBRARY)

try:
    import irc.client
    import irc.connection
except ImportError as e:  # pragma: no cover - reported by the suite
    sys.exit(f"cannot import the irc library ({e}): "
             "python3 -m pip install --target var/interop/python irc==20.5.0")

HOST = "127.0.0.1"
# Bound on one wait for an event.
WAIT = 5.0


def fail(message):
    sys.exit(message)


class Peer:
    """One client connection and the events it has seen."""

    def __init__(self, net, nick, connection):
        self.net = net
        self.nick = nick
        self.conn = connection
        self.events = []
        self.seen = 0

    def expect(self, kind, check=lambda e: True, what=None):
        """Wait for an event of type `kind` (after those already matched) passing `check`."""
        deadline = time.monotonic() + WAIT
        while True:
            for i in range(self.seen, len(self.events)):
                event = self.events[i]
                if event.type == kind and check(event):
                    self.seen = i + 1
                    return event
            if time.monotonic() >= deadline:
                recent = [(e.type, str(e.source), e.target, e.arguments) for e in self.events[-8:]]
                fail(f"{self.nick}: no {what or kind} within {WAIT} s; last events: {recent}")
            self.net.reactor.process_once(0.05)

    def join(self, channel):
        self.conn.join(channel)
        # 366 RPL_ENDOFNAMES: the join is complete and NAMES has been sent.
        self.expect("endofnames", lambda e: e.arguments[0].lower() == channel.lower(),
                    f"end of NAMES for {channel}")


class Net:
    """A Reactor with its clients; every event is recorded on the peer it came to."""

    def __init__(self, port):
        self.port = port
        self.reactor = irc.client.Reactor()
        self.peers = {}
        self.reactor.add_global_handler("all_events", self._record, -20)

    def _record(self, connection, event):
        peer = self.peers.get(id(connection))
        if peer is not None:
            peer.events.append(event)

    def connect(self, nick, tls_ca=None):
        """Connect and register `nick` (until 001), plaintext or TLS verified against `tls_ca`."""
        kwargs = {}
        if tls_ca is not None:
            context = ssl.create_default_context(cafile=tls_ca)
            wrapper = functools.partial(context.wrap_socket, server_hostname="localhost")
            kwargs["connect_factory"] = irc.connection.Factory(wrapper=wrapper)
        connection = self.reactor.server()
        peer = Peer(self, nick, connection)
        self.peers[id(connection)] = peer
        try:
            connection.connect(HOST, self.port, nick, username=nick, ircname=f"interop {nick}",
                               **kwargs)
        except (irc.client.ServerConnectionError, OSError, ssl.SSLError) as e:
            fail(f"{nick}: cannot connect to {HOST}:{self.port}: {e!r}")
        peer.expect("welcome", what="welcome (001)")
        return peer

    def pump(self, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.reactor.process_once(0.05)


def library_version():
    from importlib import metadata
    try:
        return metadata.version("irc")
    except metadata.PackageNotFoundError:
        return "unknown"


def port_arg():
    try:
        return int(sys.argv[1])
    except (IndexError, ValueError):
        fail("usage: SCRIPT PORT")
