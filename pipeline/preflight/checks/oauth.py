"""Check 8: the app's Klaviyo OAuth is ready: client credentials, and scopes equal to what it calls.

Runs when ``oauth.enabled`` (the app installs through OAuth); otherwise SKIPPED, saying the
app uses a private key. Three things, each a sentence of the detail:

* the OAuth client id and secret (``secrets.oauth_client_id`` / ``oauth_client_secret``) are in
  the secret source and well formed (no whitespace, a secret of at least 16 characters that is
  neither the id nor a private key). Values are never printed.
* the scopes the app's install page requests (``OAUTH_SCOPES``) equal the scopes its endpoint
  table needs (``KLAVIYO_ENDPOINTS``), read from the app's source with ``ast.literal_eval``
  (the app is never imported). More is "request only required scopes" broken; fewer makes the
  calls 403.
"""
from __future__ import annotations

import ast
import asyncio
import os
import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import SecretSettings
from pipeline.preflight.check import Finding, Verdict, worst
from pipeline.preflight.context import PreflightContext
from pipeline.secrets import Secret

ENDPOINTS_VAR, SCOPES_VAR = "KLAVIYO_ENDPOINTS", "OAUTH_SCOPES"
PRUNED_DIRS = {".git", "node_modules", ".venv", "venv", "__pycache__", "site-packages", ".tox"}
CLIENT_ID = re.compile(r"[A-Za-z0-9._~-]{8,128}")
SECRET_MIN = 16


class DeclarationError(ValueError):
    """The app's source has no readable endpoint table / scope list; the message names the file."""


@dataclass(frozen=True)
class AppDeclaration:
    """What the app says it calls and what it asks merchants to grant."""
    file: str                                          # relative to the app source
    endpoints: tuple[tuple[str, str, str, str], ...]   # (method, path, scope, why)
    requested: tuple[str, ...]

    @property
    def needed(self) -> frozenset[str]:
        return frozenset(scope for _, _, scope, _ in self.endpoints)

    @property
    def extra(self) -> list[str]:
        return sorted(set(self.requested) - self.needed)

    @property
    def missing(self) -> list[str]:
        return sorted(self.needed - set(self.requested))


def read_declaration(app_source: Path) -> AppDeclaration:
    """The first ``*.py`` under ``app_source`` that assigns both tables, as literals."""
    for path in _python_files(app_source):
        text = path.read_text(errors="replace")
        if ENDPOINTS_VAR not in text or SCOPES_VAR not in text:
            continue
        values = _literals(text, path)
        if ENDPOINTS_VAR in values and SCOPES_VAR in values:
            return _declaration(str(path.relative_to(app_source)), values)
    raise DeclarationError(f"no file under {app_source} assigns both {ENDPOINTS_VAR} and {SCOPES_VAR} "
                           "(the app's endpoint table and the scopes its install page requests)")


def _python_files(root: Path) -> list[Path]:
    found = []
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in PRUNED_DIRS)
        found += [Path(directory) / f for f in sorted(files) if f.endswith(".py")]
    return found


def _literals(text: str, path: Path) -> dict[str, object]:
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise DeclarationError(f"{path}: not valid Python ({exc.msg}, line {exc.lineno})") from None
    values: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in (ENDPOINTS_VAR, SCOPES_VAR):
                try:
                    values[name] = ast.literal_eval(node.value)
                except ValueError:
                    raise DeclarationError(f"{path}: {name} must be a plain literal") from None
    return values


def _declaration(file: str, values: dict[str, object]) -> AppDeclaration:
    endpoints, scopes = values[ENDPOINTS_VAR], values[SCOPES_VAR]
    if not (isinstance(endpoints, (tuple, list)) and all(
            isinstance(e, (tuple, list)) and len(e) == 4 and all(isinstance(x, str) for x in e) for e in endpoints)):
        raise DeclarationError(f"{file}: {ENDPOINTS_VAR} must be (method, path, scope, why) string tuples")
    if not (isinstance(scopes, (tuple, list)) and all(isinstance(s, str) for s in scopes)):
        raise DeclarationError(f"{file}: {SCOPES_VAR} must be a tuple of scope strings")
    return AppDeclaration(file, tuple(tuple(e) for e in endpoints), tuple(scopes))  # type: ignore[misc]


@dataclass(frozen=True)
class OAuthCheck:
    timeout: float = 10.0
    name: str = "oauth"
    title: str = "OAuth client and scopes"

    async def run(self, ctx: PreflightContext) -> Finding:
        if not ctx.config.oauth.enabled:
            return Finding(Verdict.SKIPPED, f"env.{ctx.config.name}.oauth.enabled = false: the app runs with a "
                                            "private key (single account); no OAuth client to check")
        names = ctx.config.secrets
        if ctx.secrets.error:
            return Finding(Verdict.ERROR, f"could not read {ctx.secrets.source}: {ctx.secrets.error}")
        client_id, client_secret = ctx.secrets.get(names.oauth_client_id), ctx.secrets.get(names.oauth_client_secret)
        try:
            declared: AppDeclaration | str = await asyncio.to_thread(read_declaration, ctx.app_source)
        except (DeclarationError, OSError) as exc:
            declared = str(exc)
        return evaluate_oauth(client_id, client_secret, names, declared, ctx.secrets.source)


def evaluate_oauth(client_id: Secret | None, client_secret: Secret | None, names: SecretSettings,
                   declared: AppDeclaration | str, source: str) -> Finding:
    """Pure verdict: credentials (by name, never value) and requested vs needed scopes."""
    parts = [_credentials(client_id, client_secret, names, source), _scopes(declared)]
    verdict = worst([v for v, _ in parts])
    measured: dict[str, object] = {"present": {names.oauth_client_id: client_id is not None,
                                               names.oauth_client_secret: client_secret is not None}}
    if isinstance(declared, AppDeclaration):
        measured.update(file=declared.file, requested=list(declared.requested), needed=sorted(declared.needed),
                        endpoints=len(declared.endpoints))
    return Finding(verdict, "; ".join(t for _, t in parts), measured)


def _credentials(client_id: Secret | None, client_secret: Secret | None, names: SecretSettings,
                 source: str) -> tuple[Verdict, str]:
    missing = [n for n, s in ((names.oauth_client_id, client_id), (names.oauth_client_secret, client_secret))
               if s is None]
    if missing:
        return Verdict.FAIL, f"{' and '.join(missing)} missing in {source}"
    assert client_id is not None and client_secret is not None
    cid, secret = client_id.reveal(), client_secret.reveal()
    if not CLIENT_ID.fullmatch(cid):
        return Verdict.FAIL, (f"{names.oauth_client_id} is not a client id (expected 8-128 letters, digits or "
                              "._~- , no whitespace)")
    if any(c.isspace() for c in secret) or len(secret) < SECRET_MIN:
        return Verdict.FAIL, (f"{names.oauth_client_secret} must be at least {SECRET_MIN} characters without "
                              "whitespace (a copy-paste error?)")
    if secret == cid or secret.startswith("pk_"):
        return Verdict.FAIL, (f"{names.oauth_client_secret} holds the client id or a private key, not the "
                              "client secret")
    return Verdict.PASS, f"{names.oauth_client_id} and {names.oauth_client_secret} present and well formed (in {source})"


def _scopes(declared: AppDeclaration | str) -> tuple[Verdict, str]:
    if isinstance(declared, str):
        return Verdict.ERROR, f"scopes not compared: {declared}"
    needed = " ".join(sorted(declared.needed))
    if declared.extra:
        return Verdict.FAIL, (f"the app requests scope(s) no endpoint needs: {', '.join(declared.extra)} "
                              f"(requested {' '.join(declared.requested)}; its {len(declared.endpoints)} endpoints "
                              f"need {needed}; {declared.file})")
    if declared.missing:
        return Verdict.FAIL, (f"the app's endpoints need scope(s) it does not request: {', '.join(declared.missing)} "
                              f"(requested {' '.join(declared.requested)}; {declared.file}): those calls would be 403")
    return Verdict.PASS, (f"scopes requested = scopes its {len(declared.endpoints)} endpoints need: {needed} "
                          f"({declared.file})")
