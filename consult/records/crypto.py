"""AES-256-GCM encryption of PHI with key ids, and a keyed blind index.

Stored form: ``v1:<key id>:<base64(nonce || ciphertext || tag)>``. The associated
data binds a ciphertext to its table, column and row, so it cannot be moved to
another row or field. Keys come from settings (``PHI_KEYS``): the first encrypts,
all decrypt, which is what lets ``rotate_phi_key`` re-encrypt gradually.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

VERSION = "v1"
_NONCE_BYTES = 12


class DecryptionError(Exception):
    """A ciphertext is malformed, tampered with, moved, or under an unknown key."""


@dataclass(frozen=True)
class KeyRing:
    """The PHI keys: ``primary`` encrypts; every key in ``keys`` decrypts."""

    primary: str
    keys: dict[str, bytes]

    @classmethod
    def parse(cls, spec: str) -> KeyRing:
        """Parse ``"kid:base64key,kid:base64key"``; each key must be 32 bytes."""
        keys: dict[str, bytes] = {}
        for item in filter(None, (part.strip() for part in spec.split(","))):
            kid, sep, encoded = item.partition(":")
            if not sep or not kid.isalnum():
                raise ImproperlyConfigured("PHI_KEYS items are 'kid:base64key'.")
            try:
                key = base64.b64decode(encoded, validate=True)
            except binascii.Error as exc:
                raise ImproperlyConfigured(f"PHI key {kid!r} is not base64.") from exc
            if len(key) != 32:
                raise ImproperlyConfigured(f"PHI key {kid!r} must be 32 bytes.")
            if kid in keys:
                raise ImproperlyConfigured(f"PHI key id {kid!r} appears twice.")
            keys[kid] = key
        if not keys:
            raise ImproperlyConfigured("PHI_KEYS is empty.")
        return cls(primary=next(iter(keys)), keys=keys)


@lru_cache(maxsize=4)
def _keyring(spec: str) -> KeyRing:
    return KeyRing.parse(spec)


def keyring() -> KeyRing:
    """The key ring configured in settings (parsed once per distinct value)."""
    return _keyring(settings.PHI_KEYS)


def encrypt(plaintext: str, *, aad: str, ring: KeyRing | None = None) -> str:
    """Encrypt ``plaintext`` under the primary key, bound to ``aad``."""
    ring = ring or keyring()
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(ring.keys[ring.primary]).encrypt(
        nonce, plaintext.encode("utf-8"), aad.encode("utf-8")
    )
    return f"{VERSION}:{ring.primary}:{base64.b64encode(nonce + sealed).decode()}"


def decrypt(token: str, *, aad: str, ring: KeyRing | None = None) -> str:
    """Decrypt a stored token; raise ``DecryptionError`` if it does not verify."""
    ring = ring or keyring()
    version, _, rest = token.partition(":")
    kid, _, payload = rest.partition(":")
    if version != VERSION or not payload:
        raise DecryptionError("Unrecognised ciphertext format.")
    key = ring.keys.get(kid)
    if key is None:
        raise DecryptionError(f"Unknown key id {kid!r}.")
    try:
        raw = base64.b64decode(payload, validate=True)
        clear = AESGCM(key).decrypt(
            raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], aad.encode("utf-8")
        )
    except (binascii.Error, InvalidTag, ValueError) as exc:
        raise DecryptionError("Ciphertext failed authentication.") from exc
    return clear.decode("utf-8")


def key_id_of(token: str) -> str:
    """The key id a stored token was encrypted under."""
    return token.split(":", 2)[1]


def blind_index(value: str, *, purpose: str) -> str:
    """A keyed HMAC-SHA256 of a normalised value, for exact look-ups.

    ``purpose`` separates indexes (an MRN's index never equals a name's).
    """
    key = base64.b64decode(settings.PHI_BLIND_INDEX_KEY)
    if len(key) < 32:
        raise ImproperlyConfigured("PHI_BLIND_INDEX_KEY must be at least 32 bytes.")
    normalised = unicodedata.normalize("NFKC", value).strip().upper()
    message = f"{purpose}\x00{normalised}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()
