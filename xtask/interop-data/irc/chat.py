"""Two clients of the `irc` library register, join a channel and exchange messages: a channel
PRIVMSG, a private PRIVMSG, a TOPIC set by the channel operator, MODE +o on the other client,
a NICK change, a CTCP ACTION and a QUIT, each seen by the other client.

Usage: chat.py PORT STEP  (STEP: privmsg, topic-mode, nick, action, quit)
"""

import sys

from harness import Net, fail, port_arg

CHANNEL = "#interop"


def main():
    port = port_arg()
    step = sys.argv[2] if len(sys.argv) > 2 else "privmsg"
    # Nicks and channel are per step, so a step never meets the previous one's leftovers.
    tag = step.replace("-", "")[:8]
    a, b = f"alice-{tag}", f"bob-{tag}"
    channel = f"{CHANNEL}-{tag}"
    net = Net(port)
    alice = net.connect(a)
    bob = net.connect(b)
    alice.join(channel)
    bob.join(channel)
    # alice sees bob join.
    alice.expect("join", lambda e: e.source.nick == b, "bob's JOIN")

    if step == "privmsg":
        alice.conn.privmsg(channel, "hello channel")
        e = bob.expect("pubmsg", lambda e: e.arguments == ["hello channel"], "alice's channel message")
        if e.source.nick != a or e.target.lower() != channel:
            fail(f"channel message from {e.source} to {e.target}")
        bob.conn.privmsg(a, "hello alice")
        e = alice.expect("privmsg", lambda e: e.arguments == ["hello alice"], "bob's private message")
        if e.source.nick != b or e.target != a:
            fail(f"private message from {e.source} to {e.target}")
    elif step == "topic-mode":
        alice.conn.topic(channel, "interop testing")
        e = bob.expect("topic", lambda e: e.source.nick == a, "alice's TOPIC")
        if e.source.nick != a or e.arguments != ["interop testing"]:
            fail(f"TOPIC from {e.source}: {e.arguments}")
        # A later client is told the topic on JOIN (332).
        carol = net.connect(f"carol-{tag}")
        carol.conn.join(channel)
        e = carol.expect("currenttopic", what="the topic on JOIN (332)")
        if e.arguments[-1] != "interop testing":
            fail(f"332 says {e.arguments}")
        alice.conn.mode(channel, f"+o {b}")
        e = bob.expect("mode", lambda e: e.target.lower() == channel, "MODE on the channel")
        if e.source.nick != a or e.arguments != ["+o", b]:
            fail(f"MODE from {e.source}: {e.arguments}")
        # bob is an operator now: he may set the topic too.
        bob.conn.topic(channel, "bob was here")
        e = alice.expect("topic", lambda e: e.source.nick == b, "bob's TOPIC")
        if e.source.nick != b or e.arguments != ["bob was here"]:
            fail(f"TOPIC from {e.source}: {e.arguments}")
    elif step == "nick":
        bob.conn.nick(f"{b}by")
        e = alice.expect("nick", what="NICK")
        if e.source.nick != b or e.target != f"{b}by":
            fail(f"NICK from {e.source} to {e.target}")
        alice.conn.privmsg(f"{b}by", "new name?")
        bob.expect("privmsg", lambda e: e.arguments == ["new name?"], "a message to the new nick")
    elif step == "action":
        alice.conn.action(channel, "waves")
        e = bob.expect("action", what="CTCP ACTION")
        if e.source.nick != a or e.target.lower() != channel or e.arguments != ["waves"]:
            fail(f"ACTION from {e.source} to {e.target}: {e.arguments}")
    elif step == "quit":
        bob.conn.quit("see you")
        e = alice.expect("quit", what="QUIT")
        if e.source.nick != b or e.arguments not in (["Quit: see you"], ["see you"]):
            fail(f"QUIT from {e.source}: {e.arguments}")
    else:
        fail(f"unknown step {step!r}")
    print("ok")


main()
