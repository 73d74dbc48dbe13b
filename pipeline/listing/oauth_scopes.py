"""Row "OAuth and scopes": the app installs through OAuth with PKCE and requests only what it calls.

Static: the app's install page requests exactly the scopes its endpoint table needs (the same
reading as preflight's ``oauth`` check). Live, when ``oauth.public_url`` is set: the app's
``/install/start`` answers a redirect to Klaviyo's authorize URL with ``response_type=code``,
PKCE ``S256``, a ``state``, the redirect URI ``<public_url>/oauth/callback`` and that scope list.
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from pipeline.config import EnvConfig
from pipeline.listing.model import Row, failed, not_checked, passed
from pipeline.preflight.checks.oauth import AppDeclaration, DeclarationError, read_declaration

NAME = "oauth"
REQUIREMENT = "Use OAuth for installation and authorization; request only required scopes"
START = "/install/start"


def oauth_row(config: EnvConfig, app_source: Path, http: httpx.Client) -> Row:
    try:
        declared = read_declaration(app_source)
    except (DeclarationError, OSError) as exc:
        return not_checked(NAME, REQUIREMENT, str(exc))
    facts = (f"the app requests {' '.join(declared.requested)}; its {len(declared.endpoints)} endpoints need "
             f"{' '.join(sorted(declared.needed))} ({declared.file})")
    measured: dict[str, object] = {"requested": list(declared.requested), "needed": sorted(declared.needed)}
    if declared.extra or declared.missing:
        wrong = ", ".join([f"extra {s}" for s in declared.extra] + [f"missing {s}" for s in declared.missing])
        return failed(NAME, REQUIREMENT, f"scopes differ ({wrong}): {facts}", **measured)
    if not config.oauth.enabled:
        return failed(NAME, REQUIREMENT, f"env {config.name} runs the app with a private key (oauth.enabled = "
                                         f"false): merchants cannot install it through OAuth; {facts}", **measured)
    if not config.oauth.public_url:
        return not_checked(NAME, REQUIREMENT, f"the install redirect (oauth.public_url is not set); {facts}", **measured)
    problems, location = install_redirect(config.oauth.public_url, declared, http)
    measured["authorize"] = location.split("?", 1)[0]
    if problems:
        return failed(NAME, REQUIREMENT, f"{config.oauth.public_url}{START}: {'; '.join(problems)}; {facts}", **measured)
    return passed(NAME, REQUIREMENT, (f"{config.oauth.public_url}{START} redirects to {measured['authorize']} with "
                                      f"PKCE S256, state and exactly the requested scopes; {facts}"), **measured)


def install_redirect(public_url: str, declared: AppDeclaration, http: httpx.Client) -> tuple[list[str], str]:
    """(problems, Location) of the app's install start; an unreachable app is a problem too."""
    try:
        answer = http.get(public_url.rstrip("/") + START, follow_redirects=False)
    except httpx.HTTPError as exc:
        return [f"no answer ({type(exc).__name__})"], ""
    location = answer.headers.get("location", "")
    if answer.status_code not in (302, 303) or not location:
        return [f"answered HTTP {answer.status_code} without a redirect to Klaviyo"], location
    return judge_authorize(location, public_url, declared.requested), location


def judge_authorize(location: str, public_url: str, requested: tuple[str, ...]) -> list[str]:
    """Pure: what is wrong with an authorize URL the app redirects to."""
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    expected = {"response_type": "code", "code_challenge_method": "S256",
                "redirect_uri": public_url.rstrip("/") + "/oauth/callback"}
    problems = [f"{k} is {query.get(k)!r}, expected {v!r}" for k, v in expected.items() if query.get(k) != v]
    if len(query.get("code_challenge", "")) < 43:
        problems.append("no PKCE code_challenge")
    if not query.get("state"):
        problems.append("no state")
    if not query.get("client_id"):
        problems.append("no client_id")
    if query.get("scope", "").split() != list(requested):
        problems.append(f"scope is {query.get('scope')!r}, the app declares {' '.join(requested)!r}")
    if public_url.startswith("https://") and not location.startswith("https://"):
        problems.append("the authorize URL is not https")
    return problems
