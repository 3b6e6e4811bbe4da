"""Python clients against torsion-web (the interop checks): `requests` (a Session: keep-alive
GETs, HEAD, a range, a conditional GET, a POST through the proxy) and `http.client` (two requests
on one connection, a chunked upload through the proxy). Prints `ok` and what it did."""

import http.client
import sys


def check(cond, what):
    if not cond:
        print(f"FAILED: {what}")
        sys.exit(1)


def with_requests(base, www):
    import requests

    expected = open(f"{www}/1k.bin", "rb").read()
    with requests.Session() as s:
        r = s.get(f"{base}/1k.bin")
        check(r.status_code == 200 and r.content == expected, "GET /1k.bin")
        etag = r.headers["ETag"]
        r = s.get(f"{base}/1k.bin")
        check(r.content == expected, "second GET on the session")
        r = s.head(f"{base}/1k.bin")
        check(r.status_code == 200 and r.headers["Content-Length"] == "1024" and r.content == b"", "HEAD")
        r = s.get(f"{base}/1k.bin", headers={"Range": "bytes=100-199"})
        check(r.status_code == 206 and r.content == expected[100:200], "Range")
        r = s.get(f"{base}/1k.bin", headers={"If-None-Match": etag})
        check(r.status_code == 304, f"If-None-Match -> {r.status_code}")
        r = s.post(f"{base}/api/echo", data=b"x" * 100_000)
        check(r.status_code == 200 and r.content == b"x" * 100_000, "POST through the proxy")
        r = s.get(f"{base}/api/headers")
        fields = r.json()["headers"]
        check(fields.get("x-forwarded-for") == "127.0.0.1", f"X-Forwarded-For: {fields}")
        r = s.get(f"{base}/missing")
        check(r.status_code == 404, "404")
    print("ok requests: GET twice on a session, HEAD, Range 206, If-None-Match 304, POST via proxy, X-Forwarded-For, 404")


def with_http_client(host, port):
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", "/index.html")
    r = conn.getresponse()
    body = r.read()
    check(r.status == 200 and b"<html" in body, "GET /index.html")
    sock = conn.sock
    conn.request("GET", "/1k.bin")
    r = conn.getresponse()
    check(r.status == 200 and len(r.read()) == 1024, "GET /1k.bin")
    check(conn.sock is sock, "the second request reused the connection")

    def pieces():
        for i in range(50):
            yield f"piece {i};".encode()

    conn.request("POST", "/api/echo", body=pieces(), encode_chunked=True)
    r = conn.getresponse()
    expected = "".join(f"piece {i};" for i in range(50)).encode()
    check(r.status == 200 and r.read() == expected, "chunked POST through the proxy")
    check(conn.sock is sock, "still the same connection")
    conn.close()
    print("ok http.client: keep-alive on one connection, chunked upload through the proxy")


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "requests":
        with_requests(sys.argv[2], sys.argv[3])
    elif mode == "http.client":
        with_http_client(sys.argv[2], sys.argv[3])
    else:
        print(f"unknown mode {mode}")
        sys.exit(2)
