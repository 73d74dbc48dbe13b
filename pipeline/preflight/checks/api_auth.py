"""Check 2: the private key authenticates: ``GET /api/accounts/`` at the configured revision.

200 passes. 401 (``not_authenticated``, ``authentication_failed``) fails "key invalid or
revoked"; 403 ``permission_denied`` fails "key lacks a scope". A non-JSON body (Cloudflare's
HTML) is described, never parsed blindly. The response is shared with the rate-limit check.
"""
from __future__ import annotations

from dataclasses import dataclass

from pipeline.klaviyo.client import ApiResponse
from pipeline.preflight.check import Finding, Verdict
from pipeline.preflight.context import AccountsProbe, PreflightContext

REQUEST = "GET /api/accounts/"


@dataclass(frozen=True)
class ApiAuthCheck:
    timeout: float = 10.0
    name: str = "api-auth"
    title: str = "API key authenticates"

    async def run(self, ctx: PreflightContext) -> Finding:
        return evaluate_auth(await ctx.accounts(), ctx.config.klaviyo.revision)


def describe_body(response: ApiResponse) -> str:
    """A short, safe description of a response body for a detail sentence."""
    if response.is_json:
        codes = ", ".join(response.error_codes)
        return f"{codes}: {response.error_detail}" if codes else "JSON body"
    snippet = " ".join(response.raw_text.split())[:80]
    kind = response.content_type or "no content type"
    cf = response.header("cf-mitigated")
    extra = f", cf-mitigated: {cf}" if cf else ""
    return f"non-JSON {kind} body{extra}: {snippet!r}" if snippet else f"empty {kind} body{extra}"


def evaluate_auth(probe: AccountsProbe, revision: str) -> Finding:
    """Pure verdict over the accounts response."""
    r = probe.final
    measured = {"status": r.status, "revision": revision, "error_codes": r.error_codes,
                "json": r.is_json, "requests": probe.requests}
    head = f"{REQUEST} at revision {revision} answered {r.status}"
    if r.status == 200 and r.is_json:
        data = r.body.get("data") if isinstance(r.body, dict) else None
        account = data[0].get("id") if isinstance(data, list) and data and isinstance(data[0], dict) else None
        measured["account_id"] = account
        return Finding(Verdict.PASS, f"{head} (expected 200): key accepted, account {account}", measured)
    body = describe_body(r)
    if r.status == 200:
        return Finding(Verdict.ERROR, f"{head} with a {body}: cannot confirm the key", measured)
    if r.status == 401:
        return Finding(Verdict.FAIL, f"key invalid or revoked: {head} (expected 200), {body}", measured)
    if r.status == 403 and "permission_denied" in r.error_codes:
        return Finding(Verdict.FAIL, f"key lacks a scope (accounts:read): {head} (expected 200), {body}",
                       measured)
    if r.status == 403 and not r.is_json:
        return Finding(Verdict.ERROR, f"{head} with a {body}: the CDN refused the request before "
                                      "Klaviyo saw the key", measured)
    if r.status == 429:
        retry_after = r.header("retry-after")
        measured["retry_after"] = retry_after
        return Finding(Verdict.ERROR, f"{head} (throttled, Retry-After {retry_after} s): the key "
                                      "could not be verified; see rate-limit", measured)
    if r.status >= 500:
        return Finding(Verdict.FAIL, f"Klaviyo API is failing: {head} (expected 200), {body}", measured)
    hint = {400: " (malformed revision or Authorization header?)",
            404: f" (revision {revision} refused: in the future, or the endpoint does not exist at it)",
            410: f" (revision {revision} retired?)"}.get(r.status, "")
    return Finding(Verdict.FAIL, f"{head} (expected 200){hint}, {body}", measured)
