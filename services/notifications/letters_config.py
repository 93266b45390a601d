"""Who each message is from, where families get help, and how much an email or text says: the LA's letters
configuration (a TOML file per LA, infra/local_authorities/<code>/letters.toml; the development default beside this
module), read once at start and refused whole, naming the line and field at fault, when anything in it is not right.

Why a file here, and not facts on the register's events: who signs a school's letters, the school's mailbox, the
LA's SEND team, its SENDIASS and mediation service are the LA's and its schools' standing arrangements, not facts
about a child. They change on their own timetable (a new SENCO, a new phone number), must be the same on every
message, and are checked once, at start, rather than trusted to every event that names a school. So notifications
reads them, keyed by the LA (this deployment's) and the school's URN (on every register and plans event), and
records what it used on each notification (its facts), so the record shows who a letter was from on the day.

    local_authority = "840"
    name = "Durham County Council"
    address = ["County Hall", "Durham"]
    postcode = "DH1 5UL"
    logo = "logo.svg"                       # optional: beside this file; SVG or PNG, at most 16 KB
    mailbox_domains = ["durham.gov.uk"]     # every mailbox below is at one of these: the LA's (or a school's) own

    [send_team]                             # writes the LA's letters; families contact it
    name = "SEND Casework Team"
    email = "sencasework@durham.gov.uk"     # a team mailbox: never a person's own address
    phone = "03000 267 800"
    responsible_officer = "Head of SEND and Inclusion"   # a title: signs the LA's letters

    [messages]                              # how much an email or a text says about the child
    email = "full"                          # or "notice_only": that a letter is waiting, and how it reaches them
    text = "full"

    [sendiass]                              # the LA's SEND information, advice and support service (CoP 2.17)
    [disagreement_resolution]               # CoP 11.7-11.12
    [mediation]                             # CoP 11.13-11.38
    # each: name, and at least one of phone, email, website

    [schools.114230]                        # a school by its URN
    name = "Brook Lane Primary School"
    address = ["Brook Lane", "Durham"]
    postcode = "DH1 2AA"
    senco = "Mrs A Khan"                    # the SENCO's name (or a title)
    email = "senco@brooklane.durham.sch.uk" # the school's SEN mailbox
    phone = "0191 000 0000"
"""

from __future__ import annotations

import base64
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from services.runtime.errors import ConfigurationError

DEFAULT_CONFIG = Path(__file__).resolve().parent / "default_letters.toml"
LOGO_MOST_BYTES = 16 * 1024
LOGO_TYPES = {".svg": "image/svg+xml", ".png": "image/png"}
# Mailboxes a person keeps when they leave: never on a letter (the LA could not take them back).
PERSONAL_MAIL = {
    "gmail.com",
    "googlemail.com",
    "hotmail.com",
    "hotmail.co.uk",
    "outlook.com",
    "live.com",
    "live.co.uk",
    "msn.com",
    "yahoo.com",
    "yahoo.co.uk",
    "icloud.com",
    "me.com",
    "aol.com",
    "btinternet.com",
    "sky.com",
    "virginmedia.com",
    "talktalk.net",
    "protonmail.com",
    "proton.me",
    "gmx.com",
    "mail.com",
}
UK_PHONE = re.compile(r"^(\+44 ?|0)[0-9 ]+$")
POSTCODE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}$")


class LettersConfigError(ConfigurationError):
    """A letters configuration that cannot be used, and where in its file the fault is."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _phone(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    national = digits[2:] if value.startswith("+44") else digits[1:]
    if not UK_PHONE.match(value) or len(national) not in (9, 10):
        raise ValueError(f"a UK telephone number (e.g. '03000 267 800' or '+44 3000 267 800'), not {value!r}")
    return value


def _postcode(value: str) -> str:
    found = re.sub(r"\s+", " ", value.strip().upper())
    if not POSTCODE.match(found):
        raise ValueError(f"a UK postcode (e.g. 'DH1 5UL'), not {value!r}")
    return found


Phone = Annotated[str, AfterValidator(_phone)]
Postcode = Annotated[str, AfterValidator(_postcode)]


class Service(_Strict):
    """A service a family is told about: SENDIASS, disagreement resolution, mediation."""

    name: str = Field(min_length=3, max_length=200)
    phone: Phone | None = None
    email: EmailStr | None = None
    website: str | None = Field(default=None, pattern=r"^https://[^\s]+$")
    hours: str | None = Field(default=None, max_length=200)  # "Monday to Friday, 9am to 4.30pm"

    @model_validator(mode="after")
    def _reachable(self) -> Service:
        if not (self.phone or self.email or self.website):
            raise ValueError("give at least one of phone, email or website, so that a family can reach it")
        return self


class SendTeam(_Strict):
    name: str = Field(min_length=3, max_length=200)
    email: EmailStr
    phone: Phone
    responsible_officer: str = Field(min_length=3, max_length=200)


class Messages(_Strict):
    email: Literal["full", "notice_only"] = "full"
    text: Literal["full", "notice_only"] = "full"


class School(_Strict):
    name: str = Field(min_length=3, max_length=200)
    address: list[str] = Field(min_length=1, max_length=5)
    postcode: Postcode
    senco: str = Field(min_length=3, max_length=200)  # the SENCO's name, or a title
    senco_role: str = Field(default="Special educational needs co-ordinator (SENCO)", max_length=200)
    email: EmailStr
    phone: Phone


class _File(_Strict):
    local_authority: str = Field(pattern=r"^\d{3}$")
    name: str = Field(min_length=3, max_length=200)
    address: list[str] = Field(min_length=1, max_length=5)
    postcode: Postcode
    logo: str | None = None
    website: str | None = Field(default=None, pattern=r"^https://[^\s]+$")
    mailbox_domains: list[str] = Field(min_length=1)
    send_team: SendTeam
    messages: Messages = Messages()
    sendiass: Service
    disagreement_resolution: Service
    mediation: Service
    schools: dict[str, School] = Field(default_factory=dict)

    @field_validator("schools")
    @classmethod
    def _urns(cls, value: dict[str, School]) -> dict[str, School]:
        for urn in value:
            if not re.fullmatch(r"\d{6}", urn):
                raise ValueError(f"a school is keyed by its six-digit URN: [schools.123456], not [schools.{urn}]")
        return value


@dataclass(frozen=True)
class LettersConfig:
    """The LA's letters configuration, checked. `sender(...)` and `help_services()` are what a message states."""

    file: _File
    source: str
    logo_data_uri: str | None

    @property
    def local_authority(self) -> str:
        return self.file.local_authority

    @property
    def messages(self) -> Messages:
        return self.file.messages

    def la_sender(self) -> dict[str, Any]:
        """The LA as the sender of its letters: name, address, logo, the officer responsible (by title) and the
        team's mailbox and phone."""
        f = self.file
        return {
            "kind": "la",
            "organisation": f.name,
            "address": [*f.address, f.postcode],
            "logo": self.logo_data_uri,
            "website": f.website,
            "signatory": {"name": f.send_team.responsible_officer, "role": f.name},
            "contact": {"name": f.send_team.name, "email": str(f.send_team.email), "phone": f.send_team.phone},
            "standing_in_for": None,
        }

    def school_sender(self, urn: str | None) -> dict[str, Any]:
        """A school as the sender of its letters; a school this file does not list: the LA's SEND team writes
        for it (the message is never held up for a letterhead), and the record says so (`standing_in_for`)."""
        school = self.file.schools.get(urn or "")
        if school is None:
            return {**self.la_sender(), "standing_in_for": f"school {urn}" if urn else "the school"}
        return {
            "kind": "school",
            "organisation": school.name,
            "address": [*school.address, school.postcode],
            "logo": None,
            "website": None,
            "signatory": {"name": school.senco, "role": school.senco_role},
            "contact": {
                "name": f"{school.senco}, {school.senco_role}",
                "email": str(school.email),
                "phone": school.phone,
            },
            "standing_in_for": None,
        }

    def help_services(self) -> dict[str, Any]:
        """SENDIASS, disagreement resolution and mediation, as a message states them."""
        f = self.file
        return {
            key: getattr(f, key).model_dump(mode="json") for key in ("sendiass", "disagreement_resolution", "mediation")
        } | {"la_name": f.name, "la_website": f.website}


def load_letters_config(path: str | Path | None) -> LettersConfig:
    """The configuration in a file (None: the development default). Raises LettersConfigError naming the file, the
    line and the field at fault."""
    where = Path(path) if path is not None else DEFAULT_CONFIG
    try:
        text = where.read_text(encoding="utf-8")
    except OSError as e:
        raise LettersConfigError(f"letters configuration {where}: cannot read it ({e.strerror or e})") from None
    return parse_letters_config(text, where)


def parse_letters_config(text: str, where: Path) -> LettersConfig:
    source = str(where)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise LettersConfigError(f"letters configuration {source}: not valid TOML: {e}") from None
    lines = text.splitlines()
    try:
        checked = _File.model_validate(data)
    except ValidationError as e:
        errors = e.errors()
        # a misspelt setting first: the "missing" one it leaves is the same fault
        first = next((x for x in errors if x["type"] == "extra_forbidden"), errors[0])
        path = tuple(str(p) for p in first["loc"])
        problem = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            problem = "unknown setting (a misspelling?)"
        elif first["type"] == "missing":
            problem = "missing"
        raise _fault(source, lines, path, problem) from None
    _check_mailboxes(checked, source, lines)
    logo = _logo(checked, where, lines) if checked.logo else None
    return LettersConfig(file=checked, source=source, logo_data_uri=logo)


def _check_mailboxes(f: _File, source: str, lines: list[str]) -> None:
    """Every mailbox on a letter is one the LA (or the school) controls: at a domain the file lists, never at a
    provider people keep their own mail with."""
    domains = [d.lower().lstrip("@") for d in f.mailbox_domains]
    found: list[tuple[tuple[str, ...], str]] = [(("send_team", "email"), str(f.send_team.email))]
    found += [(("schools", urn, "email"), str(s.email)) for urn, s in f.schools.items()]
    for key in ("sendiass", "disagreement_resolution", "mediation"):
        email = getattr(f, key).email
        if email:
            found.append(((key, "email"), str(email)))
    for path, email in found:
        domain = email.rsplit("@", 1)[1].lower()
        if domain in PERSONAL_MAIL:
            raise _fault(source, lines, path, f"{email} is a personal mailbox: give a team or school mailbox")
        if path[0] in ("send_team", "schools") and not any(domain == d or domain.endswith("." + d) for d in domains):
            raise _fault(
                source,
                lines,
                path,
                f"{email} is not at one of mailbox_domains ({', '.join(domains)}): give a mailbox the LA or the "
                "school controls (and can take back when a person leaves), or add its domain",
            )


def _logo(f: _File, where: Path, lines: list[str]) -> str:
    assert f.logo is not None
    path = (where.parent / f.logo).resolve()
    kind = LOGO_TYPES.get(path.suffix.lower())
    if kind is None:
        raise _fault(str(where), lines, ("logo",), f"an SVG or PNG file, not {f.logo!r}")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise _fault(str(where), lines, ("logo",), f"cannot read {path} ({e.strerror or e})") from None
    if len(data) > LOGO_MOST_BYTES:
        raise _fault(
            str(where),
            lines,
            ("logo",),
            f"{path} is {len(data)} bytes: at most {LOGO_MOST_BYTES} (it is on every letter)",
        )
    return f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"


def _fault(source: str, lines: list[str], path: tuple[str, ...], problem: str) -> LettersConfigError:
    line = _line_of(lines, path)
    at = f"line {line}, " if line else ""
    return LettersConfigError(f"letters configuration {source}: {at}{'.'.join(path)}: {problem}")


def _line_of(lines: list[str], path: tuple[str, ...]) -> int | None:
    """The line a field is on (1-based): tomllib says where a syntax error is, not where a value came from. The table
    is found by its header ([send_team], [schools.123456]), then the key within it; a whole table: its header."""
    if not path:
        return None
    tables, key = (path[:-1], path[-1]) if len(path) > 1 else ((), path[0])
    start = 0
    dot = r"\s*\.\s*"
    if tables:
        dotted = dot.join(rf'"?{re.escape(t)}"?' for t in tables)
        header = re.compile(rf"^\s*\[\s*{dotted}\s*\]")
        start = next((i for i, line in enumerate(lines) if header.match(line)), -1)
        if start < 0:
            return None
    whole_path = dot.join(re.escape(p) for p in path)
    whole = re.compile(rf"^\s*\[\s*{whole_path}\s*\]")
    for i, line in enumerate(lines):
        if whole.match(line):
            return i + 1
    assign = re.compile(rf'^\s*"?{re.escape(key)}"?\s*=')
    for i in range(start + (1 if tables else 0), len(lines)):
        if lines[i].lstrip().startswith("["):
            break
        if assign.match(lines[i]):
            return i + 1
    return start + 1 if tables else None
