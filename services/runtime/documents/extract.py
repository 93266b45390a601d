"""A PDF's text as a reader gets it (pypdf): for showing a letter in a terminal and for checking what it says."""

from __future__ import annotations

import io
import unicodedata


def pdf_text_lines(pdf: bytes) -> list[str]:
    """The text of every page, line by line in the order it is printed (for our documents: reading order), NFC,
    blank lines left out."""
    from pypdf import PdfReader

    lines: list[str] = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for line in page.extract_text().splitlines():
            line = unicodedata.normalize("NFC", line).strip()
            if line:
                lines.append(line)
    return lines
