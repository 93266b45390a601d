"""Identifiers and codes the DfE and schools use, validated where they enter the system."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator

# DfE "A guide to the unique pupil number (UPN)": the check letter alphabet omits I, O and S.
_UPN_ALPHABET = "ABCDEFGHJKLMNPQRTUVWXYZ"
_UPN_SHAPE = re.compile(r"^[A-Z][0-9]{11}[0-9A-Z]$")


def upn_check_letter(body: str) -> str:
    """The check letter for the 12 characters that follow it (positions 2 to 13).

    Each character is weighted by its position (2..13); a temporary UPN ends in a letter, which counts
    as its place in the check-letter alphabet. The sum modulo 23 picks the letter.
    """
    total = 0
    for position, char in enumerate(body, start=2):
        value = int(char) if char.isdigit() else _UPN_ALPHABET.index(char)
        total += value * position
    return _UPN_ALPHABET[total % 23]


def validate_upn(value: str) -> str:
    upn = value.strip().upper()
    if not _UPN_SHAPE.match(upn):
        raise ValueError(
            "a UPN is 13 characters: a check letter, 11 digits, then a digit (or a letter for a temporary UPN)"
        )
    if upn[12].isalpha() and upn[12] not in _UPN_ALPHABET:
        raise ValueError(f"a temporary UPN cannot end in {upn[12]!r}")
    expected = upn_check_letter(upn[1:])
    if upn[0] != expected:
        raise ValueError(f"the check letter of UPN {upn} should be {expected!r}: the UPN is mistyped")
    return upn


def validate_urn(value: str) -> str:
    urn = value.strip()
    if not re.fullmatch(r"[0-9]{6}", urn):
        raise ValueError("a school URN is 6 digits")
    return urn


Upn = Annotated[str, AfterValidator(validate_upn)]
SchoolUrn = Annotated[str, AfterValidator(validate_urn)]


class SenStatus(StrEnum):
    """School census "SEN provision" codes."""

    NO_SEN = "N"
    SEN_SUPPORT = "K"
    EHC_PLAN = "E"


class BroadArea(StrEnum):
    """The four broad areas of need (SEND Code of Practice 6.28-6.35)."""

    COGNITION_AND_LEARNING = "cognition and learning"
    COMMUNICATION_AND_INTERACTION = "communication and interaction"
    SEMH = "social, emotional and mental health"
    SENSORY_AND_PHYSICAL = "sensory and/or physical"
    OTHER = "other"


class NeedType(StrEnum):
    """DfE school census type-of-need codes."""

    SPLD = "SPLD"
    MLD = "MLD"
    SLD = "SLD"
    PMLD = "PMLD"
    SLCN = "SLCN"
    ASD = "ASD"
    SEMH = "SEMH"
    HI = "HI"
    VI = "VI"
    MSI = "MSI"
    PD = "PD"
    DS = "DS"  # collected from January 2025
    OTH = "OTH"
    NSA = "NSA"  # SEN support but no specialist assessment of type of need

    @property
    def broad_area(self) -> BroadArea:
        return _BROAD_AREAS[self]

    @property
    def in_words(self) -> str:
        """The need as a parent or SENCO reads it (letters, the CLI, the web pages)."""
        return _NEEDS_IN_WORDS[self]


_NEEDS_IN_WORDS = {
    NeedType.SPLD: "specific learning difficulty",
    NeedType.MLD: "moderate learning difficulty",
    NeedType.SLD: "severe learning difficulty",
    NeedType.PMLD: "profound and multiple learning difficulty",
    NeedType.SLCN: "speech, language and communication needs",
    NeedType.ASD: "autistic spectrum disorder",
    NeedType.SEMH: "social, emotional and mental health",
    NeedType.HI: "hearing impairment",
    NeedType.VI: "visual impairment",
    NeedType.MSI: "multi-sensory impairment",
    NeedType.PD: "physical disability",
    NeedType.DS: "Down syndrome",
    NeedType.OTH: "other difficulty or disability",
    NeedType.NSA: "not yet assessed by a specialist",
}

_BROAD_AREAS = {
    NeedType.SPLD: BroadArea.COGNITION_AND_LEARNING,
    NeedType.MLD: BroadArea.COGNITION_AND_LEARNING,
    NeedType.SLD: BroadArea.COGNITION_AND_LEARNING,
    NeedType.PMLD: BroadArea.COGNITION_AND_LEARNING,
    NeedType.DS: BroadArea.COGNITION_AND_LEARNING,
    NeedType.SLCN: BroadArea.COMMUNICATION_AND_INTERACTION,
    NeedType.ASD: BroadArea.COMMUNICATION_AND_INTERACTION,
    NeedType.SEMH: BroadArea.SEMH,
    NeedType.HI: BroadArea.SENSORY_AND_PHYSICAL,
    NeedType.VI: BroadArea.SENSORY_AND_PHYSICAL,
    NeedType.MSI: BroadArea.SENSORY_AND_PHYSICAL,
    NeedType.PD: BroadArea.SENSORY_AND_PHYSICAL,
    NeedType.OTH: BroadArea.OTHER,
    NeedType.NSA: BroadArea.OTHER,
}
