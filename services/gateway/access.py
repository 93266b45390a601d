"""Who may act as what: the LA's access mapping (staff), the citizen provider's people, the demo people.

The access mapping is a TOML file the LA keeps (infra/local_authorities/840/access.toml is an example). Each grant
names a group (or an app role, or any claim's value) the identity provider puts in the person's token, and the role
and organisation it gives:

    [[grants]]
    group = "SENCO-{urn}"            # {urn}: a school's 6-digit URN, {la}: a 3-digit LA code, {org}: an org's name
    role = "senco"
    organisation = "school:{urn}"

A person whose token matches no grant has no role at all (never a default one); a person matching several picks the
one they act in. Parents and young people never come through this file: they sign in with the citizen provider.
"""

from __future__ import annotations

import base64
import hashlib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from contracts.envelope import Actor, Role
from services.runtime.errors import ConfigurationError

PLACEHOLDERS = {"urn": "[0-9]{6}", "la": "[0-9]{3}", "org": "[a-z0-9][a-z0-9-]{0,62}"}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")

# What kind of organisation each role acts for; parents and young people come through the citizen provider, services
# act as themselves: neither is given by a mapping.
ORGANISATION_OF_ROLE = {
    Role.SENCO: "school",
    Role.TEACHER: "school",
    Role.HEADTEACHER: "school",
    Role.LA_CASEWORKER: "la",
    Role.LA_MANAGER: "la",
    Role.AUDITOR: "la",
    Role.DATA_OFFICER: "la",
    Role.PROFESSIONAL: "org",
}
CITIZEN_ROLES = (Role.PARENT, Role.YOUNG_PERSON)
MAX_CLAIM_VALUES = 500  # groups in one token looked at, at most (a token may list a person's every group)


def describe(actor: Actor) -> str:
    """`senco for school:123456`, as the pages and refusals say it."""
    return f"{actor.role.value} for {actor.organisation}"


@dataclass(frozen=True)
class Grant:
    claim: str  # the claim holding the groups (or roles) to match
    pattern: re.Pattern[str]
    role: Role
    organisation: str  # may name the pattern's placeholders
    label: str  # how the file names it, for messages

    def actor(self, user_id: str, value: str) -> Actor | None:
        match = self.pattern.fullmatch(value)
        if match is None:
            return None
        organisation = self.organisation.format(**match.groupdict())
        return Actor(user_id=user_id, role=self.role, organisation=organisation)


@dataclass(frozen=True)
class AccessMapping:
    """The LA's grants, and which claims name the person."""

    grants: tuple[Grant, ...]
    # Which claim names the person, the first present: one the person cannot change and that the ID token and the
    # API's access tokens both carry. Entra ID's "oid" (the same for every application of the tenant; its "sub" is
    # particular to each application, so the browser and the API would see two people); Keycloak's "sub". Never an
    # email address or user name: a person (or an administrator) can change those, and a teacher who took a
    # colleague's address would act, and be recorded, as the colleague.
    user_claims: tuple[str, ...] = ("oid", "sub")
    name_claims: tuple[str, ...] = ("name", "email", "preferred_username")
    local_authority: str | None = None

    @classmethod
    def load(cls, path: Path) -> AccessMapping:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as e:
            raise ConfigurationError(f"access mapping {path}: {e.strerror or e}") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigurationError(f"access mapping {path} is not valid TOML: {e}") from None
        try:
            return cls.from_dict(data)
        except ConfigurationError as e:
            raise ConfigurationError(f"access mapping {path}: {e}") from None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AccessMapping:
        known = {"local_authority", "name", "groups_claim", "user_claims", "name_claims", "grants"}
        if unknown := sorted(set(data) - known):
            raise ConfigurationError(f"unknown settings {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        la = data.get("local_authority")
        if la is not None and not re.fullmatch(r"[0-9]{3}", str(la)):
            raise ConfigurationError(f"local_authority {la!r} is not a 3-digit LA code")
        groups_claim = _text(data.get("groups_claim", "groups"), "groups_claim")
        grants = data.get("grants", [])
        if not isinstance(grants, list) or not grants:
            raise ConfigurationError("no [[grants]]: nobody would have a role")
        return cls(
            grants=tuple(_grant(i + 1, g, groups_claim, la) for i, g in enumerate(grants)),
            user_claims=_claims(data.get("user_claims", list(cls.user_claims)), "user_claims"),
            name_claims=_claims(data.get("name_claims", list(cls.name_claims)), "name_claims"),
            local_authority=la,
        )

    def user_id(self, claims: Mapping[str, Any]) -> str | None:
        """The person's id, from the first of `user_claims` the token has."""
        for claim in self.user_claims:
            value = claims.get(claim)
            if isinstance(value, str) and 0 < len(value) <= 200 and value.isprintable():
                return value
        return None

    def name(self, claims: Mapping[str, Any]) -> str | None:
        for claim in self.name_claims:
            value = claims.get(claim)
            if isinstance(value, str) and value.strip():
                return value.strip()[:200]
        return None

    def actors(self, user_id: str, claims: Mapping[str, Any]) -> list[Actor]:
        """Every role the person's claims give them, each once, in the file's order: none when no grant matches."""
        found: list[Actor] = []
        for grant in self.grants:
            for value in _values(claims.get(grant.claim)):
                actor = grant.actor(user_id, value)
                if actor is not None and actor not in found:
                    found.append(actor)
        return found


def _values(claim: Any) -> list[str]:
    if isinstance(claim, str):
        return [claim]
    if isinstance(claim, list):
        return [v for v in claim[:MAX_CLAIM_VALUES] if isinstance(v, str) and len(v) <= 400]
    return []


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{what} must be a non-empty string")
    return value


def _claims(value: Any, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise ConfigurationError(f"{what} must be a list of claim names")
    return tuple(value)


def _grant(number: int, grant: Any, groups_claim: str, la: str | None) -> Grant:
    where = f"grant {number}"
    if not isinstance(grant, dict):
        raise ConfigurationError(f"{where} is not a table")
    if unknown := sorted(set(grant) - {"group", "claim", "role", "organisation"}):
        raise ConfigurationError(f"{where}: unknown keys {', '.join(unknown)} (group, claim, role, organisation)")
    group = _text(grant.get("group"), f"{where}: group")
    where = f"grant {number} ({group})"
    claim = _text(grant.get("claim", groups_claim), f"{where}: claim")
    try:
        role = Role(str(grant.get("role")))
    except ValueError:
        roles = ", ".join(r.value for r in ORGANISATION_OF_ROLE)
        raise ConfigurationError(f"{where}: role {grant.get('role')!r} is not one of {roles}") from None
    if role not in ORGANISATION_OF_ROLE:
        raise ConfigurationError(
            f"{where}: role {role.value} cannot be given by the access mapping (parents and young people sign in "
            "with the citizen provider; only services act as system)"
        )
    organisation = _text(grant.get("organisation"), f"{where}: organisation")
    used = _PLACEHOLDER.findall(group)
    if unknown_names := sorted(set(used) - set(PLACEHOLDERS)):
        raise ConfigurationError(f"{where}: unknown placeholder {{{unknown_names[0]}}} (known: urn, la, org)")
    if len(used) != len(set(used)):
        raise ConfigurationError(f"{where}: a placeholder appears twice in the group")
    if missing := sorted(set(_PLACEHOLDER.findall(organisation)) - set(used)):
        raise ConfigurationError(f"{where}: the organisation names {{{missing[0]}}}, which the group does not")
    pattern = _pattern(group)
    kind = ORGANISATION_OF_ROLE[role]
    try:
        sample = organisation.format(**{name: _sample(name) for name in used})
        Actor(user_id="check", role=role, organisation=sample)
    except (ValidationError, ValueError, KeyError, IndexError):
        raise ConfigurationError(f"{where}: organisation {organisation!r} is not a valid organisation") from None
    if not sample.startswith(f"{kind}:"):
        raise ConfigurationError(f"{where}: a {role.value} acts for a {kind}:..., not {organisation!r}")
    if kind == "la" and la is not None and "{la}" not in organisation and organisation != f"la:{la}":
        raise ConfigurationError(f"{where}: {organisation} is not this file's local authority la:{la}")
    return Grant(claim=claim, pattern=pattern, role=role, organisation=organisation, label=group)


def _pattern(group: str) -> re.Pattern[str]:
    parts, last = [], 0
    for match in _PLACEHOLDER.finditer(group):
        parts.append(re.escape(group[last : match.start()]))
        parts.append(f"(?P<{match.group(1)}>{PLACEHOLDERS[match.group(1)]})")
        last = match.end()
    parts.append(re.escape(group[last:]))
    return re.compile("".join(parts))


def _sample(name: str) -> str:
    return {"urn": "100000", "la": "100", "org": "sample"}[name]


# ---------------------------------------------------------------------------------------------------------
# Parents and young people


def citizen_user_id(issuer: str, subject: str) -> str:
    """A stable id for a person of the citizen provider, from its issuer and their subject there: the same person
    signing in again gets the same id; the id says nothing about them."""
    digest = hashlib.sha256(f"{issuer}\n{subject}".encode()).digest()
    return "citizen:" + base64.b32encode(digest).decode().rstrip("=").lower()[:32]


def citizen_actors(user_id: str) -> list[Actor]:
    """A parent or a young person acts for themselves ("citizen"): which one they are, they say; what either may
    see is what they were invited to (the services decide)."""
    return [Actor(user_id=user_id, role=role, organisation="citizen") for role in CITIZEN_ROLES]


# ---------------------------------------------------------------------------------------------------------
# The demo people of the development sign-in


@dataclass(frozen=True)
class DemoPerson:
    key: str
    name: str
    actor: Actor


def load_demo_people(path: Path) -> list[DemoPerson]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigurationError(f"demo people {path}: {e}") from None
    people = []
    for i, person in enumerate(data.get("people", [])):
        try:
            actor = Actor(user_id=person["user_id"], role=person["role"], organisation=person["organisation"])
            people.append(DemoPerson(key=str(person.get("key", i)), name=str(person["name"]), actor=actor))
        except (KeyError, TypeError, ValidationError) as e:
            raise ConfigurationError(f"demo people {path}: person {i + 1}: {e}") from None
    if not people:
        raise ConfigurationError(f"demo people {path}: no [[people]]")
    if len({p.key for p in people}) != len(people):
        raise ConfigurationError(f"demo people {path}: two people have the same key")
    return people
