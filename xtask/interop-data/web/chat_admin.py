"""Headless Chromium (through chromedriver's WebDriver API) on the chat_admin example: load the
admin page, type a new banner into its form and submit it (the browser sends the CSRF token
and its Origin), see the page show it, then connect to the chat port as netcat would and get
the new banner first. Usage: chat_admin.py DRIVER_PORT ADMIN_URL CHAT_PORT PROFILE_DIR."""

import json
import socket
import sys
import time
import urllib.request

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
BANNER = "Hello from Chromium <3"


def call(port, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read() or b"{}").get("value")


def main():
    driver, url, chat_port, profile = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    caps = {
        "capabilities": {
            "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": "/usr/bin/chromium",
                    "args": ["--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}"],
                },
            }
        }
    }
    session = call(driver, "POST", "/session", caps)["sessionId"]
    try:
        s = f"/session/{session}"
        call(driver, "POST", f"{s}/url", {"url": url})
        field = call(driver, "POST", f"{s}/element", {"using": "css selector", "value": "input[name=banner]"})[ELEMENT]
        call(driver, "POST", f"{s}/element/{field}/clear", {})
        call(driver, "POST", f"{s}/element/{field}/value", {"text": BANNER})
        button = call(driver, "POST", f"{s}/element", {"using": "css selector", "value": "button[type=submit]"})[ELEMENT]
        call(driver, "POST", f"{s}/element/{button}/click", {})
        deadline = time.time() + 20
        while True:
            shown = call(driver, "POST", f"{s}/element", {"using": "css selector", "value": "#banner"})[ELEMENT]
            text = call(driver, "GET", f"{s}/element/{shown}/text")
            if text == BANNER:
                break
            if time.time() > deadline:
                print(f"FAILED: the page shows {text!r} after submitting")
                sys.exit(1)
            time.sleep(0.2)
    finally:
        call(driver, "DELETE", f"/session/{session}")
    with socket.create_connection(("127.0.0.1", chat_port), timeout=10) as sock:
        first = sock.makefile("rb").readline().decode().rstrip("\r\n")
    if first != BANNER:
        print(f"FAILED: a new chat client got {first!r}")
        sys.exit(1)
    print(f"ok chromium submitted the form; the page and the next chat client show {BANNER!r}")


if __name__ == "__main__":
    main()
