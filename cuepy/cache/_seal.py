"""Entries that can't be forged, replayed or read: authenticated (and optionally encrypted) with a shared key.

Without a key, an entry is format 1 (``_store.encode_entry``): its checksum
finds corruption, not forgery. With a key (``Cache(secret=...)`` or
``$CUEPY_CACHE_KEY``), every stored entry is format 2::

    cuepy-cache 2 <kind> <key> <body length> <scheme> <key id> <tag>\\n<body>

* ``hmac``: body = the payload (UTF-8), tag = HMAC-SHA256 under the MAC key of
  ``kind``, ``key`` and the body (each length-prefixed);
* ``aesgcm``: body = 12-byte nonce + AES-256-GCM ciphertext of the payload,
  with ``kind`` and ``key`` as associated data (tag ``-``: GCM's tag is in
  the ciphertext). Encryption needs ``cryptography``.

The MAC and encryption keys are derived from the secret with HKDF-SHA256
(RFC 5869) under distinct labels; ``key id`` names the secret (8 hex digits
of a third derived value) so a reader can say "written with another key"
rather than "forged". Because the kind and key are authenticated, an entry
copied under another key (a replay) fails as surely as an edited one.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Any

SEALED_FORMAT = 2
_MAGIC = b"cuepy-cache"
_HEADER_MAX = 256
MIN_SECRET = 16


def hkdf(secret: bytes, info: bytes, length: int = 32) -> bytes:
    """HKDF-SHA256 (RFC 5869) with an all-zero salt."""
    prk = hmac.new(b"\0" * 32, secret, hashlib.sha256).digest()
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([i]), hashlib.sha256).digest()
        out += block
        i += 1
    return out[:length]


def _bound(kind: str, key: str) -> bytes:
    k, h = kind.encode(), key.encode()
    return b"cuepy-cache-2\0" + len(k).to_bytes(2, "big") + k + len(h).to_bytes(2, "big") + h


class Codec:
    """How entries are written and read: plain (format 1) or sealed (format 2) with a shared key."""

    def __init__(self, secret: bytes | str | None = None, *, encrypt: bool = False) -> None:
        if isinstance(secret, str):
            secret = secret.encode()
        if secret is not None and not isinstance(secret, bytes):
            raise TypeError(f"a cache secret is bytes or a str, not {type(secret).__name__}")
        if secret is not None and len(secret) < MIN_SECRET:
            raise ValueError(f"a cache secret must have at least {MIN_SECRET} bytes")
        if encrypt and secret is None:
            raise ValueError("encryption at rest needs a secret (Cache(secret=...) or CUEPY_CACHE_KEY)")
        self.sealed = secret is not None
        self.encrypt = encrypt
        self._mac_key = hkdf(secret, b"cuepy-cache mac") if secret is not None else b""
        self.key_id = hkdf(secret, b"cuepy-cache id", 4).hex() if secret is not None else ""
        self._aead: Any = None
        if encrypt and secret is not None:
            try:
                from cryptography.hazmat.primitives.ciphers.aead import AESGCM
            except ImportError as exc:  # pragma: no cover - an optional dependency
                raise ImportError("encryption at rest needs the cryptography package (pip install cuepy[scale])") \
                    from exc  # fmt: skip
            self._aead = AESGCM(hkdf(secret, b"cuepy-cache aes-256-gcm"))

    def encode(self, kind: str, key: str, payload: str) -> bytes:
        if not self.sealed:
            from cuepy.cache._store import encode_entry

            return encode_entry(kind, key, payload)
        data = payload.encode()
        if self._aead is not None:
            nonce = os.urandom(12)
            body = nonce + bytes(self._aead.encrypt(nonce, data, _bound(kind, key)))
            scheme, tag = b"aesgcm", b"-"
        else:
            body = data
            scheme = b"hmac"
            tag = hmac.new(self._mac_key, _bound(kind, key) + body, hashlib.sha256).hexdigest().encode()
        header = b" ".join([_MAGIC, str(SEALED_FORMAT).encode(), kind.encode(), key.encode(),
                            str(len(body)).encode(), scheme, self.key_id.encode(), tag])  # fmt: skip
        return header + b"\n" + body

    def decode(self, data: bytes, kind: str, key: str) -> tuple[str | None, str]:
        """(payload, "") for a sound entry of ``kind``/``key`` written with this codec's key,
        else (None, what is wrong). ``problem`` starts with ``forged``/``replayed``/``foreign``/
        ``unsigned`` when authentication failed."""
        if not self.sealed:
            from cuepy.cache._store import decode_entry

            return decode_entry(data, kind, key)
        newline = data.find(b"\n", 0, _HEADER_MAX)
        if newline < 0:
            return None, "forged: no header" if data else "empty"
        parts = data[:newline].split(b" ")
        if len(parts) >= 2 and parts[0] == _MAGIC and parts[1] == b"1":
            return None, "unsigned: an entry without authentication (no shared key when written)"
        if len(parts) != 8 or parts[0] != _MAGIC or parts[1] != str(SEALED_FORMAT).encode():
            return None, "forged: not a sealed entry"
        body = data[newline + 1 :]
        if not parts[4].isdigit() or int(parts[4]) != len(body):
            return None, f"truncated ({len(body)} of {parts[4].decode(errors='replace')} bytes)"
        scheme, key_id, tag = parts[5], parts[6].decode(errors="replace"), parts[7]
        if key_id != self.key_id:
            return None, f"foreign: written with another shared key (key id {key_id}, ours {self.key_id})"
        if parts[2] != kind.encode() or parts[3] != key.encode():
            return None, "replayed: the entry of another key"
        if scheme == b"aesgcm":
            if self._aead is None:
                return None, "encrypted: this cache has encryption off (CUEPY_CACHE_ENCRYPT)"
            from cryptography.exceptions import InvalidTag

            try:
                plain = self._aead.decrypt(body[:12], body[12:], _bound(kind, key))
            except (InvalidTag, ValueError):
                return None, "forged: authentication failed"
        elif scheme == b"hmac":
            if self._aead is not None:
                return None, "unencrypted: this cache requires encrypted entries"
            want = hmac.new(self._mac_key, _bound(kind, key) + body, hashlib.sha256).hexdigest().encode()
            if not hmac.compare_digest(want, tag):
                return None, "forged: signature mismatch"
            plain = body
        else:
            return None, f"forged: unknown scheme {scheme.decode(errors='replace')!r}"
        try:
            return plain.decode(), ""
        except UnicodeDecodeError:
            return None, "not UTF-8"


AUTH_PROBLEMS = ("forged", "replayed", "foreign", "unsigned", "encrypted", "unencrypted")


def is_auth_problem(problem: str) -> bool:
    return problem.startswith(AUTH_PROBLEMS)
