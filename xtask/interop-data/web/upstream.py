"""A small HTTP/1.1 upstream for the torsion-web interop checks (Python's http.server, keep-alive):
POST/PUT echo the body (Content-Length or chunked); GET /api/headers answers the request's fields
as JSON. Logs `listening on tcp:127.0.0.1:PORT` when ready."""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def answer(self, body, ctype="application/octet-stream"):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        self.answer(self.read_body())

    do_PUT = do_POST

    def do_GET(self):
        fields = {k.lower(): v for k, v in self.headers.items()}
        self.answer(json.dumps({"path": self.path, "headers": fields}).encode(), "application/json")


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(f"listening on tcp:127.0.0.1:{server.server_address[1]}", file=sys.stderr, flush=True)
server.serve_forever()
