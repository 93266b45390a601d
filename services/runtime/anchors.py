"""Anchors: a service's hash-chain head, signed and published outside its database (docs/audit.md).

Every `anchor_seconds` when its log moved, and once at a graceful stop, a service publishes a checkpoint

    {service, position, chain_hash, events, at, key_id, signature}

on the <PREFIX>_AUDIT stream (subject `<prefix>.audit.<service>.anchor`, Nats-Msg-Id `<service>:anchor:<position>`),
which denies deletes and purges and never discards a message: someone who can rewrite the database cannot
rewrite what was published there. The signature (Ed25519, over the checkpoint's other fields as canonical JSON)
says the checkpoint was made by the holder of the service's signing key, which is kept apart from the database
(`anchor_signing_key`: in `$SENDCASE_HOME/keys/` for the embedded stack, from the environment in production).
Verifiers need only the public key. `key_id` names the key that signed (the first 16 hex digits of the sha256 of
its raw public key), so that keys can be rotated: a verifier is given every public key in use over the years.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from contracts.subjects import audit_subject
from services.runtime.chain import chain_table_name
from services.runtime.clock import Clock
from services.runtime.logging import get_logger
from services.runtime.singleton import run_in_one_replica
from services.runtime.streams import every_message

log = get_logger(__name__)

PRIVATE_KEY_FILE = "anchor-signing-key.pem"
ANCHOR = "anchor"  # the event log's checkpoints: <prefix>.audit.<service>.anchor
PUBLIC_KEY_FILE = "anchor-signing-key.pub.pem"


class KeyProblem(ValueError):
    """A signing or public key that cannot be read."""


# -- keys ----------------------------------------------------------------------------------------------------


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _pem_or_file(value: str) -> bytes:
    if value.lstrip().startswith("-----BEGIN"):
        return value.encode()
    path = Path(value).expanduser()
    try:
        return path.read_bytes()
    except OSError as e:
        raise KeyProblem(f"cannot read the key file {path}: {e.strerror or e}") from None


def load_signing_key(value: str) -> Ed25519PrivateKey:
    """An Ed25519 private key from a PEM file's path or from the PEM itself (PKCS#8, unencrypted)."""
    try:
        key = serialization.load_pem_private_key(_pem_or_file(value), password=None)
    except (ValueError, TypeError) as e:
        raise KeyProblem(f"the anchor signing key is not an unencrypted PEM private key ({e})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyProblem(f"the anchor signing key is a {type(key).__name__}, not an Ed25519 key")
    return key


def ensure_signing_key(folder: Path) -> Path:
    """The signing key in `folder` (the embedded stack's `$SENDCASE_HOME/keys`), made on first use with its
    public key beside it. Safe when several processes start at once (the first to create the file wins)."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    private = folder / PRIVATE_KEY_FILE
    if not private.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        temporary = folder / f".{PRIVATE_KEY_FILE}.{os.getpid()}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        try:
            os.link(temporary, private)  # fails if another process made it meanwhile: theirs is kept
            log.info("anchors.key_created", path=str(private), key_id=key_id(key.public_key()))
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    public = folder / PUBLIC_KEY_FILE
    if not public.exists():
        public_key = load_signing_key(str(private)).public_key()
        public.write_bytes(
            public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
    return private


def load_public_keys(*values: str) -> dict[str, Ed25519PublicKey]:
    """Public keys by key id, from PEM files, folders of *.pem files or PEM text (a private key in one gives its
    public key)."""
    found: dict[str, Ed25519PublicKey] = {}
    for value in values:
        path = Path(value).expanduser()
        if not value.lstrip().startswith("-----BEGIN") and path.is_dir():
            texts = [p.read_bytes() for p in sorted(path.glob("*.pem"))]
        else:
            texts = [_pem_or_file(value)]
        for text in texts:
            for key in _keys_in(text):
                found[key_id(key)] = key
    return found


_PEM = re.compile(rb"-----BEGIN ([A-Z ]+)-----.*?-----END \1-----", re.S)


def _keys_in(text: bytes) -> list[Ed25519PublicKey]:
    keys: list[Ed25519PublicKey] = []
    for block in _PEM.finditer(text):
        try:
            if b"PRIVATE" in block.group(1):
                private = serialization.load_pem_private_key(block.group(0), password=None)
                if isinstance(private, Ed25519PrivateKey):
                    keys.append(private.public_key())
            else:
                public = serialization.load_pem_public_key(block.group(0))
                if isinstance(public, Ed25519PublicKey):
                    keys.append(public)
        except (ValueError, TypeError) as e:
            raise KeyProblem(f"a key that cannot be read ({e})") from None
    return keys


# -- checkpoints ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    service: str
    position: int  # the notification id of the chain's head
    chain_hash: str  # hex
    events: int  # events in the log up to and including `position`
    at: str  # ISO time it was made
    key_id: str = ""
    signature: str = ""  # base64 Ed25519 signature of signed_bytes()
    stream_sequence: int = field(default=0, compare=False)  # where it is on the stream (not signed)

    def signed_bytes(self) -> bytes:
        fields = {k: v for k, v in asdict(self).items() if k not in ("signature", "stream_sequence")}
        return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()

    def signed(self, key: Ed25519PrivateKey) -> Checkpoint:
        unsigned = replace(self, key_id=key_id(key.public_key()), signature="")
        return replace(unsigned, signature=base64.b64encode(key.sign(unsigned.signed_bytes())).decode())

    def to_json(self) -> bytes:
        fields = {k: v for k, v in asdict(self).items() if k != "stream_sequence"}
        return json.dumps(fields, sort_keys=True).encode()

    @classmethod
    def from_message(cls, data: bytes, stream_sequence: int = 0) -> Checkpoint:
        """Raises ValueError for a message that is not a checkpoint."""
        try:
            fields = json.loads(data)
            return cls(
                service=str(fields["service"]),
                position=int(fields["position"]),
                chain_hash=str(fields["chain_hash"]),
                events=int(fields["events"]),
                at=str(fields["at"]),
                key_id=str(fields.get("key_id", "")),
                signature=str(fields.get("signature", "")),
                stream_sequence=stream_sequence,
            )
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"not a checkpoint ({type(e).__name__}: {e})") from None

    def problem(self, keys: dict[str, Ed25519PublicKey]) -> str | None:
        """Why this checkpoint cannot be trusted (None: its signature is good)."""
        key = keys.get(self.key_id)
        if key is None:
            return f"it is signed with a key this check was not given (key id {self.key_id or 'none'})"
        try:
            key.verify(base64.b64decode(self.signature, validate=True), self.signed_bytes())
        except (InvalidSignature, ValueError):
            return f"its signature is not a valid signature of key {self.key_id}: it was not made by sendcase"
        return None


async def latest_checkpoint(
    js: JetStreamContext, stream: str, prefix: str, service: str, kind: str = ANCHOR
) -> Checkpoint | None:
    """The last checkpoint the service published (None: none yet) of its event log (or of its read log, kind
    "reads"). Raises ValueError for a malformed one."""
    try:
        msg = await js.get_last_msg(stream, audit_subject(prefix, service, kind))
    except NotFoundError:
        return None
    return Checkpoint.from_message(msg.data or b"", msg.seq or 0)


async def all_checkpoints(
    js: JetStreamContext, stream: str, prefix: str, service: str, kind: str = ANCHOR
) -> tuple[list[Checkpoint], list[tuple[int, str]]]:
    """Every checkpoint the service published (of its event log, or of its read log: kind "reads"), in stream
    order, and the messages that are not checkpoints (stream sequence, why). Read with a throw-away consumer that
    acknowledges nothing."""
    found: list[Checkpoint] = []
    malformed: list[tuple[int, str]] = []
    doing = f"sendcase audit verify {service}: reads the checkpoints"
    for msg in await every_message(js, stream, audit_subject(prefix, service, kind), doing):
        try:
            found.append(Checkpoint.from_message(msg.data, msg.metadata.sequence.stream))
        except ValueError as e:
            malformed.append((msg.metadata.sequence.stream, str(e)))
    return found, malformed


# -- publishing ----------------------------------------------------------------------------------------------


class Anchoring:
    """A service's supervised loop publishing its chain's head (one replica at a time), and its last anchor at
    a graceful stop (any replica: a checkpoint of a position already published is dropped as a duplicate).

    The event log's chain by default; the read log's (services/runtime/read_log.py) with `kind="reads"`,
    `chain_table` its table and `position_column="position"`: its checkpoints name `<service>.reads`."""

    name = "anchors"

    def __init__(
        self,
        service: str,
        events_table: str,
        key: Ed25519PrivateKey,
        js: JetStreamContext,
        pool: asyncpg.Pool,
        clock: Clock,
        *,
        prefix: str,
        stream: str,
        every_seconds: float,
        database_url: str,
        kind: str = ANCHOR,
        chain_table: str | None = None,
        position_column: str = "notification_id",
    ) -> None:
        self.service, self.key, self.js, self.pool, self.clock = service, key, js, pool, clock
        self.chain = chain_table or chain_table_name(events_table)
        self.kind, self.column = kind, position_column
        self.log_name = service if kind == ANCHOR else f"{service}.{kind}"  # what its checkpoints name
        if kind != ANCHOR:
            self.name = f"anchors:{kind}"
        self.prefix, self.stream, self.every, self.database_url = prefix, stream, every_seconds, database_url
        self.public = {key_id(key.public_key()): key.public_key()}
        self.last: Checkpoint | None = None
        self._lock = asyncio.Lock()

    async def run(self, runtime: Any = None) -> None:
        lock = f"{self.service}-anchors" if self.kind == ANCHOR else f"{self.service}-anchors-{self.kind}"
        await run_in_one_replica(self.database_url, lock, self.anchor_forever)

    async def anchor_forever(self) -> None:
        while True:
            await self.anchor_if_moved()
            await asyncio.sleep(self.every)

    async def _latest_trusted(self) -> Checkpoint | None:
        try:
            latest = await latest_checkpoint(self.js, self.stream, self.prefix, self.service, self.kind)
        except ValueError:
            return None
        return latest if latest is not None and latest.problem(self.public) is None else None

    async def anchor_if_moved(self) -> Checkpoint | None:
        """Publish a checkpoint of the chain's head if it moved since the last one (what was published, or
        None)."""
        async with self._lock:
            if self.last is None:
                self.last = await self._latest_trusted()
            column = self.column
            head = await self.pool.fetchrow(
                f'SELECT {column}, chain_hash FROM "{self.chain}" ORDER BY {column} DESC LIMIT 1'
            )
            if head is None or (self.last is not None and head[0] <= self.last.position):
                return None
            since = self.last.position if self.last is not None and self.last.position < head[0] else 0
            counted = await self.pool.fetchval(
                f'SELECT count(*) FROM "{self.chain}" WHERE {column} > $1 AND {column} <= $2',
                since,
                head[0],
            )
            events = counted + (self.last.events if since and self.last is not None else 0)
            checkpoint = Checkpoint(
                service=self.log_name,
                position=head[0],
                chain_hash=bytes(head["chain_hash"]).hex(),
                events=int(events),
                at=self.clock.now().isoformat(),
            ).signed(self.key)
            await self.js.publish(
                audit_subject(self.prefix, self.service, self.kind),
                checkpoint.to_json(),
                stream=self.stream,
                headers={"Nats-Msg-Id": f"{self.service}:{self.kind}:{checkpoint.position}"},
            )
            self.last = checkpoint
            log.info("anchors.published", log=self.log_name, position=checkpoint.position, events=checkpoint.events)
            return checkpoint


def checkpoint_time(checkpoint: Checkpoint) -> str:
    """When a checkpoint was made, for a person."""
    try:
        return datetime.fromisoformat(checkpoint.at).strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    except ValueError:
        return checkpoint.at
