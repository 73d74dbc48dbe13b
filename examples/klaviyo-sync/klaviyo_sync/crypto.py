"""OAuth tokens encrypted at rest: AES-256-GCM under a keyring with rotation.

``KLAVIYO_TOKEN_KEYS`` (from the secret source, like every other credential) holds one or more
keys, ``<key id>:<base64 of 32 random bytes>``, comma-separated, the **first** being current:

    KLAVIYO_TOKEN_KEYS="k2:9q...=,k1:Xc...="

New ciphertexts use the current key; older ones stay readable as long as their key is listed.
A ciphertext is ``v1.<key id>.<base64url(nonce 12 bytes || ciphertext || tag 16 bytes)>``, and
its associated data binds it to one database cell (``installations/<account>/access_token``),
so a ciphertext copied to another row or column does not decrypt.

Make a key: ``python -c "import os,base64;print(base64.b64encode(os.urandom(32)).decode())"``.
"""
from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = "v1"
NONCE_BYTES = 12
KEY_BYTES = 32                         # AES-256
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class KeyringError(ValueError):
    """``KLAVIYO_TOKEN_KEYS`` is malformed; the message names the entry, never a key."""


class DecryptError(ValueError):
    """A stored ciphertext cannot be read: unknown key id, wrong cell, or tampered."""


@dataclass(frozen=True)
class Keyring:
    current: str                                   # key id that encrypts
    _keys: dict[str, bytes] = field(repr=False)    # key id -> 32 bytes

    @classmethod
    def parse(cls, text: str) -> "Keyring":
        keys: dict[str, bytes] = {}
        entries = [e.strip() for e in text.split(",") if e.strip()]
        if not entries:
            raise KeyringError("KLAVIYO_TOKEN_KEYS is empty: expected <key id>:<base64 of 32 bytes>[,...]")
        for n, entry in enumerate(entries, 1):
            key_id, sep, encoded = entry.partition(":")
            if not sep or not _KEY_ID.match(key_id):
                raise KeyringError(f"KLAVIYO_TOKEN_KEYS entry {n}: expected <key id>:<base64 key>, the id "
                                   "1-32 letters, digits, - or _")
            if key_id in keys:
                raise KeyringError(f"KLAVIYO_TOKEN_KEYS entry {n}: key id {key_id!r} appears twice")
            keys[key_id] = _decode_key(encoded, n)
        return cls(entries[0].partition(":")[0], keys)

    def ids(self) -> list[str]:
        return list(self._keys)

    def encrypt(self, plaintext: str, cell: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self._keys[self.current]).encrypt(nonce, plaintext.encode(), cell.encode())
        return f"{VERSION}.{self.current}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, ciphertext: str, cell: str) -> str:
        version, key_id, payload = _split(ciphertext)
        if version != VERSION:
            raise DecryptError(f"{cell}: unknown ciphertext version {version!r}")
        key = self._keys.get(key_id)
        if key is None:
            raise DecryptError(f"{cell}: encrypted under key {key_id!r}, which KLAVIYO_TOKEN_KEYS no longer lists")
        try:
            raw = base64.urlsafe_b64decode(payload.encode())
            return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], cell.encode()).decode()
        except (InvalidTag, binascii.Error, ValueError):
            raise DecryptError(f"{cell}: ciphertext does not authenticate (tampered, or not this cell's)") from None

    def key_id_of(self, ciphertext: str) -> str:
        return _split(ciphertext)[1]


def _decode_key(encoded: str, n: int) -> bytes:
    try:
        key = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        raise KeyringError(f"KLAVIYO_TOKEN_KEYS entry {n}: the key is not base64") from None
    if len(key) != KEY_BYTES:
        raise KeyringError(f"KLAVIYO_TOKEN_KEYS entry {n}: the key is {len(key)} bytes; AES-256 needs {KEY_BYTES}")
    return key


def _split(ciphertext: str) -> tuple[str, str, str]:
    parts = ciphertext.split(".", 2)
    if len(parts) != 3:
        raise DecryptError("stored value is not a v1.<key id>.<data> ciphertext")
    return parts[0], parts[1], parts[2]


def new_key() -> str:
    """A fresh base64 key for KLAVIYO_TOKEN_KEYS."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()
