"""A fault-injecting HTTP proxy for S3 tests: it sits on 127.0.0.1 in front of the moto server.

``plan(method, path, attempt)`` decides each request's fate, ``attempt`` counting
the requests for the same method and path: "pass", "503" (SlowDown), "500"
(InternalError), "reset" (the connection is dropped without an answer), "cut"
(the answer's body stops halfway) or "stall" (no answer for ``stall_s`` seconds,
longer than the client's read timeout).
"""

from __future__ import annotations

import http.client
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

Plan = Callable[[str, str, int], str]
_ERRORS = {
    "503": (503, "SlowDown", "Please reduce your request rate."),
    "500": (500, "InternalError", "We encountered an internal error. Please try again."),
}


class FaultProxy:
    def __init__(self, upstream: str, plan: Plan, stall_s: float = 3.0) -> None:
        self.upstream = urlsplit(upstream)
        self.stall_s = stall_s
        self.plan = plan
        self.attempts: Counter[tuple[str, str]] = Counter()
        self.injected: Counter[str] = Counter()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?")[0]
                with proxy._lock:
                    proxy.attempts[(self.command, path)] += 1
                    action = proxy.plan(self.command, path, proxy.attempts[(self.command, path)])
                    if action != "pass":
                        proxy.injected[action] += 1
                if action == "stall":
                    time.sleep(proxy.stall_s)  # the client has given up by now
                    self.close_connection = True
                    return
                if action == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    self.close_connection = True
                    return
                if action in _ERRORS:
                    status, code, message = _ERRORS[action]
                    xml = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(xml)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(xml)
                    return
                upstream = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection",)}
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length", "date", "server"):
                        self.send_header(key, value)
                # A HEAD answer has no body but tells the object's length.
                length = response.getheader("Content-Length", "0") if self.command == "HEAD" else str(len(data))
                self.send_header("Content-Length", length)
                self.end_headers()
                if self.command != "HEAD":
                    if action == "cut":
                        self.wfile.write(data[: len(data) // 2])
                        self.wfile.flush()
                        self.connection.close()
                        self.close_connection = True
                        return
                    self.wfile.write(data)
                upstream.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
