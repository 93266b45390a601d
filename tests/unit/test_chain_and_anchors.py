"""The hash chain's hashes and the checkpoints' signatures, as pure logic."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import pytest

from services.runtime.anchors import (
    Checkpoint,
    KeyProblem,
    ensure_signing_key,
    key_id,
    load_public_keys,
    load_signing_key,
)
from services.runtime.chain import GENESIS, content_hash, link, links

OID = UUID("12345678-1234-5678-1234-567812345678")


def test_each_field_counts_and_no_two_events_share_an_encoding() -> None:
    base = content_hash(OID, 1, "a.B", b'{"x":1}')
    assert content_hash(OID, 1, "a.B", b'{"x":1}') == base
    assert content_hash(OID, 2, "a.B", b'{"x":1}') != base
    assert content_hash(OID, 1, "a.C", b'{"x":1}') != base
    assert content_hash(OID, 1, "a.B", b'{"x":2}') != base
    # moving bytes from the topic to the state is a different event (the fields are length-prefixed)
    assert content_hash(OID, 1, "ab", b"c") != content_hash(OID, 1, "a", b"bc")


def test_each_link_depends_on_the_one_before_and_on_its_position() -> None:
    contents = [content_hash(OID, v, "t", b"s") for v in (1, 2, 3)]
    chain = links(GENESIS, [1, 2, 3], contents)
    assert chain[0] == link(GENESIS, 1, contents[0])
    assert chain[2] == link(chain[1], 3, contents[2])
    assert links(GENESIS, [1, 2, 4], contents)[2] != chain[2]  # the same events at other positions
    assert links(GENESIS, [1, 2, 3], [contents[1], contents[0], contents[2]])[2] != chain[2]  # reordered


def test_a_checkpoint_signed_is_trusted_and_any_change_to_it_is_not(tmp_path: Path) -> None:
    key = load_signing_key(str(ensure_signing_key(tmp_path / "keys")))
    keys = load_public_keys(str(tmp_path / "keys"))
    assert list(keys) == [key_id(key.public_key())]
    checkpoint = Checkpoint("register", 42, "ab" * 32, 40, "2026-11-23T10:30:00+00:00").signed(key)
    assert checkpoint.problem(keys) is None
    assert Checkpoint.from_message(checkpoint.to_json(), 7) == checkpoint
    for change in ({"position": 43}, {"chain_hash": "cd" * 32}, {"events": 41}, {"service": "notifications"}):
        forged = Checkpoint(**{**checkpoint.__dict__, **change})
        assert "not a valid signature" in (forged.problem(keys) or "")
    other = load_signing_key(str(ensure_signing_key(tmp_path / "other")))
    assert "was not given" in (Checkpoint("register", 1, "00", 1, "x").signed(other).problem(keys) or "")


def test_the_embedded_key_is_made_once_readable_only_by_its_owner(tmp_path: Path) -> None:
    first = ensure_signing_key(tmp_path)
    assert ensure_signing_key(tmp_path) == first
    assert first.stat().st_mode & 0o077 == 0
    assert load_signing_key(first.read_text()).public_key() is not None  # the PEM itself, as an env var holds it


def test_a_key_that_is_not_an_ed25519_pem_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(KeyProblem, match="cannot read the key file"):
        load_signing_key(str(tmp_path / "nowhere.pem"))
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    with pytest.raises(KeyProblem, match="not an unencrypted PEM private key"):
        load_signing_key(str(bad))
