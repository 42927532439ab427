"""``Cache.memoize``: a result keyed by its request and the content of what it read.

Four layers, cheapest first (docs/cache.md, "Keys"):

1. the call memo (per process): the same call, while none of the files and
   directories its key was computed from changed (a ``stat`` each), has the
   same key;
2. the manifest (stored, like ccache's manifest mode): the key of the request
   at this location names the inputs the computation read, as paths and
   digests (a few variants); a variant whose files all still hash the same
   gives the result key without asking what a load reads;
3. the last listing's paths, hashed again (ccache's direct mode, for a
   computation that gives its own listing): after an edit, the paths the
   last listing named (this process's, else the newest variant's) with
   their content now give the key. The same paths with the same content are
   read the same way, so a stored result serves; a miss's result is stored
   under that key if the computation read those same paths. One that read
   others (an import added, say) is keyed from its own listing, observed
   after it ran, when that provably holds what it read (``Rekeyed``: the
   paths it shares with the guess unchanged, the others not written since
   before it started); else it is done again, after ``inputs()``;
4. discovery: ``inputs()`` says what the computation reads (for a CUE load,
   libcuepy's ``cue_load_inputs``); those are hashed and the result key
   follows. The list must not have changed while hashing: before a result is
   used or stored, ``inputs()`` is asked again, or (``computes_listing``) on a
   miss the computation gives its own list (``Computed``).

A result is stored only when nothing it was computed from changed from
before its inputs were hashed until after it was computed.

A miss is computed once (``Cache.flight``): concurrent misses of one key, in
threads of this process, in processes sharing the cache directory, or on
machines sharing a store that has leases, wait for the one computing it and
read its result.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from cuepy.cache import keys
from cuepy.cache.keys import Dirty, Observation
from cuepy.errors import CueError

if TYPE_CHECKING:
    from cuepy.cache._store import Cache

T = TypeVar("T")

MANIFEST = "manifest"
_VARIANTS = 8
_CALLS_MAX = 4096
_calls: dict[Hashable, tuple[Observation, str]] = {}
_calls_lock = threading.Lock()
_listings: dict[Hashable, tuple[Observation, Inputs]] = {}
"""Per ``inputs_key``: the last listing ``inputs()`` gave and the observation of its files. While
they are unchanged, the listing is too (what a load reads is decided by those files and
directories), so requests that differ only in what is not read (values, namespace) share it."""


class Inputs(Protocol):
    """What ``inputs()`` returns: cuepy.api.LoadInputs has this shape."""

    @property
    def root(self) -> str: ...
    @property
    def files(self) -> tuple[str, ...]: ...
    @property
    def directories(self) -> tuple[str, ...]: ...
    @property
    def shipped(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class Computed:
    """What ``compute()`` may give instead of the payload alone: the payload and the listing of
    what the computation itself read (as ``inputs()`` gives it). A discovered miss then checks
    that listing against the one it hashed instead of asking ``inputs()`` again (for a CUE load,
    one load fewer)."""

    payload: str
    inputs: Inputs


@dataclass(frozen=True)
class Rekeyed:
    """What a guess's check gives when the computation read other paths, and its own listing,
    observed after it ran, provably holds what it read: the result is keyed from that."""

    observation: Observation
    root: str


Confirm = Callable[[Inputs | None], "bool | Rekeyed"]
"""Discovery's check that the listing its key was made from still holds (given the
computation's own listing, or None to ask ``inputs()`` again)."""


class Unusable(ValueError):
    """Raised by a ``use`` callback: the stored payload cannot serve (it is discarded, then recomputed)."""


def forget_calls() -> None:
    with _calls_lock:
        _calls.clear()
        _listings.clear()


_SCALARS = (str, int, float, bool, type(None))


def _freeze(data: Any) -> Hashable:
    """``data`` (JSON data) as a hashable, cheaply for the small requests callers make."""
    if isinstance(data, _SCALARS):
        return data
    # (list and tuple before the Mapping ABC: a first isinstance of a list against an ABC walks
    # its registry, some 100 us of a new process's cache hit)
    if isinstance(data, list | tuple):
        return tuple(_freeze(v) for v in data)
    if isinstance(data, dict | Mapping):
        return tuple(sorted((k, _freeze(v)) for k, v in data.items()))
    return tuple(_freeze(v) for v in data)


def absolute(path: str | os.PathLike[str]) -> str:
    """``path`` made absolute against the working directory, without resolving links (cheap)."""
    given = os.fspath(path)
    return os.path.normpath(given if os.path.isabs(given) else os.path.join(os.getcwd(), given))


def memoize(
    cache: Cache,
    kind: str,
    *,
    directory: str,
    request: Mapping[str, Any],
    inputs: Callable[[], Inputs],
    compute: Callable[[], str | Computed],
    use: Callable[[str, str | None], T],
    labels: Mapping[str, str] | None = None,
    inputs_key: Callable[[], Hashable] | None = None,
    computes_listing: bool = False,
) -> T:
    versions = (keys.cuepy_version(), keys.cue_version())
    labelled = dict(labels or {})
    call = (kind, directory, versions, _freeze(request), _freeze(labelled))
    known = _calls.get(call)
    if known is not None and known[0].current():
        found = _stored(cache, kind, known[1], use)
        if found is not None:
            return found[0]

    def key_of(root: str, observation: Observation) -> str:
        document = {"format": keys.KEY_FORMAT, "kind": kind, "versions": versions, "request": request,
                    "directory": keys.relative_name(directory, root, labelled),
                    "sources": observation.names(root, labelled)}  # fmt: skip
        return keys.sha256(keys.canonical_json(document))

    def finish(observation: Observation, key: str, root: str, new_variant: bool, confirm: Confirm | None = None) -> T:
        # confirm (discovery): whether the listing the key was made from still holds; checked
        # before a result is used or stored, else the result is computed and not stored.
        found = _stored(cache, kind, key, use)
        if found is not None:
            if confirm is not None and not confirm(None):
                return _unstored(compute, use)
            result = found[0]
        else:
            # Single-flight: one thread (of the processes sharing the directory) computes a
            # missing entry; the others wait for it, then read it.
            with cache.flight(kind, key) as waited:
                found = _stored(cache, kind, key, use) if waited else None
                if found is not None:
                    if confirm is not None and not confirm(None):
                        return _unstored(compute, use)
                    result = found[0]
                else:
                    computed = compute()
                    payload = _payload(computed)
                    listed = computed.inputs if isinstance(computed, Computed) else None
                    verdict = confirm(listed) if confirm is not None else True
                    if not verdict:  # the listing changed: not stored
                        return _fresh(use, payload, None)
                    if isinstance(verdict, Rekeyed):  # (under the guessed key's flight: a twin would store the same)
                        observation, root = verdict.observation, verdict.root
                        key = key_of(root, observation)
                    if not observation.current():  # a source changed while computing: returned, not stored
                        return _fresh(use, payload, None)
                    result = _fresh(use, payload, key)
                    cache.put(kind, key, payload)
        if new_variant:
            _add_variant(cache, manifest_key, root, observation, key)
        with _calls_lock:
            if len(_calls) >= _CALLS_MAX:
                _calls.clear()
            _calls[call] = (observation, key)
        return result

    where = {"format": keys.KEY_FORMAT, "kind": kind, "versions": versions, "directory": directory,
             "request": request, "labels": labelled}  # fmt: skip
    manifest_key = keys.sha256(keys.canonical_json(where))

    stale: list[dict[str, Any]] = []  # the stored variants, when none is current (discovery's first guess)

    def from_manifest() -> tuple[T] | None:
        variants = _variants(cache, manifest_key)
        for variant in variants:
            observation = Observation.validate(variant.get("observation"))
            root = variant.get("root")
            if observation is not None and isinstance(root, str):
                # The key stored with the variant is the key of its observation, which holds
                # (a variant stored before keys were is keyed again). Racy files read again and now
                # trusted by their signature: stored again, so that later processes stat them
                # instead of reading them (git's index refresh).
                key = variant.get("key")
                if not isinstance(key, str) or not keys.KEY.fullmatch(key):
                    key = key_of(root, observation)
                return (finish(observation, key, root, observation.refreshed),)
        stale[:] = variants
        return None

    found = from_manifest()
    if found is not None:
        return found[0]
    # Single-flight of the request among threads: concurrent first calls discover inputs once; the
    # others wait, then find the call memo. Processes racing on a new request each discover (list
    # and hash the sources) rather than every miss taking a file lock; they compute once, through
    # the result's flight, which also waits for other machines (discovery reads this machine's files).
    with cache.flight(MANIFEST, manifest_key, shared=False, processes=False) as waited:
        if waited:
            known = _calls.get(call)
            if known is not None and known[0].current():
                again = _stored(cache, kind, known[1], use)
                if again is not None:
                    return again[0]
            found = from_manifest()
            if found is not None:
                return found[0]
        return _discover(inputs, inputs_key, compute, use, finish, key_of, computes_listing, stale[:1])


def _discover(
    inputs: Callable[[], Inputs],
    inputs_key: Callable[[], Hashable] | None,
    compute: Callable[[], str | Computed],
    use: Callable[[str, str | None], T],
    finish: Callable[[Observation, str, str, bool, Confirm | None], T],
    key_of: Callable[[str, Observation], str],
    computes_listing: bool,
    stale: list[dict[str, Any]],
) -> T:
    """The key from what ``inputs()`` lists (hashed), then the result; a listing this process took
    under the same ``inputs_key`` serves while its files are unchanged. A computation that gives
    its listing first tries the paths of the last listing (this process's, else the newest stored
    variant's), observed now (``_guess``)."""
    listing = inputs_key() if inputs_key is not None else None  # asked on discovery only: not on hits
    listed = _listings.get(listing) if listing is not None else None
    if listed is not None and listed[0].current():
        observation, found = listed
        return finish(observation, key_of(found.root, observation), found.root, True, None)
    if computes_listing:
        last = _last_paths(listed, stale)
        if last is not None:
            guessed = _guess(*last, finish, key_of, listing)
            if guessed is not None:
                return guessed[0]
    return _listed(inputs, listing, compute, use, finish, key_of, computes_listing)


def _last_paths(
    listed: tuple[Observation, Inputs] | None, stale: list[dict[str, Any]]
) -> tuple[str, Observation, Inputs | None] | None:
    """The root and paths of the last listing, observed now, and that listing if this process took
    it (``listed``; else the newest stored variant's paths); None when a path is gone or unreadable."""
    if listed is not None:
        found = listed[1]
        try:
            return found.root, Observation.take(found.files, found.directories, found.shipped), found
        except (Dirty, CueError):
            return None
    if stale:
        root = stale[0].get("root")
        observation = Observation.again(stale[0].get("observation"))
        if observation is not None and isinstance(root, str):
            return root, observation, None
    return None


def _guess(
    root: str,
    observation: Observation,
    found: Inputs | None,
    finish: Callable[[Observation, str, str, bool, Confirm | None], T],
    key_of: Callable[[str, Observation], str],
    listing: Hashable | None,
) -> tuple[T] | None:
    """The result for the paths of ``observation`` as they are now (ccache's direct mode: a file
    of them edited since the last listing, ``found`` if this process took it), or None when the
    computation read other paths and what it read cannot be shown (it is then done again, after
    ``inputs()``)."""
    other_paths: list[bool] = []
    started = time.time_ns()

    def confirm(computed: Inputs | None) -> bool | Rekeyed:
        if computed is None:  # a result stored for these paths and contents: as a manifest hit
            if found is not None:
                _remember_listing(listing, observation, found)
            return True
        paths = keys.observed_paths(computed.files, computed.directories, computed.shipped)
        if computed.root == root and paths == observation.paths():
            _remember_listing(listing, observation, computed)  # (finish checks next that nothing changed)
            return True
        # It read other paths (an import added): keyed from its own listing if that, observed
        # now, holds what it read; the paths it shares with the guess unchanged since, and the
        # others (a package newly imported) not written since before it started.
        read = _observed_after(computed, observation, started)
        if read is None:
            other_paths.append(True)
            return False
        _remember_listing(listing, read, computed)
        return Rekeyed(read, computed.root)

    result = finish(observation, key_of(root, observation), root, True, confirm)
    return None if other_paths else (result,)


def _observed_after(computed: Inputs, before: Observation, started: int) -> Observation | None:
    """The computation's own listing observed now, if it holds what the computation read
    (``Observation.held_while_computed``); None otherwise."""
    if not before.current():
        return None
    try:
        now = Observation.take(computed.files, computed.directories, computed.shipped)
    except (Dirty, CueError):
        return None
    return now if now.held_while_computed(before, started) else None


def _listed(
    inputs: Callable[[], Inputs],
    listing: Hashable | None,
    compute: Callable[[], str | Computed],
    use: Callable[[str, str | None], T],
    finish: Callable[[Observation, str, str, bool, Confirm | None], T],
    key_of: Callable[[str, Observation], str],
    computes_listing: bool,
) -> T:
    """The key from what ``inputs()`` lists, hashed; then the result."""
    try:
        found_inputs = inputs()
    except CueError:
        return _unstored(compute, use)  # the computation reports what is wrong
    try:
        observation = Observation.take(found_inputs.files, found_inputs.directories, found_inputs.shipped)
    except (Dirty, CueError) as exc:
        if isinstance(exc, keys.CacheError):
            raise
        return _unstored(compute, use)

    def confirm(computed: Inputs | None) -> bool:
        """Whether the listing is the one hashed: a file changed between listing and hashing may
        change what is read. The listing again is the computation's own when it gives one (it
        read the files after they were hashed), else ``inputs()`` asked again."""
        try:
            again = computed if computed is not None else inputs()
        except CueError as exc:
            if isinstance(exc, keys.CacheError):
                raise
            return False
        if _listing(again) != _listing(found_inputs) or not observation.current():
            return False
        _remember_listing(listing, observation, found_inputs)
        return True

    key = key_of(found_inputs.root, observation)
    if computes_listing:  # checked with the computation's listing, or before a stored result is used
        return finish(observation, key, found_inputs.root, True, confirm)
    # Otherwise confirmed first: that records the listing, which a computation that loads the
    # same module again (a release's nested module load) then shares.
    if not confirm(None):  # changed while read: computed, neither looked up nor stored
        return _unstored(compute, use)
    return finish(observation, key, found_inputs.root, True, None)


def _remember_listing(listing: Hashable | None, observation: Observation, found: Inputs) -> None:
    if listing is not None:
        with _calls_lock:
            if len(_listings) >= _CALLS_MAX:
                _listings.clear()
            _listings[listing] = (observation, found)


def _payload(computed: str | Computed) -> str:
    return computed.payload if isinstance(computed, Computed) else computed


def _unstored(compute: Callable[[], str | Computed], use: Callable[[str, str | None], T]) -> T:
    """The result computed now and not stored (its key cannot be trusted)."""
    return _fresh(use, _payload(compute()), None)


def _fresh(use: Callable[[str, str | None], T], payload: str, key: str | None) -> T:
    """``use`` of a payload just computed: what makes it unusable is the caller's error."""
    try:
        return use(payload, key)
    except Unusable as exc:
        if isinstance(exc.__cause__, Exception):
            raise exc.__cause__ from None
        raise


def _listing(found: Inputs) -> tuple[Any, ...]:
    return (found.root, tuple(found.files), tuple(found.directories), tuple(found.shipped))


def _stored(cache: Cache, kind: str, key: str, use: Callable[[str, str | None], T]) -> tuple[T] | None:
    """(the stored payload, used), or None; a payload ``use`` rejects is discarded."""
    payload = cache.get(kind, key)
    if payload is None:
        return None
    try:
        return (use(payload, key),)
    except ValueError as exc:  # Unusable, or a parser's ValueError (pydantic's errors are ValueErrors)
        if isinstance(exc, CueError):  # a CueUsageError: the call's fault, not the entry's
            raise
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        cache.discard(kind, key, f"unusable: {text}")
        return None


def _variants(cache: Cache, manifest_key: str) -> list[dict[str, Any]]:
    # Not kept in the memory layer: in this process the call memo gives a request's key. (Kept,
    # manifests grew a render worker by twice its releases' size: one per distinct request.)
    payload = cache.get(MANIFEST, manifest_key, memory=False)
    if payload is None:
        return []
    try:
        data = json.loads(payload)
        variants, units = data["variants"], data["shipped"]
        if not isinstance(variants, list) or not all(isinstance(v, dict) for v in variants):
            raise ValueError("variants")
        if not isinstance(units, dict):
            raise ValueError("shipped")
    except (ValueError, KeyError, TypeError):
        cache.discard(MANIFEST, manifest_key, "not a manifest")
        return []
    for variant in variants:  # the shipped units' signatures, stored once for every variant
        signatures = _signatures(variant)
        if signatures is not None:
            signatures["shipped"] = units
    return variants


def _add_variant(cache: Cache, manifest_key: str, root: str, observation: Observation, key: str) -> None:
    stored = observation.as_json()
    entry = {"root": root, "observation": stored, "key": key}

    def same(v: dict[str, Any]) -> bool:  # the same content (signatures aside)
        known = v.get("observation")
        return v.get("root") == root and isinstance(known, dict) and known.get("content") == stored["content"]

    kept = [entry, *(v for v in _variants(cache, manifest_key) if not same(v))][:_VARIANTS]
    # A shipped unit's signatures (one per file of a catalog's directory) are the same in every
    # variant: stored once, the newest variant's, the manifest is a fraction of the size to read
    # and write.
    units: dict[str, Any] = {}
    for variant in reversed(kept):
        signatures = _signatures(variant)
        shipped = signatures.pop("shipped", None) if signatures is not None else None
        if isinstance(shipped, dict):
            units.update(shipped)
    used = {d for v in kept for d in _shipped_content(v)}
    payload = json.dumps({"variants": kept, "shipped": {d: u for d, u in units.items() if d in used}},
                         ensure_ascii=False)  # fmt: skip
    cache.put(MANIFEST, manifest_key, payload, memory=False)


def _signatures(variant: dict[str, Any]) -> dict[str, Any] | None:
    observation = variant.get("observation")
    signatures = observation.get("signatures") if isinstance(observation, dict) else None
    return signatures if isinstance(signatures, dict) else None


def _shipped_content(variant: dict[str, Any]) -> list[str]:
    """The directories of the variant's shipped units ([] if malformed: it will not validate)."""
    try:
        units = variant["observation"]["content"]["shipped"]
        return [u[0] for u in units if isinstance(u, list) and len(u) == 3 and isinstance(u[0], str)]
    except (KeyError, TypeError):
        return []
