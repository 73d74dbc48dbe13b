"""Where records live: object names and labels for one app and environment (pure).

Records: ``pipeline.record.v1.<app>.<env>.<seq, 10 digits>`` (sorted by name = by sequence
in ``kubectl get``); the chain head: ``pipeline.record.v1.<app>.<env>.head``. Labels make every
query a label selector (as Helm's ``owner=helm,name=...``):

* ``pipeline.deploy/records``: ``record`` or ``head``
* ``pipeline.deploy/app``, ``pipeline.deploy/environment``
* records also ``pipeline.deploy/sequence``, ``pipeline.deploy/kind``, ``pipeline.deploy/outcome``

Prefixed keys, so a ``kubectl delete configmap -l app=klaviyo-sync`` aimed at the app's own
objects never selects them. No ownerReferences: nothing garbage-collects them.
"""
from __future__ import annotations

import re

PREFIX = "pipeline.deploy"
ROLE = f"{PREFIX}/records"
APP = f"{PREFIX}/app"
ENV = f"{PREFIX}/environment"
SEQUENCE = f"{PREFIX}/sequence"
KIND = f"{PREFIX}/kind"
OUTCOME = f"{PREFIX}/outcome"


def name_part(text: str) -> str:
    """``text`` as a DNS-subdomain segment: lowercase, [a-z0-9-], no leading/trailing '-'."""
    part = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return part or "x"


def label_value(text: str) -> str:
    """``text`` as a label value: at most 63 of [A-Za-z0-9-_.], alphanumeric at both ends."""
    value = re.sub(r"[^A-Za-z0-9_.-]+", "-", text)[:63]
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", value)


def record_name(app: str, env: str, seq: int) -> str:
    return f"pipeline.record.v1.{name_part(app)}.{name_part(env)}.{seq:010d}"


def head_name(app: str, env: str) -> str:
    return f"pipeline.record.v1.{name_part(app)}.{name_part(env)}.head"


def selector(app: str, env: str, role: str = "record") -> dict[str, str]:
    return {ROLE: role, APP: label_value(app), ENV: label_value(env)}


def record_labels(app: str, env: str, seq: int, kind: str, outcome: str) -> dict[str, str]:
    return {**selector(app, env), SEQUENCE: str(seq), KIND: label_value(kind), OUTCOME: label_value(outcome)}
