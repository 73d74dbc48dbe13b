"""Check 6: the secrets the app needs are in the configured secret source and well formed.

Private key (``pk_`` + alphanumerics), webhook signing secret and, when configured, the
public key (6 alphanumerics). Values are never printed, logged or put in an exception: the
detail names settings (``KLAVIYO_PRIVATE_KEY``) and rules, never values.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.config import EnvConfig
from pipeline.preflight.check import Finding, Verdict, worst
from pipeline.preflight.context import PreflightContext, SecretBundle
from pipeline.secrets import Secret

PRIVATE_KEY = re.compile(r"pk_[A-Za-z0-9]+")
PRIVATE_KEY_BODY_LENGTH = 34          # pk_ + 34 as seen in real keys (trufflehog's detector)
PUBLIC_KEY = re.compile(r"[A-Za-z0-9]{6}")
WEBHOOK_SECRET_MIN = 16               # 3rd-party, UNCONFIRMED: warn only


@dataclass(frozen=True)
class SecretsCheck:
    timeout: float = 10.0
    name: str = "secrets"
    title: str = "Secrets present and well formed"

    async def run(self, ctx: PreflightContext) -> Finding:
        return evaluate_secrets(ctx.secrets, ctx.config)


def evaluate_secrets(bundle: SecretBundle, config: EnvConfig) -> Finding:
    names = config.secrets
    if bundle.error:
        return Finding(Verdict.ERROR, f"could not read {bundle.source}: {bundle.error}",
                       {"source": bundle.source})
    parts = [_private_key(bundle.private_key, names.private_key),
             _webhook_secret(bundle.webhook_secret, names.webhook_secret)]
    if names.public_key:
        parts.append(_public_key(bundle.public_key, names.public_key))
    if config.name == "prod" and names.source != "kubernetes":
        parts.append((Verdict.WARN, f"production secrets come from {bundle.source}, not a secret "
                                    "manager (secrets.source = 'kubernetes')"))
    verdict = worst([v for v, _ in parts])
    shown = [t for v, t in parts if v == verdict] if verdict != Verdict.PASS else [t for _, t in parts]
    measured = {"source": bundle.source,
                "present": {names.private_key: bundle.private_key is not None,
                            names.webhook_secret: bundle.webhook_secret is not None,
                            **({names.public_key: bundle.public_key is not None} if names.public_key else {})}}
    return Finding(verdict, f"{'; '.join(shown)} (in {bundle.source})", measured)


def _private_key(secret: Secret | None, name: str) -> tuple[Verdict, str]:
    if secret is None:
        return Verdict.FAIL, f"{name} is missing"
    value = secret.reveal()
    if not PRIVATE_KEY.fullmatch(value):
        return Verdict.FAIL, f"{name} is not a private key (expected pk_ followed by letters and digits)"
    body = len(value) - 3
    if body != PRIVATE_KEY_BODY_LENGTH:
        return Verdict.WARN, (f"{name} has pk_ + {body} characters (Klaviyo private keys are pk_ + "
                              f"{PRIVATE_KEY_BODY_LENGTH})")
    return Verdict.PASS, f"{name} present, pk_ + {PRIVATE_KEY_BODY_LENGTH} alphanumerics"


def _webhook_secret(secret: Secret | None, name: str) -> tuple[Verdict, str]:
    if secret is None:
        return Verdict.FAIL, f"{name} is missing (webhook signatures cannot be verified)"
    value = secret.reveal()
    if value != value.strip() or any(c.isspace() for c in value):
        return Verdict.FAIL, f"{name} contains whitespace (a copy-paste error?)"
    if len(value) < WEBHOOK_SECRET_MIN:
        return Verdict.WARN, f"{name} is shorter than {WEBHOOK_SECRET_MIN} characters"
    return Verdict.PASS, f"{name} present"


def _public_key(secret: Secret | None, name: str) -> tuple[Verdict, str]:
    if secret is None:
        return Verdict.FAIL, f"{name} is missing (secrets.public_key is configured)"
    value = secret.reveal()
    if value.startswith("pk_"):
        return Verdict.FAIL, f"{name} holds a private key: the public key is the 6-character site ID"
    if not PUBLIC_KEY.fullmatch(value):
        return Verdict.FAIL, f"{name} is not 6 letters/digits (the public key is the site ID)"
    return Verdict.PASS, f"{name} present, 6 alphanumerics"
