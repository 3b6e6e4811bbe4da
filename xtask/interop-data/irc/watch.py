"""A client of the `irc` library joins a channel, prints `ready`, and waits for a PRIVMSG from
a given nick (sent by `torsion-irc send`) and prints `ok` when it has arrived with the
expected text.

Usage: watch.py PORT CHANNEL NICK TEXT
"""

import sys

from harness import Net, fail


def main():
    try:
        port, channel, nick, text = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    except (IndexError, ValueError):
        fail("usage: watch.py PORT CHANNEL NICK TEXT")
    net = Net(port)
    watcher = net.connect("watcher")
    watcher.join(channel)
    print("ready", flush=True)
    watcher.expect("join", lambda e: e.source.nick == nick, f"{nick}'s JOIN")
    e = watcher.expect("pubmsg", lambda e: e.source.nick == nick, f"a message from {nick}")
    if e.arguments != [text] or e.target.lower() != channel.lower():
        fail(f"{nick} said {e.arguments} to {e.target}")
    print("ok", flush=True)


main()
