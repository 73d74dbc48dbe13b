"""HTTP adapter: stdlib ``ThreadingHTTPServer`` routing to a :class:`Routes` implementation.

The handler only translates HTTP <-> :class:`Response`; decisions live in the service.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Mapping, Protocol

log = logging.getLogger(__name__)
JSON = "application/json"


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = JSON

    @classmethod
    def json(cls, status: int, payload: Any) -> "Response":
        return cls(status, json.dumps(payload).encode() + b"\n")


class Routes(Protocol):
    def live(self) -> Response: ...

    def ready(self) -> Response: ...

    def health(self) -> Response: ...

    def metrics(self) -> Response: ...

    def webhook(self, raw_body: bytes, headers: Mapping[str, str]) -> Response: ...

    def webhook_rejected(self, status: int, reason: str) -> Response: ...


MAX_BODY_BYTES = 10 * 1024 * 1024


def make_server(host: str, port: int, routes: Routes) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "klaviyo-sync"

        def do_GET(self) -> None:  # noqa: N802 - http.server naming
            path = self.path.split("?", 1)[0]
            handlers = {"/live": routes.live, "/ready": routes.ready, "/health": routes.health,
                        "/metrics": routes.metrics}
            if path in handlers:
                self._send(handlers[path]())
            elif path == "/webhooks/klaviyo":
                self._send(Response.json(405, {"error": "use POST"}))
            else:
                self._send(Response.json(404, {"error": f"no route {path}"}))

        def do_POST(self) -> None:  # noqa: N802
            path = self.path.split("?", 1)[0]
            if path != "/webhooks/klaviyo":
                self._drain()
                self._send(Response.json(404, {"error": f"no route {path}"}))
                return
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                self.close_connection = True
                self._send(routes.webhook_rejected(411, "Content-Length required"))
                return
            if int(length) > MAX_BODY_BYTES:
                self.close_connection = True
                self._send(routes.webhook_rejected(413, f"body over {MAX_BODY_BYTES} bytes"))
                return
            body = self.rfile.read(int(length))
            self._send(routes.webhook(body, self.headers))

        def _drain(self) -> None:
            length = self.headers.get("Content-Length", "0")
            if length.isdigit() and int(length) <= MAX_BODY_BYTES:
                self.rfile.read(int(length))
            else:
                self.close_connection = True

        def _send(self, response: Response) -> None:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            log.debug("%s " + format, self.address_string(), *args)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server
