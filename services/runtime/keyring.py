"""Keys per person, kept apart from the data they protect: what makes erasure by crypto-shredding possible.

Every person whose personal data sendcase holds (each pupil, each person with parental responsibility) has
their own data key (256-bit AES-GCM). The personal values in every stored event, and in every integration
event on the JetStream stream, are encrypted with their person's key (services/runtime/sealing.py).
Destroying the key erases the person everywhere at once: every event store, every copy on the stream, every
backup of either, with nothing stored ever changed (so the hash chain still verifies).

One keyring serves every service (docs/audit.md says why: one point of destruction, no copy under a key
that survives elsewhere). For the embedded stack it is a PostgreSQL database of its own (`sendcase_keys`),
each data key kept wrapped (AES-GCM) by a master key that is never in any database: a file in
$SENDCASE_HOME/keys, or the environment, or, in production, the LA's key management service behind this
same interface (`Keyring`). Unwrapped keys are cached in each process for at most `max_age` seconds, and a
process drops a person's key at once when it learns they were erased.

Key material is never logged, never on the stream, never in an event.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from contracts.identifiers import validate_upn

KEYS_FILE_NAME = "sendcase-keys.json"


@dataclass(frozen=True)
class MasterKeys:
    """The secrets the keyring needs, from a keys file (JSON) kept apart from every database.

    `wrapping`: master keys by id, each able to unwrap the data keys wrapped under it; new data keys are
    wrapped by `current` (rotation: add a key, make it current, `sendcase keys rewrap`, then drop the old).
    `blind_index`: the key of the keyed blind index (a pupil's id from their UPN): never rotated, since the
    ids every event and view carry are made with it.
    """

    wrapping: dict[str, bytes]
    current: str
    blind_index: bytes

    def __post_init__(self) -> None:
        if self.current not in self.wrapping:
            raise ValueError(f"the current master key {self.current!r} is not among the keys")
        for key_id, key in {**self.wrapping, "blind_index": self.blind_index}.items():
            if len(key) != 32:
                raise ValueError(f"key {key_id!r} must be 32 bytes (it is {len(key)})")

    def __repr__(self) -> str:  # never print a key
        return f"MasterKeys(current={self.current!r}, ids={sorted(self.wrapping)!r})"

    @classmethod
    def generate(cls) -> MasterKeys:
        key_id = "k" + time.strftime("%Y%m%d")
        return cls(wrapping={key_id: secrets.token_bytes(32)}, current=key_id, blind_index=secrets.token_bytes(32))

    def to_json(self) -> str:
        return json.dumps(
            {
                "current": self.current,
                "wrapping": {k: base64.b64encode(v).decode() for k, v in self.wrapping.items()},
                "blind_index": base64.b64encode(self.blind_index).decode(),
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> MasterKeys:
        try:
            data = json.loads(text)
            return cls(
                wrapping={k: base64.b64decode(v) for k, v in data["wrapping"].items()},
                current=data["current"],
                blind_index=base64.b64decode(data["blind_index"]),
            )
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"not a sendcase keys file: {type(e).__name__}: {e}") from None

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> MasterKeys:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))

    @classmethod
    def ensure(cls, folder: str | os.PathLike[str]) -> Path:
        """The keys file in `folder`, made (readable by its owner only) if missing: the embedded stack's."""
        directory = Path(folder)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = directory / KEYS_FILE_NAME
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(cls.generate().to_json())
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)  # never replaces a keys file another process made meanwhile
            tmp.unlink()
        return path


def blind_index(key: bytes, kind: str, value: str) -> bytes:
    """A keyed, deterministic token for a personal value (HMAC-SHA256): equal values give equal tokens, and
    nobody without the key can test a guess (a UPN has few enough possibilities to try them all)."""
    return hmac.digest(key, f"{kind}\x00{value}".encode(), "sha256")


class Keyring(Protocol):
    """Where each person's data key lives. `keys` returns, for each subject asked about, their key, or None
    when they were erased (or, with create=False, never had one)."""

    def keys(self, subjects: Iterable[UUID], *, create: bool) -> dict[UUID, bytes | None]: ...

    def erase(self, subjects: Iterable[UUID]) -> list[UUID]:
        """Destroy these people's keys; returns those whose key existed and is now gone."""
        ...

    def erased(self, subjects: Iterable[UUID]) -> set[UUID]: ...

    def forget(self, subjects: Iterable[UUID]) -> None:
        """Drop these people's keys from this process's cache (they were erased elsewhere)."""
        ...

    def blind_index(self, kind: str, value: str) -> bytes: ...


class _Cache:
    """Unwrapped keys (or the fact of erasure) by subject, each for at most max_age seconds."""

    def __init__(self, max_age: float) -> None:
        self.max_age = max_age
        self._entries: dict[UUID, tuple[bytes | None, float]] = {}
        self._lock = threading.Lock()

    def get(self, subjects: Iterable[UUID]) -> tuple[dict[UUID, bytes | None], list[UUID]]:
        found: dict[UUID, bytes | None] = {}
        missing: list[UUID] = []
        oldest = time.monotonic() - self.max_age
        entries = self._entries
        for s in subjects:
            entry = entries.get(s)
            if entry is not None and entry[1] >= oldest:
                found[s] = entry[0]
            elif s not in found:
                missing.append(s)
        return found, missing

    def put(self, keys: dict[UUID, bytes | None]) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._entries) > 500_000:
                self._entries.clear()
            for s, k in keys.items():
                self._entries[s] = (k, now)

    def drop(self, subjects: Iterable[UUID]) -> None:
        with self._lock:
            for s in subjects:
                self._entries.pop(s, None)


class InMemoryKeyring:
    """The keyring of unit tests and in-memory stores: the same behaviour, in this process only."""

    def __init__(self, master: MasterKeys | None = None) -> None:
        self.master = master or MasterKeys.generate()
        self._keys: dict[UUID, bytes | None] = {}
        self._lock = threading.Lock()

    def keys(self, subjects: Iterable[UUID], *, create: bool) -> dict[UUID, bytes | None]:
        found: dict[UUID, bytes | None] = {}
        with self._lock:
            for s in subjects:
                if s not in self._keys and create:
                    self._keys[s] = AESGCM.generate_key(256)
                found[s] = self._keys.get(s)
        return found

    def erase(self, subjects: Iterable[UUID]) -> list[UUID]:
        _keys_forgotten()
        gone = []
        with self._lock:
            for s in subjects:
                if self._keys.get(s) is not None:
                    gone.append(s)
                self._keys[s] = None
        return gone

    def erased(self, subjects: Iterable[UUID]) -> set[UUID]:
        return {s for s in subjects if s in self._keys and self._keys[s] is None}

    def forget(self, subjects: Iterable[UUID]) -> None:
        _keys_forgotten()

    def blind_index(self, kind: str, value: str) -> bytes:
        return blind_index(self.master.blind_index, kind, value)


class PostgresKeyring:
    """Data keys in a database of their own, each wrapped by a master key held outside every database."""

    def __init__(
        self,
        database_url: str,
        master: MasterKeys,
        *,
        max_age: float = 60.0,
        pool_size: int = 4,
        flushed_with_the_events: bool = False,
    ) -> None:
        """`flushed_with_the_events`: the keyring's database is on the same PostgreSQL server as the event store
        of the service using it (the embedded stack; service.open_keyring decides). A new key's commit then does
        not wait for its own flush to disk: the server writes one log, in order, so the commit of the events
        sealed with the key, which does wait, flushes the key's insert first. A key is never durable later than
        the events that need it, and a command is spared a second disk flush. (An erasure always waits.)"""
        import psycopg  # here: unit tests of pure logic need no PostgreSQL driver
        from psycopg_pool import ConnectionPool

        def configure(conn: Any) -> None:
            if flushed_with_the_events:
                conn.execute("SET synchronous_commit = off")

        self.master = master
        self._wrappers = {k: AESGCM(v) for k, v in master.wrapping.items()}
        self._cache = _Cache(max_age)
        self._pool = ConnectionPool(
            database_url,
            min_size=1,
            max_size=pool_size,
            open=True,
            kwargs={"autocommit": True},
            name="keyring",
            configure=configure,
        )
        self._operational = psycopg.OperationalError
        # Every service makes the table if it is missing, all at once on a first start: the losers of that race
        # find it made (CREATE TABLE IF NOT EXISTS can still collide on the catalogue: then it exists).
        with contextlib.suppress(psycopg.errors.UniqueViolation), self._pool.connection() as conn:
            conn.execute(
                """
                CREATE TABLE IF NOT EXISTS subject_keys (
                    subject_id    uuid PRIMARY KEY,
                    wrapped       bytea,        -- nonce + the data key wrapped by the master key; NULL once erased
                    master_key_id text NOT NULL,
                    created_at    timestamptz NOT NULL DEFAULT now(),
                    erased_at     timestamptz,
                    CHECK ((wrapped IS NULL) = (erased_at IS NOT NULL))
                )
                """
            )

    def close(self) -> None:
        self._pool.close()

    def _wrap(self, subject: UUID, key: bytes) -> bytes:
        nonce = secrets.token_bytes(12)
        return nonce + self._wrappers[self.master.current].encrypt(nonce, key, subject.bytes)

    def _unwrap(self, subject: UUID, master_key_id: str, wrapped: bytes) -> bytes:
        wrapper = self._wrappers.get(master_key_id)
        if wrapper is None:
            raise KeyError(f"the master key {master_key_id!r} that wrapped a data key is not in the keys file")
        return wrapper.decrypt(wrapped[:12], wrapped[12:], subject.bytes)

    def keys(self, subjects: Iterable[UUID], *, create: bool) -> dict[UUID, bytes | None]:
        wanted = list(subjects)
        try:
            return self._keys_once(wanted, create)
        except self._operational:  # pooled connections lost (the server restarted): replaced, then once more
            self._pool.check()
            return self._keys_once(wanted, create)

    def _keys_once(self, subjects: list[UUID], create: bool) -> dict[UUID, bytes | None]:
        found, missing = self._cache.get(subjects)
        if not missing:
            return found
        fetched: dict[UUID, bytes | None] = {}
        with self._pool.connection() as conn:
            if create:
                new = {s: AESGCM.generate_key(256) for s in missing}
                made = conn.execute(
                    "INSERT INTO subject_keys (subject_id, wrapped, master_key_id) "
                    "SELECT s, w, %b FROM unnest(%b::uuid[], %b::bytea[]) AS n(s, w) "
                    "ON CONFLICT (subject_id) DO NOTHING RETURNING subject_id",
                    # binary parameters: thousands of ids and keys a roll file, not written out as text in Python
                    (self.master.current, list(new), [self._wrap(s, k) for s, k in new.items()]),
                    binary=True,
                ).fetchall()
                fetched = {r[0]: new[r[0]] for r in made}  # made just now: no need to read and unwrap them
                missing = [s for s in missing if s not in fetched]
            rows = (
                conn.execute(
                    "SELECT subject_id, master_key_id, wrapped FROM subject_keys WHERE subject_id = ANY(%b)",
                    (missing,),
                    binary=True,
                ).fetchall()
                if missing
                else []
            )
        for subject, master_key_id, wrapped in rows:
            fetched[subject] = None if wrapped is None else self._unwrap(subject, master_key_id, bytes(wrapped))
        known = dict(fetched)
        for s in missing:
            fetched.setdefault(s, None)
        self._cache.put(known)  # never caches "no key yet": it may be made by another process next moment
        return {**found, **fetched}

    def erase(self, subjects: Iterable[UUID]) -> list[UUID]:
        wanted = list(dict.fromkeys(subjects))
        self._cache.drop(wanted)
        _keys_forgotten()
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SET LOCAL synchronous_commit = on")  # an erasure is on disk before it is answered
            rows = conn.execute(
                "UPDATE subject_keys SET wrapped = NULL, erased_at = now() "
                "WHERE subject_id = ANY(%s) AND wrapped IS NOT NULL RETURNING subject_id",
                (wanted,),
            ).fetchall()
            # A person never given a key is recorded as erased too, so no key can be made for them later.
            conn.execute(
                "INSERT INTO subject_keys (subject_id, wrapped, master_key_id, erased_at) "
                "SELECT s, NULL, %s, now() FROM unnest(%s::uuid[]) AS s ON CONFLICT (subject_id) DO NOTHING",
                (self.master.current, wanted),
            )
        self._cache.put(dict.fromkeys(wanted))
        return [r[0] for r in rows]

    def erased(self, subjects: Iterable[UUID]) -> set[UUID]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT subject_id FROM subject_keys WHERE subject_id = ANY(%s) AND wrapped IS NULL", (list(subjects),)
            ).fetchall()
        return {r[0] for r in rows}

    def forget(self, subjects: Iterable[UUID]) -> None:
        self._cache.drop(subjects)
        _keys_forgotten()

    def rewrap(self) -> int:
        """Wrap every data key not yet under the current master key by it (after a master key rotation)."""
        count = 0
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT subject_id, master_key_id, wrapped FROM subject_keys "
                "WHERE wrapped IS NOT NULL AND master_key_id <> %s",
                (self.master.current,),
            ).fetchall()
            for subject, master_key_id, wrapped in rows:
                key = self._unwrap(subject, master_key_id, bytes(wrapped))
                conn.execute(
                    "UPDATE subject_keys SET wrapped = %s, master_key_id = %s WHERE subject_id = %s AND wrapped = %s",
                    (self._wrap(subject, key), self.master.current, subject, wrapped),
                )
                count += 1
        return count

    def blind_index(self, kind: str, value: str) -> bytes:
        return blind_index(self.master.blind_index, kind, value)

    def summary(self) -> dict[str, Any]:
        """Counts only, never a key: people with a key, erased, and how many keys each master key wraps."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT master_key_id, count(*) FILTER (WHERE wrapped IS NOT NULL), "
                "count(*) FILTER (WHERE wrapped IS NULL) FROM subject_keys GROUP BY master_key_id"
            ).fetchall()
        return {
            "people": sum(r[1] + r[2] for r in rows),
            "erased": sum(r[2] for r in rows),
            "wrapped_by": {r[0]: r[1] for r in rows if r[1]},
            "current": self.master.current,
        }


# What else holds keys in this process (the sealers' ciphers, one set a service's application), told to drop
# them when keys are forgotten or destroyed here: an erased key leaves the process's memory at once, not only the
# keyring's cache.
_droppers: list[Callable[[], None]] = []


def when_keys_forgotten(drop: Callable[[], None]) -> None:
    _droppers.append(drop)


def _keys_forgotten() -> None:
    for drop in list(_droppers):
        drop()


# The process's keyring: a process serves one service (or, in tests, several sharing one keyring, as the
# services of one deployment do). Set once at start (services/runtime/service.py), read where events are
# sealed and opened.
_keyring: Keyring | None = None


def use_keyring(keyring: Keyring | None) -> None:
    global _keyring
    _keyring = keyring


def current_keyring() -> Keyring:
    if _keyring is None:
        raise RuntimeError(
            "no keyring: a service sets one at start from its keys file (settings keys_file; docs/audit.md)"
        )
    return _keyring


def pupil_id_for(upn: str) -> UUID:
    """The id every service knows a pupil by, from the UPN: the register keys each pupil's record by it, so any
    service, the CLI or a gateway can name a pupil by UPN. A mistyped UPN raises ValueError saying so (the check
    letter), as contracts' `Upn` does."""
    return keyed_id("pupil", validate_upn(upn))


def person_id_for(pupil_upn: str, number: int, name: str) -> UUID:
    """The id of the `number`th person with parental responsibility named on a pupil's record (a roll file's
    contact columns, the CLI's --person), from the keyed blind index: never guessable from the names."""
    return keyed_id("person", f"{pupil_upn}\x00{number}\x00{name}")


def keyed_id(kind: str, value: str) -> UUID:
    """A stable id for a thing known by a personal value (a pupil by their UPN), from the keyed blind index:
    the same value always gives the same id, and nobody without the deployment's blind-index key can tell
    which value an id stands for."""
    return UUID(bytes=current_keyring().blind_index(kind, value)[:16], version=4)
