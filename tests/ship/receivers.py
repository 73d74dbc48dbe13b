"""Local HTTP receivers for the notification and GitHub tests: real sockets on loopback that
record every request and answer through a handler function, or hang, or fail."""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Answer:
    status: int
    body: Any = None                      # dict/list -> JSON; str -> text
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Seen], Answer]


class Receiver:
    """``with Receiver(handler) as r: r.url``; ``r.hang()`` makes every request wait until the
    receiver closes (a server that accepted the connection and never answers)."""

    def __init__(self, handler: Handler = lambda seen: Answer(200, "ok")) -> None:
        self.handler = handler
        self.seen: list[Seen] = []
        self._release = threading.Event()
        self._hanging = False
        receiver = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                parts = urlsplit(self.path)
                seen = Seen(self.command, parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()},
                            {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
                receiver.seen.append(seen)
                if receiver._hanging:
                    receiver._release.wait(30)
                    return
                answer = receiver.handler(seen)
                payload = answer.body if isinstance(answer.body, (str, bytes)) else json.dumps(answer.body)
                data = payload.encode() if isinstance(payload, str) else payload
                self.send_response(answer.status)
                kind = "text/html" if isinstance(answer.body, str) else "application/json; charset=utf-8"
                self.send_header("Content-Type", answer.headers.get("Content-Type", kind))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def hang(self) -> "Receiver":
        self._hanging = True
        return self

    def __enter__(self) -> "Receiver":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()
