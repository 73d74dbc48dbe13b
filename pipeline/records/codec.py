"""A record's payload as Helm stores a release: canonical JSON, gzip-compressed, base64.

In a Secret the API server base64-encodes ``data`` values once more (as Helm's Secrets
driver does). ``gzip`` with a fixed mtime makes the bytes a function of the document.
"""
from __future__ import annotations

import base64
import binascii
import gzip
import json
import zlib
from typing import Any

from pipeline.audit.log import canonical


class CodecError(ValueError):
    """The payload is not base64 of gzip of a JSON object."""


def encode(document: dict[str, Any]) -> str:
    return base64.b64encode(gzip.compress(canonical(document), mtime=0)).decode("ascii")


def decode(payload: str) -> dict[str, Any]:
    try:
        document = json.loads(gzip.decompress(base64.b64decode(payload, validate=True)))
    except (binascii.Error, OSError, EOFError, zlib.error, ValueError) as exc:
        raise CodecError(f"payload is not base64(gzip(JSON)): {exc}") from None
    if not isinstance(document, dict):
        raise CodecError("payload is not a JSON object")
    return document
