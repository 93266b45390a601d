"""Personal values sealed under their person's key, and opened again, or shown as erased (pure logic: the
in-memory keyring; the PostgreSQL keyring and the stores are tested in tests/integration/test_erasure.py)."""

from __future__ import annotations

import json
from datetime import date
from uuid import uuid4

import pytest

from services.runtime.keyring import InMemoryKeyring, MasterKeys, blind_index
from services.runtime.sealing import ERASED, SEALED, Sealer, SealingError, open_payloads, seal_payloads


def _json(v: object) -> bytes:
    return json.dumps(v, default=str).encode()


@pytest.fixture
def ring() -> InMemoryKeyring:
    return InMemoryKeyring()


def sealer(ring: InMemoryKeyring) -> Sealer:
    fields = ("given_name", "family_name", "date_of_birth", "reason")
    return Sealer(fields, lambda subjects, create: ring.keys(subjects, create=create))


def event(pupil, mother, father) -> dict:
    return {
        "school_urn": "123456",
        "primary_need": "SLCN",
        "given_name": "Łukasz",
        "family_name": "Nowak",
        "date_of_birth": "2015-03-01",
        "reason": "Speech therapy assessment",
        "email": None,
        "people_to_tell": [
            {"person_id": str(mother), "relationship": "mother", "name": "Anna Nowak", "email": "anna@example.org"},
            {"person_id": str(father), "relationship": "father", "name": "Piotr Nowak", "mobile": "07700 900123"},
        ],
        "meta": {"actor": {"user_id": "senco-1"}},
    }


def test_only_the_personal_values_are_sealed_each_under_its_own_persons_key(ring: InMemoryKeyring) -> None:
    pupil, mother, father = uuid4(), uuid4(), uuid4()
    s = sealer(ring)
    state = s.seal_with_keys(event(pupil, mother, father), pupil, _json)
    text = json.dumps(state)
    for personal in ("Łukasz", "Nowak", "2015-03-01", "Speech", "anna@", "07700"):
        assert personal not in text
    # the facts stay readable: codes, statuses, relationships, ids, who acted
    assert state["school_urn"] == "123456" and state["primary_need"] == "SLCN"
    assert state["people_to_tell"][0]["relationship"] == "mother" and state["meta"]["actor"]["user_id"] == "senco-1"
    assert state[SEALED]["s"] == str(pupil)
    assert [p[SEALED]["s"] for p in state["people_to_tell"]] == [str(mother), str(father)]
    assert state["email"] is None  # nothing personal in nothing

    s.open_with_keys(state, json.loads)
    assert state == event(pupil, mother, father)


def test_an_erased_person_reads_as_erased_and_the_others_still_read(ring: InMemoryKeyring) -> None:
    pupil, mother, father = uuid4(), uuid4(), uuid4()
    s = sealer(ring)
    stored = json.dumps(s.seal_with_keys(event(pupil, mother, father), pupil, _json))
    ring.erase([pupil, mother])
    state = s.open_with_keys(json.loads(stored), json.loads)
    assert (state["given_name"], state["family_name"], state["reason"]) == (ERASED, ERASED, ERASED)
    assert state["date_of_birth"] is None  # a date, though it travelled as text
    assert state["people_to_tell"][0] == {
        "person_id": str(mother),
        "relationship": "mother",
        "name": ERASED,
        "email": None,  # a contact detail is erased to nothing: no contract could take "[erased]" as an email
    }
    assert state["people_to_tell"][1]["name"] == "Piotr Nowak"  # the father was not erased
    assert state["school_urn"] == "123456"


def test_a_value_that_is_not_text_is_erased_to_nothing(ring: InMemoryKeyring) -> None:
    pupil = uuid4()
    s = sealer(ring)
    state = s.seal_with_keys({"date_of_birth": date(2015, 3, 1), "protected": {"town": "X"}}, pupil, _json)
    ring.erase([pupil])
    assert s.open_with_keys(json.loads(json.dumps(state)), json.loads) == {"protected": {"town": "X"}} | {
        "date_of_birth": None
    }


def test_nothing_personal_is_stored_about_someone_erased_nor_about_no_one(ring: InMemoryKeyring) -> None:
    pupil = uuid4()
    s = sealer(ring)
    ring.erase([pupil])
    # a fact about someone erased (a service reacting to an event it opened as stand-ins) holds only stand-ins
    assert s.seal_with_keys({"given_name": "Sam", "date_of_birth": "2015-01-01"}, pupil, _json) == {
        "given_name": ERASED,
        "date_of_birth": None,
    }
    with pytest.raises(SealingError, match="no person it belongs to"):
        s.seal_with_keys({"given_name": "Sam"}, None, _json)


def test_a_sealed_value_altered_is_refused_not_misread(ring: InMemoryKeyring) -> None:
    pupil = uuid4()
    s = sealer(ring)
    state = s.seal_with_keys({"given_name": "Sam"}, pupil, _json)
    other = s.seal_with_keys({"given_name": "Kim"}, uuid4(), _json)
    state[SEALED]["c"] = other[SEALED]["c"]  # another person's ciphertext under this person's id
    with pytest.raises(SealingError, match="do not open"):
        s.open_with_keys(state, json.loads)


def test_payloads_of_people_erased_since_travel_as_the_stand_ins(ring: InMemoryKeyring) -> None:
    pupil, mother = uuid4(), uuid4()
    s = sealer(ring)
    payload = {
        "pupil_id": str(pupil),
        "given_name": ERASED,
        "people_to_tell": [{"person_id": str(mother), "name": "A"}],
    }
    ring.keys([pupil], create=True)
    ring.erase([pupil])
    [sealed] = seal_payloads(s, [(payload, pupil)])
    assert sealed["given_name"] == ERASED and SEALED not in sealed
    assert sealed["people_to_tell"][0][SEALED]["s"] == str(mother)
    open_payloads(s, [sealed])
    assert sealed["people_to_tell"][0]["name"] == "A"


def test_the_blind_index_is_keyed() -> None:
    one, other = MasterKeys.generate(), MasterKeys.generate()
    assert blind_index(one.blind_index, "pupil", "A1") == blind_index(one.blind_index, "pupil", "A1")
    assert blind_index(one.blind_index, "pupil", "A1") != blind_index(other.blind_index, "pupil", "A1")
    assert blind_index(one.blind_index, "pupil", "A1") != blind_index(one.blind_index, "person", "A1")


def test_a_keys_file_round_trips_and_never_prints_a_key(tmp_path) -> None:
    path = MasterKeys.ensure(tmp_path / "keys")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    keys = MasterKeys.load(path)
    assert MasterKeys.ensure(tmp_path / "keys") == path and MasterKeys.load(path) == keys  # made once
    assert MasterKeys.from_json(keys.to_json()) == keys
    assert keys.to_json().count(":") >= 3 and str(keys).startswith("MasterKeys(current=")
    for secret in (keys.blind_index, *keys.wrapping.values()):
        assert secret.hex() not in repr(keys)
    with pytest.raises(ValueError, match="not a sendcase keys file"):
        MasterKeys.from_json('{"current": "x"}')
