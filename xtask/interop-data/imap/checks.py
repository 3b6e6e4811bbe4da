"""What the IMAP interop scripts share: a step fails by printing `FAIL why` and exiting 1
(the suite reports the line); `ok` unwraps an imaplib reply that must be OK."""
import sys


def fail(why):
    print("FAIL", why)
    sys.exit(1)


def check(cond, why):
    if not cond:
        fail(why)


def ok(typ, data, what):
    check(typ == "OK", f"{what}: {typ} {data!r}")
    return data
