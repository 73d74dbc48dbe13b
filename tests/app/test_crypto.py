"""AES-256-GCM token encryption with a rotating keyring (klaviyo_sync.crypto)."""
from __future__ import annotations

import base64

import pytest

from app.support import APP_SOURCE  # noqa: F401  (puts the app on sys.path)
from klaviyo_sync.crypto import DecryptError, Keyring, KeyringError, new_key

K1, K2 = new_key(), new_key()
CELL = "installations/Acct01/access_token"


def test_round_trip_is_aes_256_gcm_with_a_fresh_nonce():
    ring = Keyring.parse(f"k1:{K1}")
    one, two = ring.encrypt("sbx_at_secret", CELL), ring.encrypt("sbx_at_secret", CELL)
    assert one != two and one.startswith("v1.k1.") and "sbx_at_secret" not in one
    raw = base64.urlsafe_b64decode(one.split(".", 2)[2])
    assert len(raw) == 12 + len("sbx_at_secret") + 16          # nonce, ciphertext, GCM tag
    assert ring.decrypt(one, CELL) == "sbx_at_secret"


def test_rotation_reads_old_ciphertexts_and_writes_with_the_new_key():
    old = Keyring.parse(f"k1:{K1}").encrypt("refresh-me", CELL)
    rotated = Keyring.parse(f"k2:{K2},k1:{K1}")
    assert rotated.decrypt(old, CELL) == "refresh-me"
    assert rotated.key_id_of(rotated.encrypt("refresh-me", CELL)) == "k2"
    with pytest.raises(DecryptError, match="no longer lists"):
        Keyring.parse(f"k2:{K2}").decrypt(old, CELL)


def test_a_ciphertext_is_bound_to_its_cell_and_to_its_bytes():
    ring = Keyring.parse(f"k1:{K1}")
    sealed = ring.encrypt("token", CELL)
    with pytest.raises(DecryptError, match="does not authenticate"):
        ring.decrypt(sealed, "installations/Other/access_token")
    body = bytearray(base64.urlsafe_b64decode(sealed.split(".", 2)[2]))
    body[-1] ^= 1
    tampered = "v1.k1." + base64.urlsafe_b64encode(bytes(body)).decode()
    with pytest.raises(DecryptError):
        ring.decrypt(tampered, CELL)


@pytest.mark.parametrize("text, message", [
    ("", "is empty"),
    (K1, "entry 1: expected <key id>:<base64 key>"),
    ("k1:not base64!", "entry 1: the key is not base64"),
    (f"k1:{base64.b64encode(b'x' * 16).decode()}", "entry 1: the key is 16 bytes; AES-256 needs 32"),
    (f"k1:{K1},k1:{K2}", "entry 2: key id 'k1' appears twice"),
])
def test_bad_keyrings_are_named_without_showing_a_key(text, message):
    with pytest.raises(KeyringError) as error:
        Keyring.parse(text)
    assert message in str(error.value)
    assert K1 not in str(error.value) and K2 not in str(error.value)
