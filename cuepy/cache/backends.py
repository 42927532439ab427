"""Shared stores behind one small interface: Redis and S3-compatible object stores.

A :class:`~cuepy.cache.Cache` reads memory, then its local directory, then
(when configured) a shared store that a fleet of machines reads and writes:
``Cache(shared="redis://host:6379/0")`` or ``CUEPY_CACHE_URL``. A hit in the
shared store fills the local layers. A backend moves opaque bytes (whole
entries, authenticated by the cache when it has a shared key:
cuepy/cache/_seal.py); it decides nothing about them.

URLs (:func:`open_backend`):

* ``redis://[:password@]host:port/db`` (``rediss://`` for TLS), through
  redis-py; ``?ttl=SECONDS`` sets an expiry on every entry (eviction is also
  the server's ``maxmemory-policy``); ``?prefix=NAME`` (default ``cuepy``);
* ``s3://bucket/prefix``, through boto3, with the endpoint from
  ``AWS_ENDPOINT_URL`` (or ``?endpoint=URL``) and credentials from boto3's
  usual chain; ``?ttl=SECONDS``: entries older are misses (pair it with a
  lifecycle rule that deletes them);
* ``file:///path`` or a plain path: that directory as the *local* layer (as
  ``CUEPY_CACHE_DIR``), no shared store.

Every call may raise :class:`BackendError` (the store is unreachable, times
out, refuses): the cache then treats the store as absent for a while and
computes what it misses. Install the clients with ``pip install cuepy[scale]``.

Leases (optional: :meth:`Backend.try_lease`, :meth:`Backend.release`) make a
miss computed once across the machines sharing the store: the machine that
takes a key's lease computes, the others wait for the entry. Redis takes one
with ``SET NX PX`` and gives it up with a compare-and-delete script; S3 with a
conditional put (``If-None-Match: *``, an expired lease replaced with
``If-Match`` on its ETag) and a delete conditional on its ETag. A store
without leases raises :class:`LeaseUnsupported` and each machine computes its
own misses.
"""

from __future__ import annotations

import abc
import contextlib
import inspect
import json
import os
import secrets
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

DEFAULT_TIMEOUT = 2.0
"""Seconds a shared store may take to connect or answer before it counts as down."""


class BackendError(OSError):
    """The shared store could not be used for this call (unreachable, timed out, refused)."""


class LeaseUnsupported(NotImplementedError):
    """The store offers no lease: machines sharing it compute their misses each (not a failure)."""


class Backend(abc.ABC):
    """A shared store of entries: ``get``/``put``/``delete`` of bytes by name (``kind/key``), and
    optionally leases on those names (single-flight across machines)."""

    url: str

    @abc.abstractmethod
    def get(self, name: str) -> bytes | None:
        """The bytes stored under ``name``, or None; raises BackendError."""

    @abc.abstractmethod
    def put(self, name: str, data: bytes) -> None:
        """Store ``data`` under ``name`` (whole or not at all); raises BackendError."""

    @abc.abstractmethod
    def delete(self, name: str) -> None:
        """Remove ``name`` if present; raises BackendError."""

    def try_lease(self, name: str, ttl: float) -> str | None:
        """Take the lease of ``name`` for ``ttl`` seconds: a token to release it with, or None
        while another holder's lease runs. Raises LeaseUnsupported (the default: a store without
        leases) or BackendError."""
        raise LeaseUnsupported(f"{type(self).__name__} offers no lease")

    def renew(self, name: str, token: str, ttl: float) -> str | None:
        """Extend the lease taken with ``token`` to ``ttl`` seconds from now: its token from now
        on (it may change), or None when it is no longer ours (expired and taken by another
        holder). Raises LeaseUnsupported (the default: the lease runs out at its first expiry)
        or BackendError."""
        raise LeaseUnsupported(f"{type(self).__name__} cannot renew a lease")

    def release(self, name: str, token: str) -> None:  # noqa: B027 - optional
        """Give up the lease taken with ``token``; one that expired and was taken by another
        holder is left alone. Raises BackendError."""

    def close(self) -> None:  # noqa: B027 - optional
        """Release connections."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def _own_options(url: str, names: tuple[str, ...]) -> tuple[str, dict[str, str]]:
    """``url`` without the query options cuepy reads, and those options."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    own = {k: v[-1] for k, v in query.items() if k in names}
    rest = {k: v[-1] for k, v in query.items() if k not in names}
    return urlunsplit(parts._replace(query=urlencode(rest))), own


_LEASES = ".lease"
"""Where leases live beside entries: a name no kind can have (kinds start with a letter)."""

# Deletes the lease only if it still holds the releaser's token: one that expired and was taken
# by another machine meanwhile stays.
_REDIS_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""

_REDIS_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""


class RedisBackend(Backend):
    """Entries as Redis strings ``<prefix>:v1:<kind>:<key>``, optionally with an expiry; leases
    as strings ``<prefix>:v1:.lease:<kind>:<key>`` holding their token, with the lease's expiry."""

    def __init__(self, url: str, *, ttl: float | None = None, prefix: str = "cuepy",
                 timeout: float = DEFAULT_TIMEOUT) -> None:  # fmt: skip
        try:
            import redis
        except ImportError as exc:
            raise ImportError("a redis:// cache needs redis-py: pip install cuepy[scale]") from exc
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        plain, own = _own_options(url, ("ttl", "prefix"))
        self.url = _redact(url)
        self.ttl = float(own["ttl"]) if "ttl" in own else ttl
        self.prefix = own.get("prefix", prefix)
        options: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout,
                                   "retry_on_timeout": False}  # fmt: skip
        # No CLIENT SETINFO: redis-py would read every installed distribution's metadata for its
        # version on the first connection (some 15 ms of a fresh process's first hit).
        parameters = inspect.signature(redis.Redis.__init__).parameters
        if "driver_info" in parameters:
            options["driver_info"] = None  # (explicit None: no SETINFO)
        elif "lib_name" in parameters:
            options.update(lib_name=None, lib_version=None)
        self._client = redis.Redis.from_url(plain, **options)
        self._release = self._client.register_script(_REDIS_RELEASE)
        self._renew = self._client.register_script(_REDIS_RENEW)
        # Connect while the caller computes its first key (about half of a fresh process's first
        # shared hit is the connection); a failure here is met again, and reported, by that call.
        threading.Thread(target=self._connect, name="cuepy-redis-connect", daemon=True).start()

    def _connect(self) -> None:
        pool = self._client.connection_pool
        with contextlib.suppress(Exception):  # the first real call meets it again and reports it
            pool.release(pool.get_connection())

    def _name(self, name: str) -> str:
        return f"{self.prefix}:v1:{name.replace('/', ':')}"

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except self._errors as exc:
            raise BackendError(f"redis {self.url}: {exc}") from exc

    def get(self, name: str) -> bytes | None:
        data = self._call(self._client.get, self._name(name))
        return bytes(data) if data is not None else None

    def put(self, name: str, data: bytes) -> None:
        ttl = max(1, int(self.ttl)) if self.ttl else None
        self._call(self._client.set, self._name(name), data, ex=ttl)

    def delete(self, name: str) -> None:
        self._call(self._client.delete, self._name(name))

    def try_lease(self, name: str, ttl: float) -> str | None:
        token = secrets.token_hex(16)
        taken = self._call(self._client.set, self._name(f"{_LEASES}/{name}"), token, nx=True,
                           px=max(1, int(ttl * 1000)))  # fmt: skip
        return token if taken else None

    def renew(self, name: str, token: str, ttl: float) -> str | None:
        held = self._call(self._renew, keys=[self._name(f"{_LEASES}/{name}")],
                          args=[token, max(1, int(ttl * 1000))])  # fmt: skip
        return token if held else None

    def release(self, name: str, token: str) -> None:
        self._call(self._release, keys=[self._name(f"{_LEASES}/{name}")], args=[token])

    def close(self) -> None:
        self._client.close()


_S3_LOST = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey", "412", "409", "404"})
"""Codes of a conditional request that lost a race: another holder put or removed the lease first."""
_S3_NO_CONDITIONS = frozenset({"NotImplemented", "501"})
"""Codes of a store that does not implement conditional requests."""


class S3Backend(Backend):
    """Entries as objects ``<prefix>/v1/<kind>/<key>`` of an S3 bucket (any S3-compatible store);
    leases as objects ``<prefix>/v1/.lease/<kind>/<key>`` holding their expiry, taken with
    conditional puts (a store that does not implement them has no lease)."""

    def __init__(self, url: str, *, ttl: float | None = None, endpoint: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT) -> None:  # fmt: skip
        try:
            import boto3
            import botocore.config
            import botocore.exceptions
        except ImportError as exc:
            raise ImportError("an s3:// cache needs boto3: pip install cuepy[scale]") from exc
        plain, own = _own_options(url, ("ttl", "endpoint"))
        parts = urlsplit(plain)
        if not parts.netloc:
            raise ValueError(f"an S3 cache URL names a bucket: s3://bucket/prefix, not {url!r}")
        self.url = url
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        self.ttl = float(own["ttl"]) if "ttl" in own else ttl
        self.endpoint = own.get("endpoint") or endpoint or os.environ.get("AWS_ENDPOINT_URL") or None
        self._errors: tuple[type[BaseException], ...] = (botocore.exceptions.BotoCoreError,
                                                          botocore.exceptions.ClientError, OSError)  # fmt: skip
        self._client_error = botocore.exceptions.ClientError
        config = botocore.config.Config(connect_timeout=timeout, read_timeout=timeout,
                                        retries={"max_attempts": 1, "mode": "standard"})  # fmt: skip
        self._client = boto3.session.Session().client("s3", endpoint_url=self.endpoint, config=config)
        self._leases = True

    def _key(self, name: str) -> str:
        return f"{self.prefix}/v1/{name}" if self.prefix else f"v1/{name}"

    def get(self, name: str) -> bytes | None:
        try:
            found = self._client.get_object(Bucket=self.bucket, Key=self._key(name))
            data = found["Body"].read()
        except self._client_error as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("NoSuchKey", "404", "NotFound"):
                return None
            raise BackendError(f"s3 {self.url}: {exc}") from exc
        except self._errors as exc:
            raise BackendError(f"s3 {self.url}: {exc}") from exc
        if self.ttl is not None:
            modified = found.get("LastModified")
            if modified is not None and time.time() - modified.timestamp() > self.ttl:
                return None  # expired (a lifecycle rule removes it)
        return bytes(data)

    def put(self, name: str, data: bytes) -> None:
        try:
            self._client.put_object(Bucket=self.bucket, Key=self._key(name), Body=data)
        except self._errors as exc:
            raise BackendError(f"s3 {self.url}: {exc}") from exc

    def delete(self, name: str) -> None:
        try:
            self._client.delete_object(Bucket=self.bucket, Key=self._key(name))
        except self._errors as exc:
            raise BackendError(f"s3 {self.url}: {exc}") from exc

    def try_lease(self, name: str, ttl: float) -> str | None:
        # The token is our lease object's ETag (its body holds a random nonce, so the ETag is ours
        # alone): released with a delete conditional on it, no read needed.
        if not self._leases:
            raise LeaseUnsupported(f"s3 {self.url}: the store does not implement conditional puts")
        key = self._key(f"{_LEASES}/{name}")
        etag = self._put_lease(key, ttl, IfNoneMatch="*")
        if etag is not None:
            return etag
        held = self._read_lease(key)
        if held is None or held[0] > time.time():
            return None  # released meanwhile (taken on the next try), or still running
        # Expired (its holder died or overran): replaced only if nobody replaced it since it was read.
        return self._put_lease(key, ttl, IfMatch=held[1])

    def renew(self, name: str, token: str, ttl: float) -> str | None:
        # A put conditional on our lease object's ETag: a new expiry, and a new ETag (our token).
        return self._put_lease(self._key(f"{_LEASES}/{name}"), ttl, IfMatch=token)

    def release(self, name: str, token: str) -> None:
        try:
            self._client.delete_object(Bucket=self.bucket, Key=self._key(f"{_LEASES}/{name}"), IfMatch=token)
        except self._client_error as exc:
            # Taken over by another holder (left alone), or a store without conditional deletes
            # (it expires by itself).
            if _s3_code(exc) not in _S3_LOST | _S3_NO_CONDITIONS:
                raise BackendError(f"s3 {self.url}: {exc}") from exc
        except self._errors as exc:
            raise BackendError(f"s3 {self.url}: {exc}") from exc

    def _put_lease(self, key: str, ttl: float, **condition: str) -> str | None:
        """Put a new lease object at ``key`` under ``condition``: its ETag, or None when another
        holder's put or delete came first."""
        body = json.dumps({"nonce": secrets.token_hex(16), "expires": time.time() + ttl}).encode()
        try:
            done = self._client.put_object(Bucket=self.bucket, Key=key, Body=body, **condition)
        except self._client_error as exc:
            code = _s3_code(exc)
            if code in _S3_LOST:
                return None
            if code in _S3_NO_CONDITIONS:
                self._leases = False
                raise LeaseUnsupported(f"s3 {self.url}: the store does not implement conditional puts") from exc
            raise BackendError(f"s3 {self.url}: {exc}") from exc
        except self._errors as exc:
            raise BackendError(f"s3 {self.url}: {exc}") from exc
        return str(done["ETag"])

    def _read_lease(self, key: str) -> tuple[float, str] | None:
        """(expiry, ETag) of the lease object at ``key``, or None; one that is not a lease's
        body counts as expired. The expiry is its holder's clock: machines sharing a store keep
        their clocks close (NTP); a skew only makes a waiter take an expired lease early (both
        compute) or late (bounded by its wait)."""
        try:
            found = self._client.get_object(Bucket=self.bucket, Key=key)
            data = found["Body"].read()
        except self._client_error as exc:
            if _s3_code(exc) in ("NoSuchKey", "404", "NotFound"):
                return None
            raise BackendError(f"s3 {self.url}: {exc}") from exc
        except self._errors as exc:
            raise BackendError(f"s3 {self.url}: {exc}") from exc
        try:
            expires = float(json.loads(data)["expires"])
        except (ValueError, KeyError, TypeError):
            expires = 0.0
        return expires, str(found["ETag"])

    def close(self) -> None:
        self._client.close()


def _s3_code(exc: Any) -> str:
    """A botocore ClientError's code, else its HTTP status (some stores send no code)."""
    code = exc.response.get("Error", {}).get("Code", "")
    return str(code or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))


def local_directory(url: str) -> str | None:
    """The directory a ``file://`` URL or a plain path names (the local layer), else None."""
    if url.startswith("file://"):
        return urlsplit(url).path
    if "://" not in url:
        return url
    return None


def open_backend(url: str) -> Backend:
    """The shared store a URL names (``redis://``, ``rediss://``, ``s3://``)."""
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("redis", "rediss", "unix"):
        return RedisBackend(url)
    if scheme == "s3":
        return S3Backend(url)
    raise ValueError(f"unknown cache store URL scheme {scheme!r} (redis://, rediss://, s3://, file://)")
