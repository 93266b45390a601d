"""The fonts every document is set in, and the check that they are there.

Noto, from Debian's packages, covering the scripts an English local authority's families write their names and
addresses in: Latin with every European diacritic (Polish, Romanian, Turkish, Czech, Lithuanian...; Somali is
written in Latin), Greek, Cyrillic, Arabic script (Arabic, Urdu, Persian, Pashto, Kurdish Sorani), Bengali,
Gurmukhi, Gujarati, Devanagari, Tamil, Chinese, Ethiopic (Tigrinya, Amharic) and Hebrew. The CSS names them
in this order (`FONT_STACK`), so each character is set in the first family that has it: a Chinese name in an
English letter comes out in Noto Sans CJK, never as empty boxes. Urdu is set in Naskh by default (compact, and
read by every Arabic-script reader); text marked `lang="ur"` is set in Nastaliq, as Urdu is usually printed.

`check_fonts()` asks fontconfig (the library WeasyPrint finds fonts through, with its `fc-list`) for each
family AND for the characters of a sample of its script, so a missing package is a clear error naming what to
install, never a letter with question marks or empty boxes in it. It also checks for HarfBuzz's subsetter:
without it WeasyPrint falls back to fontTools, which is ten times slower and (measured) does not make the same
bytes twice, and a letter must be made again byte for byte for its audit.
"""

from __future__ import annotations

import ctypes.util
import functools
import hashlib
import shutil
import subprocess
from dataclasses import dataclass


@dataclass(frozen=True)
class Script:
    name: str
    family: str
    sample: str  # characters the family must have: each is looked up, not just the family's name
    package: str


SCRIPTS: tuple[Script, ...] = (
    Script(
        "Latin (English, Polish, Romanian, Turkish, Somali...)", "Noto Sans", "AzŁłóśżĄęŞşŢţĂăĞğİı", "fonts-noto-core"
    ),
    Script("Greek", "Noto Sans", "Ελένη", "fonts-noto-core"),
    Script("Cyrillic", "Noto Sans", "Борис", "fonts-noto-core"),
    Script("Arabic script (Arabic, Persian, Pashto, Urdu)", "Noto Naskh Arabic", "عائشہخانےپ", "fonts-noto-core"),
    Script("Urdu (Nastaliq)", "Noto Nastaliq Urdu", "عائشہخانے", "fonts-noto-core"),
    Script("Bengali", "Noto Sans Bengali", "রহিমউদ্দিন", "fonts-noto-core"),
    Script("Gurmukhi (Panjabi)", "Noto Sans Gurmukhi", "ਗੁਰਪ੍ਰੀਤ", "fonts-noto-core"),
    Script("Gujarati", "Noto Sans Gujarati", "ગુજરાતી", "fonts-noto-core"),
    Script("Devanagari (Hindi, Nepali, Marathi)", "Noto Sans Devanagari", "देवनागरी", "fonts-noto-core"),
    Script("Tamil", "Noto Sans Tamil", "தமிழ்", "fonts-noto-core"),
    Script("Ethiopic (Tigrinya, Amharic)", "Noto Sans Ethiopic", "ትግርኛ", "fonts-noto-core"),
    Script("Hebrew", "Noto Sans Hebrew", "עברית", "fonts-noto-core"),
    Script("Chinese", "Noto Sans CJK SC", "王小明张伟", "fonts-noto-cjk"),
)

_FAMILIES = dict.fromkeys(s.family for s in SCRIPTS if "Nastaliq" not in s.family)
FONT_STACK = ", ".join(f'"{family}"' for family in _FAMILIES)
"""The CSS font-family list: Noto Sans first, then one family a script (Naskh before Nastaliq)."""

URDU_FONT_STACK = f'"Noto Nastaliq Urdu", {FONT_STACK}'


class RendererNotReady(RuntimeError):
    """The system lacks what the document renderer needs: the message says exactly what to install."""


def _fc_list(pattern: str) -> list[str]:
    found = subprocess.run(
        ["fc-list", "--format", "%{family[0]}\n", pattern], capture_output=True, text=True, timeout=30, check=False
    )
    return [line for line in found.stdout.splitlines() if line]


def fonts_fingerprint() -> str:
    """The font files the renderer sets text in, as 12 hex digits: sha256 of each family's files and versions."""
    found: list[str] = []
    for family in dict.fromkeys(s.family for s in SCRIPTS):
        listed = subprocess.run(
            ["fc-list", "--format", "%{file}|%{fontversion}\n", family],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        found.extend(f"{family}|{line}" for line in listed.stdout.splitlines() if line)
    return hashlib.sha256("\n".join(sorted(found)).encode()).hexdigest()[:12]


def missing_fonts() -> list[Script]:
    """The scripts whose family (with the sample's characters) fontconfig cannot find."""
    if shutil.which("fc-list") is None:
        raise RendererNotReady(_install_message("fontconfig's fc-list is not installed", ["fontconfig"]))
    missing = []
    for script in SCRIPTS:
        charset = " ".join(f"{ord(c):x}" for c in sorted(set(script.sample)))
        if not _fc_list(f"{script.family}:charset={charset}"):
            missing.append(script)
    return missing


def _install_message(what: str, packages: list[str]) -> str:
    names = " ".join(dict.fromkeys(packages))
    return (
        f"The document renderer cannot print letters: {what}. Install it with "
        f"`apt-get install {names}` (Debian/Ubuntu; scripts/up.sh and scripts/test.sh do this when run as root), "
        "then start again."
    )


@functools.cache
def _checked() -> None:
    """Raises RendererNotReady when something is missing; remembered once it has passed (per process)."""
    problems: list[str] = []
    packages: list[str] = []
    for name, package in (("pango-1.0", "libpango-1.0-0"), ("harfbuzz-subset", "libharfbuzz-subset0")):
        if ctypes.util.find_library(name) is None:
            problems.append(f"the library {name} ({package}) is missing")
            packages.append(package)
    missing = missing_fonts()
    if missing:
        names = "; ".join(f"{s.family} for {s.name}" for s in missing)
        problems.append(f"fonts are missing: {names}")
        packages.extend(s.package for s in missing)
    if problems:
        raise RendererNotReady(_install_message(", and ".join(problems), packages))


def check_fonts() -> None:
    """Raise RendererNotReady, naming the Debian packages to install, unless every font and library the renderer
    needs is there. Cheap after the first success in a process."""
    _checked()
