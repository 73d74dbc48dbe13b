"""A webhook driver: POST one JSON body (the driver's rendering of the event) to a URL that is
a secret, and say what happened, never raising."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

import httpx

from pipeline.notify import Delivery, Event
from pipeline.secrets import Secret, redact

Accept = Callable[[httpx.Response], bool]


@dataclass(frozen=True)
class Webhook:
    """A :class:`~pipeline.notify.Notifier`: ``render`` makes the body (Slack's, or the generic one)."""
    url: Secret
    name: str
    render: Callable[[Event], dict[str, Any]]
    transport: httpx.BaseTransport | None = None

    def send(self, event: Event, timeout: float) -> Delivery:
        return post_json(self.name, self.url, self.render(event), timeout, transport=self.transport)


def post_json(name: str, url: Secret, body: dict[str, Any], timeout: float,
              accept: Accept = lambda r: r.is_success, transport: httpx.BaseTransport | None = None) -> Delivery:
    start = time.monotonic()
    try:
        with httpx.Client(timeout=timeout, transport=transport, follow_redirects=False) as client:
            response = client.post(url.reveal(), json=body, headers={"User-Agent": "klaviyo-k8s-pipeline"})
    except httpx.TimeoutException:
        return Delivery(name, False, f"no answer within {timeout:g} s", time.monotonic() - start)
    except (httpx.HTTPError, ValueError) as exc:
        return Delivery(name, False, f"could not send ({type(exc).__name__})", time.monotonic() - start)
    seconds = time.monotonic() - start
    said = redact(" ".join(response.text.split())[:200], secret_parts(url))
    detail = f"HTTP {response.status_code}" + (f": {said}" if said else "")
    return Delivery(name, accept(response), detail, seconds)


def secret_parts(url: Secret) -> list[Secret]:
    """The URL and each path segment and query value long enough to be a token: a receiver that
    echoes its path back must not put the webhook's credential into a warning."""
    parts = urlsplit(url.reveal())
    pieces = [url.reveal(), parts.path, parts.query]
    pieces += [segment for segment in parts.path.split("/") if len(segment) >= 6]
    pieces += [value for _, value in parse_qsl(parts.query) if len(value) >= 6]
    return [Secret(url.name, piece) for piece in sorted(set(pieces) - {""}, key=len, reverse=True)]
