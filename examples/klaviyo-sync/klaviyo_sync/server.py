"""HTTP adapter: stdlib ``ThreadingHTTPServer`` routing to a :class:`Routes` implementation.

The handler only translates HTTP <-> :class:`Request` / :class:`Response`; decisions live in the
service. The fixed routes (probes, metrics, webhooks) are always there; ``Routes.page`` answers
the rest (the OAuth install and settings pages), or None for 404.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Mapping, Protocol
from urllib.parse import parse_qsl

log = logging.getLogger(__name__)
JSON = "application/json"


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = JSON
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def json(cls, status: int, payload: Any) -> "Response":
        return cls(status, json.dumps(payload).encode() + b"\n")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]                 # a POSTed application/x-www-form-urlencoded body
    cookies: dict[str, str]


class Routes(Protocol):
    def live(self) -> Response: ...

    def ready(self) -> Response: ...

    def health(self) -> Response: ...

    def metrics(self) -> Response: ...

    def webhook(self, raw_body: bytes, headers: Mapping[str, str]) -> Response: ...

    def webhook_rejected(self, status: int, reason: str) -> Response: ...

    def page(self, request: Request) -> Response | None: ...


MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_FORM_BYTES = 64 * 1024


def parse_cookies(header: str | None) -> dict[str, str]:
    found = {}
    for part in (header or "").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name:
            found[name] = value
    return found


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
                self._page(path, {})

        def do_POST(self) -> None:  # noqa: N802
            path = self.path.split("?", 1)[0]
            if path != "/webhooks/klaviyo":
                self._form_post(path)
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

        def _form_post(self, path: str) -> None:
            length = self.headers.get("Content-Length", "0")
            if not length.isdigit() or int(length) > MAX_FORM_BYTES:
                self.close_connection = True
                self._send(Response.json(413, {"error": f"form body over {MAX_FORM_BYTES} bytes"}))
                return
            raw = self.rfile.read(int(length))
            form = dict(parse_qsl(raw.decode("utf-8", "replace"))) if raw else {}
            self._page(path, form)

        def _page(self, path: str, form: dict[str, str]) -> None:
            query = dict(parse_qsl(self.path.split("?", 1)[1])) if "?" in self.path else {}
            request = Request(self.command, path, query, form, parse_cookies(self.headers.get("Cookie")))
            answer = routes.page(request)
            self._send(answer or Response.json(404, {"error": f"no route {path}"}))

        def _send(self, response: Response) -> None:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(response.body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            log.debug("%s " + format, self.address_string(), *args)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server
