"""JSON:API error envelopes and CDN-style HTML pages, as a.klaviyo.com sends them."""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

from aiohttp import web

JSONAPI = "application/vnd.api+json"


@dataclass(frozen=True)
class ApiError(Exception):
    """One JSON:API error; raised by decisions, rendered by the app."""
    status: int
    code: str
    title: str
    detail: str
    pointer: str | None = "/data/"
    parameter: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict:
        source = {"parameter": self.parameter} if self.parameter else {"pointer": self.pointer or "/data/"}
        return {"errors": [{
            "id": str(uuid.uuid4()), "status": self.status, "code": self.code,
            "title": self.title, "detail": self.detail, "source": source, "links": {}, "meta": {},
        }]}


def jsonapi(data: object, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=json.dumps(data), content_type=JSONAPI, headers=headers)


def error_response(error: ApiError, headers: dict[str, str] | None = None) -> web.Response:
    return jsonapi(error.body(), error.status, {**error.headers, **(headers or {})})


def invalid(detail: str, pointer: str = "/data/", parameter: str | None = None) -> ApiError:
    return ApiError(400, "invalid", "Invalid input.", detail, pointer, parameter)


def not_found(detail: str = "Not found.") -> ApiError:
    return ApiError(404, "not_found", "Not found.", detail)


_HTML = {
    400: ("400 Bad Request", "The request could not be satisfied by the edge."),
    403: ("Attention Required! | Cloudflare", "Sorry, you have been blocked. Please enable cookies."),
    502: ("502 Bad Gateway", "The origin returned an invalid response."),
    503: ("503 Service Temporarily Unavailable", "The server is temporarily unable to service your request."),
}


def html_error(status: int) -> web.Response:
    """What the CDN in front of Klaviyo answers with: HTML, never JSON."""
    title, text = _HTML.get(status, (f"{status} Error", "The edge could not serve this request."))
    body = (f"<!DOCTYPE html>\n<html><head><title>{title}</title></head>\n"
            f"<body><center><h1>{title}</h1></center><p>{text}</p>\n"
            f"<hr><center>cloudflare</center></body></html>\n")
    headers = {"Server": "cloudflare", "CF-RAY": uuid.uuid4().hex[:16] + "-SBX"}
    if status == 403:
        headers["cf-mitigated"] = "challenge"
    return web.Response(status=status, text=body, content_type="text/html", headers=headers)
