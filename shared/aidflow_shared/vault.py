"""Sealing personal fields at rest, and finding them again by equality without opening them.

A :class:`Vault` is built from one master key (32 random bytes) that the *caller* reads from its
own environment variable, so each service keeps its own key and its own blast radius. From the
master key, HKDF derives independent subkeys per purpose:

- a sealing key: AES-256-GCM with a fresh 96-bit nonce per value; the field name is bound in as
  associated data, so a sealed value copied into another column does not open;
- a blind-index key: HMAC-SHA256 of a field's normalised value, for equality lookups ("has this
  account number been used before?") that ciphertext cannot give. The index reveals equality
  and nothing else, and only to someone who already holds the key;
- a key id: a short fingerprint written into every sealed value, so a wrong key fails with a
  clear message instead of an authentication error on every row.

Sealed values are text: ``v1.<key id>.<base64url(nonce + ciphertext + tag)>``.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
from typing import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

FORMAT = "v1"
KEY_BYTES = 32
NONCE_BYTES = 12


class VaultError(RuntimeError):
    """A key that is missing or malformed, or a sealed value that does not open under it."""


class Vault:
    """Seals, opens and blind-indexes the personal fields of one service.

    ``purpose`` separates the subkeys of services that might (wrongly) share a master key.
    """

    def __init__(self, master_key: bytes, *, purpose: str):
        if len(master_key) != KEY_BYTES:
            raise VaultError(f"a vault key is {KEY_BYTES} bytes")
        self.purpose = purpose
        self._aead = AESGCM(_derive(master_key, f"aidflow {purpose} seal v1"))
        self._index_key = _derive(master_key, f"aidflow {purpose} blind index v1")
        self.key_id = hashlib.sha256(_derive(master_key, f"aidflow {purpose} key id v1")).hexdigest()[:8]

    @classmethod
    def from_environment(cls, variable: str, *, purpose: str, environ: Mapping[str, str] | None = None) -> "Vault":
        """The vault whose key is in ``variable`` (base64, 32 bytes); :class:`VaultError` if unset."""
        raw = (os.environ if environ is None else environ).get(variable, "").strip()
        if not raw:
            raise VaultError(f"set {variable}: personal data is stored only encrypted")
        try:
            return cls(decode_key(raw), purpose=purpose)
        except VaultError as exc:
            raise VaultError(f"{variable}: {exc}") from None

    def seal(self, value: str | None, *, field: str) -> str | None:
        if value is None:
            return None
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, value.encode("utf-8"), field.encode("utf-8"))
        return f"{FORMAT}.{self.key_id}.{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"

    def open(self, token: str | None, *, field: str) -> str | None:
        if token is None:
            return None
        try:
            version, key_id, payload = token.split(".", 2)
        except ValueError:
            raise VaultError(f"a sealed {field} is not in the vault's format") from None
        if version != FORMAT:
            raise VaultError(f"sealed value of unknown format {version!r}")
        if key_id != self.key_id:
            raise VaultError(f"a sealed {field} was sealed under another key ({key_id}, this is {self.key_id})")
        raw = base64.urlsafe_b64decode(payload.encode("ascii"))
        try:
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], field.encode("utf-8")).decode("utf-8")
        except InvalidTag:
            raise VaultError(f"a sealed {field} does not open: tampered with, or moved from another field") from None

    def index(self, value: str, *, field: str) -> str:
        """The blind index of ``value`` (already normalised by the caller) in ``field``."""
        message = f"{field}\x00{value}".encode("utf-8")
        return hmac.new(self._index_key, message, hashlib.sha256).hexdigest()


def _derive(master_key: bytes, info: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info.encode("utf-8")).derive(master_key)


def new_key() -> str:
    """A fresh master key, encoded for an environment variable."""
    return encode_key(os.urandom(KEY_BYTES))


def encode_key(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode("ascii")


def decode_key(text: str) -> bytes:
    """32 bytes from base64 text, URL-safe or standard, padding optional."""
    padded = text.strip() + "=" * (-len(text.strip()) % 4)
    for decode in (base64.urlsafe_b64decode, base64.b64decode):
        try:
            key = decode(padded.encode("ascii"))
        except (binascii.Error, ValueError):
            continue
        if len(key) == KEY_BYTES:
            return key
    raise VaultError(f"a vault key is {KEY_BYTES} random bytes, base64 encoded")


def development_key(path, *, variable: str, what: str) -> bytes:
    """The key kept at ``path`` for an embedded (SQLite) deployment run without ``variable``.

    Made once (a second process of the same deployment finds it) and said loudly: good enough
    for a laptop, no protection against someone who copies the whole data directory.
    """
    try:
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
            out.write(new_key() + "\n")
    except FileExistsError:
        pass
    logging.getLogger(__name__).warning(
        "%s are sealed with a development key kept in the data directory; set %s", what, variable)
    return decode_key(open(path, encoding="ascii").read().strip())
