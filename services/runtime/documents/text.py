"""Text into HTML for a document: escaped, with right-to-left runs isolated.

A parent's name written in Urdu or Arabic inside an English sentence must print right to left and must not
pull the punctuation around it into its own direction ("Dear عائشہ خان, عمر خان and ..." keeps the comma
between the two names). `text_html` wraps every run of right-to-left text in `<bdi dir="auto">` (an inline box
of its own: WeasyPrint lays each such box out with its own bidi and keeps the boxes in the paragraph's order).
Text already carrying the Unicode isolates (U+2068 FIRST STRONG ISOLATE ... U+2069 POP DIRECTIONAL ISOLATE, or
U+2066 / U+2067 for left-to-right / right-to-left), as a plain-text template may mark a name, becomes the same
`<bdi>`, without the invisible characters, so the PDF's text is exactly the name.
"""

from __future__ import annotations

import html
import unicodedata

FSI, LRI, RLI, PDI = "\u2068", "\u2066", "\u2067", "\u2069"
_OPEN = {FSI: "auto", LRI: "ltr", RLI: "rtl"}


def _rtl(c: str) -> bool:
    return unicodedata.bidirectional(c) in ("R", "AL")


def _joins_rtl(c: str) -> bool:
    """Characters that continue a right-to-left run between two right-to-left letters: spaces, combining marks,
    Arabic-Indic digits, joiners."""
    return c == " " or unicodedata.bidirectional(c) in ("NSM", "AN", "BN")


def isolate(text: str) -> str:
    """`text` (plain) -> HTML: escaped, each right-to-left run in a <bdi dir="auto">, isolates turned into <bdi>."""
    out: list[str] = []
    depth = 0
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in _OPEN:
            out.append(f'<bdi dir="{_OPEN[c]}">')
            depth += 1
            i += 1
            continue
        if c == PDI:
            if depth:
                out.append("</bdi>")
                depth -= 1
            i += 1
            continue
        if _rtl(c) and depth == 0:
            j = i + 1
            end = j
            while j < n and (_rtl(text[j]) or _joins_rtl(text[j])):
                j += 1
                if _rtl(text[j - 1]) or unicodedata.bidirectional(text[j - 1]) in ("NSM", "AN"):
                    end = j
            out.append(f'<bdi dir="auto">{html.escape(text[i:end], quote=False)}</bdi>')
            i = end
            continue
        j = i + 1
        while j < n and text[j] not in _OPEN and text[j] != PDI and (depth or not _rtl(text[j])):
            j += 1
        out.append(html.escape(text[i:j], quote=False))
        i = j
    out.append("</bdi>" * depth)
    return "".join(out)


def name_html(name: str, lang: str | None = None) -> str:
    """A person's name for an HTML template: escaped and isolated whatever its script (`lang`, a BCP 47 tag such
    as "ur", sets it in that language's font where one is chosen, e.g. Urdu in Nastaliq)."""
    attrs = f' lang="{html.escape(lang)}"' if lang else ""
    return f'<bdi dir="auto" class="name"{attrs}>{html.escape(name, quote=False)}</bdi>'
