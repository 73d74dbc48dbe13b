"""The merchant's pages in OAuth mode: install, OAuth callback, settings, uninstall.

    GET  /install          what the app does and the scopes it asks for; a "Connect Klaviyo" link
    GET  /install/start    302 to Klaviyo's authorize URL (state + PKCE S256)
    GET  /oauth/callback   exchanges the code, stores the installation, starts a session -> /settings
    GET  /settings         the installation: account, scopes, sync on/off, uninstall
    POST /settings         sync=on|off (form, with the session's CSRF token)
    POST /uninstall        revoke at Klaviyo, erase the tokens, end the session

The settings session is a random cookie (``HttpOnly``, ``SameSite=Lax``, ``Secure`` on https)
whose hash is stored with an expiry; an expired or unknown session is refused (401). Forms
carry a CSRF token derived from the session, compared in constant time.
"""
from __future__ import annotations

import hashlib
import hmac
import html
from dataclasses import dataclass

from klaviyo_sync.endpoints import KLAVIYO_ENDPOINTS, OAUTH_SCOPES
from klaviyo_sync.installs import InstallError, Installs
from klaviyo_sync.server import Request, Response

SESSION_COOKIE = "ks_session"
HTML = "text/html; charset=utf-8"
# (method, path) -> the InstallPages method answering it; docs/api-endpoints.md lists the same.
ROUTES = {("GET", "/install"): "install", ("GET", "/install/start"): "start",
          ("GET", "/oauth/callback"): "callback", ("GET", "/settings"): "settings",
          ("POST", "/settings"): "change", ("POST", "/uninstall"): "uninstall"}


def _page(status: int, title: str, body: str, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    text = (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title></head>"
            f"<body><h1>{html.escape(title)}</h1>{body}</body></html>\n")
    return Response(status, text.encode(), HTML, (("Cache-Control", "no-store"), *headers))


def _redirect(location: str, *headers: tuple[str, str]) -> Response:
    return Response(303 if not location.startswith("http") else 302, b"", HTML,
                    (("Location", location), ("Cache-Control", "no-store"), *headers))


def csrf_token(session: str) -> str:
    return hashlib.sha256(("csrf:" + session).encode()).hexdigest()


@dataclass
class InstallPages:
    installs: Installs
    secure_cookies: bool                  # the public URL is https
    session_seconds: float

    def handle(self, request: Request) -> Response | None:
        name = ROUTES.get((request.method, request.path))
        return getattr(self, name)(request) if name else None

    def install(self, request: Request) -> Response:
        rows = "".join(f"<li><code>{html.escape(scope)}</code>: {html.escape(why)}</li>"
                       for _, _, scope, why in KLAVIYO_ENDPOINTS)
        return _page(200, "Install klaviyo-sync", (
            "<p>klaviyo-sync upserts a profile and sends a heartbeat event to your Klaviyo account on a "
            "schedule. It asks Klaviyo for these permissions and no others:</p>"
            f"<ul>{rows}</ul><p>Requested scopes: <code>{html.escape(' '.join(OAUTH_SCOPES))}</code></p>"
            "<p><a id=\"connect\" href=\"/install/start\">Connect Klaviyo</a></p>"))

    def start(self, request: Request) -> Response:
        return _redirect(self.installs.begin())

    def callback(self, request: Request) -> Response:
        if "error" in request.query:
            reason = request.query.get("error_description") or request.query["error"]
            return _page(400, "Not installed", f"<p>Klaviyo answered: {html.escape(reason)}</p>"
                         "<p><a href=\"/install\">Try again</a></p>")
        try:
            installed = self.installs.complete(request.query.get("code", ""), request.query.get("state", ""))
        except InstallError as error:
            return _page(400, "Not installed", f"<p>{html.escape(str(error))}</p><p><a href=\"/install\">Try again</a></p>")
        session = self.installs.store.new_session(installed.account_id, self.session_seconds)
        return _redirect("/settings", ("Set-Cookie", self._cookie(session, int(self.session_seconds))))

    def settings(self, request: Request) -> Response:
        session, account = self._session(request)
        if account is None:
            return self._refused()
        found = self.installs.store.get(account)
        if found is None:
            return self._refused()
        token = csrf_token(session)
        sync = "on" if found.sync_enabled else "off"
        flip = "off" if found.sync_enabled else "on"
        problem = f"<p id=\"problem\">{html.escape(found.problem)}</p>" if found.problem else ""
        return _page(200, "klaviyo-sync settings", (
            f"<p>Klaviyo account <code id=\"account\">{html.escape(account)}</code>: "
            f"<span id=\"status\">{html.escape(found.status)}</span>, sync <span id=\"sync\">{sync}</span></p>"
            f"<p>Granted scopes: <code>{html.escape(' '.join(found.scopes))}</code></p>{problem}"
            f"<form method=\"post\" action=\"/settings\"><input type=\"hidden\" name=\"csrf\" value=\"{token}\">"
            f"<input type=\"hidden\" name=\"sync\" value=\"{flip}\"><button>Turn sync {flip}</button></form>"
            f"<form method=\"post\" action=\"/uninstall\"><input type=\"hidden\" name=\"csrf\" value=\"{token}\">"
            "<button>Uninstall</button></form>"))

    def change(self, request: Request) -> Response:
        account = self._posted(request)
        if account is None:
            return self._refused()
        wanted = request.form.get("sync")
        if wanted not in ("on", "off"):
            return _page(400, "Not changed", "<p>sync must be on or off</p>")
        self.installs.store.set_sync(account, wanted == "on")
        return _redirect("/settings")

    def uninstall(self, request: Request) -> Response:
        account = self._posted(request)
        if account is None:
            return self._refused()
        self.installs.uninstall(account)
        return _page(200, "Uninstalled", f"<p>klaviyo-sync no longer has access to account "
                     f"{html.escape(account)}; its tokens were revoked at Klaviyo and erased here.</p>",
                     (("Set-Cookie", self._cookie("", 0)),))

    def _session(self, request: Request) -> tuple[str, str | None]:
        session = request.cookies.get(SESSION_COOKIE, "")
        return session, (self.installs.store.session_account(session) if session else None)

    def _posted(self, request: Request) -> str | None:
        session, account = self._session(request)
        if account is None or not hmac.compare_digest(request.form.get("csrf", ""), csrf_token(session)):
            return None
        return account

    def _refused(self) -> Response:
        return _page(401, "Session expired", "<p>Your session is unknown or has expired. Open klaviyo-sync "
                     "from Klaviyo again (<a href=\"/install\">install page</a>).</p>")

    def _cookie(self, value: str, max_age: int) -> str:
        secure = "; Secure" if self.secure_cookies else ""
        return f"{SESSION_COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
