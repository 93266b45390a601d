"""Personal values sealed, each under its own person's key, inside events that otherwise stay readable.

A service names its personal fields once (`SendcaseApplication.personal_fields`: a pupil's names, UPN, date
of birth, free text about the child...). Wherever those names occur in a stored domain event's state, or in
an integration event's payload, their values are taken out and put, encrypted (AES-GCM, 96-bit random
nonce, the person's id as associated data), into one `_sealed` value at that level:

    {"school_urn": "123456", "primary_need": "SLCN", "effective_date": "2026-09-01",
     "_sealed": {"s": "<pupil id>", "f": {"given_name": "t", "date_of_birth": "n"}, "c": "<base64>"},
     "people_to_tell": [{"person_id": "<id>", "relationship": "mother", "_sealed": {"s": "<id>", ...}}]}

Whose key: a dict holding a `person_id` (someone to tell, a parent) is that person's; every other level is
the event's data subject (the pupil: the aggregate's `data_subject`, or the payload's `pupil_id`). Dates,
statuses, codes, decisions and ids stay readable, so statutory facts and counts survive erasure. `f` names
the sealed fields (names only) and what stands in for each once the key is gone: "t" the text "[erased]",
"n" nothing (None). Opening an event whose person was erased gives those stand-ins; nothing stored changes.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from contracts.envelope import EventEnvelope
from services.runtime.keyring import current_keyring, when_keys_forgotten

ERASED = "[erased]"
SEALED = "_sealed"
# The personal fields of anyone recorded as a person to tell (contracts.people.PersonToTell and the dicts the
# services keep of them): in a dict with a person_id, these are sealed under that person's key.
PERSON_FIELDS = frozenset({"name", "email", "mobile", "postal_address"})
PERSON_ID = "person_id"
# Fields whose stand-in once erased is nothing (None) even when they were held as text (a date in an integration
# event's JSON, a contact detail): the contracts that carry them accept None.
NOTHING_WHEN_ERASED = frozenset({"date_of_birth", "email", "mobile", "postal_address", "protected_address"})


def _kind(field: str, value: Any) -> str:
    return "t" if isinstance(value, str) and field not in NOTHING_WHEN_ERASED else "n"


class SealingError(Exception):
    pass


def _person(value: Any) -> UUID | None:
    if type(value) is dict:
        pid = value.get(PERSON_ID)
        if pid is not None:
            return pid if type(pid) is UUID else UUID(str(pid))
    return None


_PLAIN = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # the C encoder; TypeError on a date

# Never personal, never walked: the stored metadata (who acted, correlation) and what is sealed already.
_NOT_WALKED = frozenset({"meta", SEALED})


class Unprepared(KeyError):
    """A person whose key was not fetched before sealing (the caller fetches it and seals again)."""


class Sealer:
    """Seals and opens one service's events. `keys(subjects, create)` is the keyring's lookup."""

    def __init__(
        self, personal_fields: Iterable[str], keys: Callable[[Iterable[UUID], bool], dict[UUID, bytes | None]]
    ) -> None:
        self.personal_fields = frozenset(personal_fields)
        self._keys = keys
        self._ciphers: dict[bytes, AESGCM] = {}
        when_keys_forgotten(self._ciphers.clear)  # an erased key leaves this process's memory with the keyring's

    # -------------------------------------------------------------------------------------------------
    # Whose keys a state needs

    def subjects_to_seal(
        self, state: dict[str, Any], subject: UUID | None, into: set[UUID], *, person: bool = False
    ) -> None:
        """Add to `into` every person whose key sealing this state will need (as `seal` walks it)."""
        personal = PERSON_FIELDS | self.personal_fields if person else self.personal_fields
        own = False
        for k, v in state.items():
            if v is None or k in _NOT_WALKED:
                continue
            t = type(v)
            if t is dict:
                pid = _person(v)
                if pid is not None:
                    self.subjects_to_seal(v, pid, into, person=True)
                elif k in personal:
                    own = True
                else:
                    self.subjects_to_seal(v, subject, into)
            elif k in personal:
                own = True
            elif t is list and v and type(v[0]) is dict:
                for item in v:
                    pid = _person(item)
                    self.subjects_to_seal(item, pid or subject, into, person=pid is not None)
        if own:
            if subject is None:
                raise SealingError(
                    f"personal data ({', '.join(sorted(k for k in state if k in personal))}) with no "
                    "person it belongs to: give the event's aggregate a data_subject"
                )
            into.add(subject)

    # -------------------------------------------------------------------------------------------------
    # Sealing

    def _cipher(self, key: bytes) -> AESGCM:
        cipher = self._ciphers.get(key)
        if cipher is None:
            if len(self._ciphers) > 200_000:
                self._ciphers.clear()
            cipher = self._ciphers[key] = AESGCM(key)
        return cipher

    def seal(
        self,
        state: dict[str, Any],
        subject: UUID | None,
        keys: dict[UUID, bytes | None],
        encode: Callable[[Any], bytes],
        *,
        person: bool = False,
    ) -> dict[str, Any]:
        """A copy of `state` with its personal values sealed (`keys` must hold every subject's key: else
        Unprepared). A person already erased: their values stored as the stand-ins."""
        out: dict[str, Any] = {}
        taken: dict[str, Any] = {}
        personal = PERSON_FIELDS | self.personal_fields if person else self.personal_fields
        for k, v in state.items():
            if v is None or k in _NOT_WALKED:
                out[k] = v
                continue
            t = type(v)
            if t is dict:
                pid = _person(v)
                if pid is not None:
                    out[k] = self.seal(v, pid, keys, encode, person=True)
                elif k in personal:
                    taken[k] = v
                else:
                    out[k] = self.seal(v, subject, keys, encode)
            elif k in personal:
                taken[k] = v
            elif t is list and v and type(v[0]) is dict:
                out[k] = [self._seal_item(i, subject, keys, encode) for i in v]
            else:
                out[k] = v
        if taken:
            if subject is None:
                raise SealingError(
                    f"personal data ({', '.join(sorted(taken))}) with no person it belongs to: give the event's "
                    "aggregate a data_subject"
                )
            if subject not in keys:
                raise Unprepared(subject)
            key = keys[subject]
            if key is None:
                # Someone erased: a fact about them recorded or re-published after the erasure (a service reacting
                # to an event it received opened as stand-ins) holds the stand-ins, which are nothing personal;
                # nothing else of theirs can be recorded (the services refuse changes to an erased record first).
                out.update({k: ERASED if _kind(k, v) == "t" else None for k, v in taken.items()})
                return out
            nonce = os.urandom(12)
            dates = [k for k, v in taken.items() if type(v) is date]
            plain_values = {**taken, **{k: taken[k].isoformat() for k in dates}} if dates else taken
            try:  # plain JSON when the values are (text, numbers, dates, lists of them: all of them, so far)
                plain, transcoded = _PLAIN.encode(plain_values).encode(), False
            except TypeError:  # an id, an instant: the service's transcoder, as for the rest of the event
                plain, transcoded, dates = encode(taken), True, []
            whose = str(subject)
            ciphertext = self._cipher(key).encrypt(nonce, plain, whose.encode())  # bound to whose it is
            out[SEALED] = {
                "s": whose,
                "f": {k: _kind(k, v) for k, v in taken.items()},
                "c": base64.b64encode(nonce + ciphertext).decode("ascii"),
            }
            if transcoded:
                out[SEALED]["t"] = 1
            elif dates:
                out[SEALED]["d"] = dates  # held as ISO text inside: made dates again when opened
        return out

    def _seal_item(
        self,
        item: Any,
        subject: UUID | None,
        keys: dict[UUID, bytes | None],
        encode: Callable[[Any], bytes],
    ) -> Any:
        if not isinstance(item, dict):
            return item
        pid = _person(item)
        return self.seal(item, pid or subject, keys, encode, person=pid is not None)

    def seal_with_keys(
        self, state: dict[str, Any], subject: UUID | None, encode: Callable[[Any], bytes]
    ) -> dict[str, Any]:
        """Seal one state, fetching (or making) the keys it needs."""
        wanted: set[UUID] = set()
        self.subjects_to_seal(state, subject, wanted)
        if not wanted:
            return state
        return self.seal(state, subject, self._keys(wanted, True), encode)

    # -------------------------------------------------------------------------------------------------
    # Opening

    @staticmethod
    def _collect(state: dict[str, Any], into: list[tuple[dict[str, Any], dict[str, Any], str]]) -> None:
        """Every dict in `state` holding sealed values (with the values and whose they are), in one walk."""
        for k, v in state.items():
            t = type(v)
            if t is dict:
                if k == SEALED:
                    into.append((state, v, v["s"]))
                elif k != "meta":
                    Sealer._collect(v, into)
            elif t is list:
                for item in v:
                    if type(item) is dict:
                        Sealer._collect(item, into)

    def _open_found(
        self,
        found: list[tuple[dict[str, Any], dict[str, Any], str]],
        keys: dict[str, bytes | None],
        decode: Callable[[bytes], Any],
    ) -> None:
        for holder, sealed, subject in found:
            del holder[SEALED]
            key = keys.get(subject)
            values: dict[str, Any] | None = None
            if key is not None:
                raw = base64.b64decode(sealed["c"])
                try:
                    plain = self._cipher(key).decrypt(raw[:12], raw[12:], subject.encode())
                except InvalidTag:
                    raise SealingError(
                        f"sealed values of person {subject} do not open with their key: altered?"
                    ) from None
                if sealed.get("t"):
                    values = decode(plain)
                else:
                    values = json.loads(plain)
                    for k in sealed.get("d", ()):
                        values[k] = date.fromisoformat(values[k])
            if values is None:
                values = {k: ERASED if kind == "t" else None for k, kind in sealed["f"].items()}
            holder.update(values)

    def open_with_keys(self, state: dict[str, Any], decode: Callable[[bytes], Any]) -> dict[str, Any]:
        self.open_many([state], decode)
        return state

    def open_many(self, states: list[dict[str, Any]], decode: Callable[[bytes], Any]) -> None:
        """Open many states, with one keyring lookup for all their people."""
        found: list[tuple[dict[str, Any], dict[str, Any], str]] = []
        for state in states:
            self._collect(state, found)
        if found:
            keys = self._keys({UUID(s) for s in {f[2] for f in found}}, False)
            self._open_found(found, {str(k): v for k, v in keys.items()}, decode)


# ---------------------------------------------------------------------------------------------------------
# Integration events: payloads are JSON already (contracts models dumped in JSON mode)


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def seal_payloads(sealer: Sealer, payloads: list[tuple[dict[str, Any], UUID | None]]) -> list[dict[str, Any]]:
    """Integration event payloads (each with its data subject, the pupil) sealed as the stored events are,
    with one keyring lookup for the page. A person erased since: their values travel as the stand-ins."""
    wanted: set[UUID] = set()
    for payload, subject in payloads:
        sealer.subjects_to_seal(payload, subject, wanted)
    keys = sealer._keys(wanted, True) if wanted else {}
    return [sealer.seal(p, s, keys, _json) if wanted else p for p, s in payloads]


def open_payloads(sealer: Sealer, payloads: list[dict[str, Any]]) -> None:
    """Open integration event payloads in place (stand-ins for people erased)."""
    sealer.open_many(payloads, json.loads)


def keyring_keys(subjects: Iterable[UUID], create: bool) -> dict[UUID, bytes | None]:
    return current_keyring().keys(subjects, create=create)


_OPENER = Sealer((), keyring_keys)  # opening needs no field names: each sealed value says what it holds


def opened(envelopes: Sequence[EventEnvelope]) -> list[EventEnvelope]:
    """Received integration events with their payloads opened in place (each envelope's payload is its own,
    parsed from its message), with one keyring lookup for them all. Run off the event loop: the keyring may be
    asked."""
    found: list[tuple[dict[str, Any], dict[str, Any], str]] = []
    for e in envelopes:
        Sealer._collect(e.payload, found)
    if found:
        keys = keyring_keys({UUID(s) for s in {f[2] for f in found}}, False)
        _OPENER._open_found(found, {str(k): v for k, v in keys.items()}, json.loads)
    return list(envelopes)
