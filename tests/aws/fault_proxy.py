"""A threaded HTTP reverse proxy on loopback that injects S3 faults in front of a real server.

Arm a fault with :meth:`FaultProxy.inject` (``"slowdown"``: answer ``503 SlowDown`` with
S3's XML error body; ``"reset"``: close the connection with a TCP RST instead of
answering; ``"stall"``: hold the request, unanswered, until the proxy is closed or
``stall_s`` passes, longer than the client's read timeout). Each of the next ``count``
requests gets the fault; the ones after go through. Every request is counted and logged
(method, path).

:meth:`FaultProxy.inject_matching` arms a fault for requests of one method whose path
matches a pattern only (e.g. a Delta commit's ``PUT .../_delta_log/<n>.json``); it also
knows ``"lost_answer"``: forward the request, so the server applies it, then reset the
connection instead of answering (the client cannot tell whether it was applied).
"""

from __future__ import annotations

import http.client
import re
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

FAULTS = ("slowdown", "reset", "stall")
LOST_ANSWER = "lost_answer"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}
SLOWDOWN_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>"
    b"<RequestId>FAULTPROXY</RequestId></Error>"
)


class FaultProxy:
    """Forwards every request to ``upstream`` unless a fault is armed; counts requests."""

    def __init__(self, upstream: str, stall_s: float = 30.0):
        target = urlsplit(upstream)
        self.upstream = (target.hostname, target.port)
        self.stall_s = stall_s
        self.requests = 0
        self.faults_served = 0
        self.log: list[tuple[str, str]] = []
        self._armed: list[str] = []
        self._targeted: list[tuple[str, str, re.Pattern[str]]] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        """The proxy's base URL (use it as ``AWS_ENDPOINT_URL``)."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Release stalled requests and stop serving."""
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def inject(self, fault: str, count: int) -> None:
        """Give the next ``count`` requests the fault ``fault`` (one of :data:`FAULTS`)."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}, expected one of {FAULTS}")
        with self._lock:
            self._armed = [fault] * count

    def inject_sequence(self, faults: list[str]) -> None:
        """Give the next requests the faults ``faults``, one each, in this order."""
        for fault in faults:
            if fault not in FAULTS:
                raise ValueError(f"unknown fault {fault!r}, expected one of {FAULTS}")
        with self._lock:
            self._armed = list(reversed(faults))

    def inject_matching(self, fault: str, count: int, method: str, path_pattern: str) -> None:
        """Give the next ``count`` ``method`` requests whose path matches ``path_pattern``
        (:func:`re.search`) the fault ``fault`` (one of :data:`FAULTS` or :data:`LOST_ANSWER`)."""
        if fault not in (*FAULTS, LOST_ANSWER):
            raise ValueError(f"unknown fault {fault!r}, expected one of {FAULTS} or {LOST_ANSWER}")
        with self._lock:
            self._targeted = [(fault, method, re.compile(path_pattern))] * count

    def clear(self) -> None:
        """Disarm the faults not served yet."""
        with self._lock:
            self._armed = []
            self._targeted = []

    def take(self, method: str = "", path: str = "") -> str | None:
        """Count and log one request; return the fault it gets, if any."""
        with self._lock:
            self.requests += 1
            self.log.append((method, path))
            target = self._targeted[0] if self._targeted else None
            if target and target[1] == method and target[2].search(path):
                self.faults_served += 1
                return self._targeted.pop()[0]
            if not self._armed:
                return None
            self.faults_served += 1
            return self._armed.pop()

    def stall(self) -> None:
        """Wait until the proxy closes or ``stall_s`` passes."""
        self._release.wait(self.stall_s)


def _handler_for(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):
            """Keep test output quiet."""

        def _read_body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _reset(self) -> None:
            linger = struct.pack("ii", 1, 0)  # close with RST, not FIN
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            self.close_connection = True
            self.connection.close()

        def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in HOP_BY_HOP:
                    self.send_header(name, value)
            length = {k.lower(): v for k, v in headers}.get("content-length")
            head = self.command == "HEAD" and length is not None
            self.send_header("Content-Length", length if head else str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _upstream(self, body: bytes) -> tuple[http.client.HTTPResponse, bytes]:
            upstream = http.client.HTTPConnection(*proxy.upstream, timeout=30)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                return response, response.read()
            finally:
                upstream.close()

        def _forward(self, body: bytes) -> None:
            response, payload = self._upstream(body)
            self._answer(response.status, response.getheaders(), payload)

        def _handle(self) -> None:
            body = self._read_body()
            fault = proxy.take(self.command, self.path)
            if fault == LOST_ANSWER:
                self._upstream(body)
                self._reset()
            elif fault == "reset":
                self._reset()
            elif fault == "stall":
                proxy.stall()
                self.close_connection = True
            elif fault == "slowdown":
                self._answer(503, [("Content-Type", "application/xml")], SLOWDOWN_BODY)
            else:
                self._forward(body)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

    return Handler
