"""The threaded HTTP/1.1 server on 127.0.0.1 behind the local stand-ins and the fault proxy.

A subclass answers `respond(request)`; this class owns the rest: the listening socket (port 0 = any free
port), one daemon thread per connection, keep-alive, the request body by Content-Length, the answer with
its Content-Length, and start/stop (a context manager). Request lines are never logged: their paths carry
endpoint ids, user keys and domain names.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

HOST = "127.0.0.1"


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str  # as sent: path and query string
    headers: Message
    body: bytes


@dataclass
class HttpResponse:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)  # Content-Length is added by the server


class LoopbackServer:
    """Serves `respond()` on 127.0.0.1 from a daemon thread once started."""

    thread_name = "loopback-server"

    def __init__(self, port: int = 0) -> None:
        self._server = ThreadingHTTPServer((HOST, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def endpoint_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def respond(self, request: HttpRequest) -> HttpResponse:
        raise NotImplementedError

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=self.thread_name,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body leave in two send() calls: with Nagle's algorithm on, each answer would
            # wait for the client's delayed ACK (~40 ms a call on Linux).
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                response = server.respond(HttpRequest(self.command, self.path, self.headers, body))
                try:
                    self.send_response(response.status)
                    for name, value in response.headers:
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(response.body)))
                    self.end_headers()
                    self.wfile.write(response.body)
                except OSError:
                    self.close_connection = True  # the caller is gone (e.g. a killed Lambda worker)

            do_GET = do_PUT = do_DELETE = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return None

        return Handler
