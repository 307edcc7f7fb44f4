"""A tiny fault-injecting HTTP proxy for S3 tests: forwards to a real S3 server, fails on cue.

Each :class:`Fault` rule fails the first ``count`` requests whose method and path match,
with an S3 error response (500 InternalError, 503 ServiceUnavailable or SlowDown, 403
AccessDenied) or a connection reset;
everything else is forwarded unchanged. Every request is logged, so a test can see what
was failed and that the client came back for it.
"""

from __future__ import annotations

import http.client
import re
import socket
import struct
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import urlsplit

FaultKind = Literal["500", "503", "slowdown", "reset", "denied"]
_ERROR_BODIES: dict[str, tuple[int, str, str]] = {
    "500": (500, "InternalError", "We encountered an internal error. Please try again."),
    "503": (503, "ServiceUnavailable", "Service is unable to handle request."),
    "slowdown": (503, "SlowDown", "Please reduce your request rate."),
    "denied": (403, "AccessDenied", "Access Denied"),
}
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


@dataclass
class Fault:
    """Fail the first ``count`` requests whose method is ``method`` and path matches ``path``."""

    path: str
    count: int
    kind: FaultKind = "503"
    method: str | None = None
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        """True when this rule still has failures to hand out for this request."""
        return (
            self.hits < self.count
            and (self.method is None or self.method == method)
            and re.search(self.path, path) is not None
        )


@dataclass(frozen=True)
class Logged:
    """One request seen by the proxy and what it did with it."""

    method: str
    path: str
    outcome: str  # "forwarded <status>" or the fault kind


@dataclass
class FaultProxy:
    """A threaded HTTP proxy on 127.0.0.1 in front of ``upstream`` (``http://host:port``)."""

    upstream: str
    faults: list[Fault] = field(default_factory=list)
    log: list[Logged] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        """The proxy's endpoint URL."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FaultProxy:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

    def arm(self, *faults: Fault) -> None:
        """Replace the fault rules and clear the log."""
        with self._lock:
            self.faults = list(faults)
            self.log.clear()

    def injected(self) -> list[Logged]:
        """Requests that were failed on purpose."""
        return [r for r in self.log if not r.outcome.startswith("forwarded")]

    def _claim(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.hits += 1
                    return fault
        return None

    def _record(self, method: str, path: str, outcome: str) -> None:
        with self._lock:
            self.log.append(Logged(method, path, outcome))


def _handler_for(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    target = urlsplit(proxy.upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the proxy keeps its own log."""

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _handle(self) -> None:
            body = self._body()
            fault = proxy._claim(self.command, self.path)
            if fault is not None:
                proxy._record(self.command, self.path, fault.kind)
                self._fail(fault.kind)
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
            if body or self.command in ("PUT", "POST"):
                headers["Content-Length"] = str(len(body))
            conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            try:
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                proxy._record(self.command, self.path, f"forwarded {resp.status}")
                self.send_response(resp.status, resp.reason)
                for key, value in resp.getheaders():
                    if key.lower() not in _HOP_HEADERS | {"content-length", "date", "server"}:
                        self.send_header(key, value)
                if self.command == "HEAD":
                    self.send_header("Content-Length", resp.getheader("Content-Length") or "0")
                    self.end_headers()
                else:
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
            finally:
                conn.close()

        def _fail(self, kind: FaultKind) -> None:
            if kind == "reset":
                # RST instead of FIN: the client sees "connection reset by peer".
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.close_connection = True
                self.connection.close()
                return
            status, code, message = _ERROR_BODIES[kind]
            xml = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<Error><Code>{code}</Code><Message>{message}</Message>"
                "<RequestId>fault-proxy</RequestId></Error>"
            ).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            if kind == "slowdown":
                self.send_header("Retry-After", "0")
            if self.command == "HEAD":
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_header("Content-Length", str(len(xml)))
            self.end_headers()
            self.wfile.write(xml)

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle  # noqa: N815

    return Handler
