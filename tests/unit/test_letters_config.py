"""The LA's letters configuration is checked whole at start: a file that is not right stops the notifications service
with one line naming the file, the line and the field, and what to do; Durham's, the second LA's and the development
default are right."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.notifications.bootstrap import letters_config
from services.notifications.letters_config import (
    DEFAULT_CONFIG,
    LettersConfigError,
    load_letters_config,
    parse_letters_config,
)
from services.notifications.settings import NotificationsSettings
from tests.support.every_letter import DURHAM, ILLUSTRATION_929

GOOD = DURHAM.read_text(encoding="utf-8")


def parsed(text: str, where: Path = DURHAM):
    return parse_letters_config(text, where)


@pytest.mark.parametrize("path", [DURHAM, ILLUSTRATION_929, DEFAULT_CONFIG], ids=["840", "929", "default"])
def test_the_shipped_files_are_right(path: Path) -> None:
    config = load_letters_config(path)
    sender = config.la_sender()
    assert sender["contact"]["email"] and sender["contact"]["phone"] and sender["signatory"]["name"]
    assert all(config.help_services()[k]["name"] for k in ("sendiass", "disagreement_resolution", "mediation"))


def test_durham_is_from_county_hall_with_the_casework_mailbox_of_its_toolkit() -> None:
    config = load_letters_config(DURHAM)
    sender = config.la_sender()
    assert sender["organisation"] == "Durham County Council" and sender["address"] == [
        "County Hall",
        "Durham",
        "DH1 5UL",
    ]
    assert sender["contact"]["email"] == "sencasework@durham.gov.uk"  # seed 004
    assert sender["logo"].startswith("data:image/svg+xml;base64,")
    assert config.messages.email == "full" and load_letters_config(ILLUSTRATION_929).messages.email == "notice_only"


def replaced(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (replaced('name = "SEN Casework Team"', 'nmae = "SEN Casework Team"'), "send_team.nmae: unknown setting"),
        (replaced('email = "sencasework@durham.gov.uk"', 'email = "send.team@gmail.com"'), "personal mailbox"),
        (
            replaced('email = "sencasework@durham.gov.uk"', 'email = "casework@send-services.example.org"'),
            "is not at one of mailbox_domains (durham.gov.uk, durhamlearning.net)",
        ),
        (replaced('phone = "03000 267 800"', 'phone = "267 800"'), "send_team.phone: a UK telephone number"),
        (replaced('postcode = "DH1 5UL"', 'postcode = "DH15"'), "postcode: a UK postcode"),
        (replaced('email = "full"', 'email = "some"'), "messages.email: Input should be 'full' or 'notice_only'"),
        (replaced("[schools.114999]", "[schools.1149]"), "[schools.123456], not [schools.1149]"),
        (replaced('logo = "logo.svg"', 'logo = "logo.gif"'), "logo: an SVG or PNG file"),
        (replaced('logo = "logo.svg"', 'logo = "missing.svg"'), "logo: cannot read"),
        (replaced('local_authority = "840"', 'local_authority = "84"'), "local_authority: String should match"),
        (GOOD.split("[sendiass]")[0], "sendiass: missing"),
        ("name = ", "not valid TOML"),
    ],
    ids=[
        "misspelt",
        "personal-mailbox",
        "mailbox-outside-domains",
        "phone",
        "postcode",
        "content-level",
        "urn",
        "logo-kind",
        "logo-missing",
        "la-code",
        "no-sendiass",
        "toml",
    ],
)
def test_a_file_that_is_not_right_is_refused_naming_the_field(text: str, expected: str) -> None:
    with pytest.raises(LettersConfigError) as refused:
        parsed(text)
    message = str(refused.value)
    assert message.startswith(f"letters configuration {DURHAM}: ") and expected in message, message


def test_the_refusal_names_the_line_at_fault() -> None:
    text = replaced('phone = "0191 587 3541"', 'phone = "0191"')
    line = text.splitlines().index('phone = "0191"') + 1
    with pytest.raises(LettersConfigError, match=rf"line {line}, sendiass.phone: a UK telephone number"):
        parsed(text)


def test_a_service_without_a_reachable_way_is_refused() -> None:
    text = replaced('phone = "0191 587 3541"\nemail = "iass@durham.gov.uk"\n', "")
    with pytest.raises(LettersConfigError, match="sendiass: give at least one of phone, email or website"):
        parsed(text)


def test_a_logo_too_large_for_every_letter_is_refused(tmp_path: Path) -> None:
    (tmp_path / "logo.svg").write_bytes(b"<svg>" + b" " * 20_000 + b"</svg>")
    with pytest.raises(LettersConfigError, match="at most 16384"):
        parse_letters_config(GOOD, tmp_path / "letters.toml")


def test_a_deployment_for_an_la_starts_only_with_that_las_own_file() -> None:
    with pytest.raises(LettersConfigError, match=r"serves LA 840 .* has no letters configuration"):
        letters_config(NotificationsSettings(local_authority_code="840"))
    with pytest.raises(LettersConfigError, match=r"is LA 929's .* but this deployment serves LA 840"):
        letters_config(NotificationsSettings(local_authority_code="840", letters_config=ILLUSTRATION_929))
    assert letters_config(NotificationsSettings(local_authority_code="840", letters_config=DURHAM)).local_authority == (
        "840"
    )
    assert letters_config(NotificationsSettings()).local_authority == "000"  # the demo LA: the development default
