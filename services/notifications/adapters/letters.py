"""A plain, printable A4 letter as a PDF, written by hand (PDF 1.4, Helvetica, no dependencies).

Deterministic: the same text always gives the same bytes, so a letter can be regenerated from the stored
content and its hash checked.
"""

from __future__ import annotations

import textwrap

LINE_HEIGHT = 14
TOP, LEFT, BOTTOM = 800, 56, 60
WIDTH_CHARS = 92


def _escape(text: str) -> str:
    text = text.encode("latin-1", "replace").decode("latin-1")
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _lines(address: list[str], body: str) -> list[str]:
    lines = [*address, "", ""]
    for paragraph in body.splitlines():
        lines.extend(textwrap.wrap(paragraph, WIDTH_CHARS) or [""])
    return lines


def letter_pdf(address: list[str], body: str) -> bytes:
    lines = _lines(address, body)
    per_page = (TOP - BOTTOM) // LINE_HEIGHT
    pages = [lines[i : i + per_page] for i in range(0, len(lines), per_page)] or [[]]
    objects: list[bytes] = []
    font_id = 3
    page_ids = []
    for n, page in enumerate(pages):
        content_id, page_id = 4 + 2 * n, 5 + 2 * n
        page_ids.append(page_id)
        text = "".join(f"({_escape(line)}) Tj T*\n" for line in page)
        stream = f"BT /F1 11 Tf {LINE_HEIGHT} TL {LEFT} {TOP} Td\n{text}ET".encode("latin-1")
        objects.append(
            b"%d 0 obj << /Length %d >> stream\n" % (content_id, len(stream)) + stream + b"\nendstream endobj\n"
        )
        objects.append(
            b"%d 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents %d 0 R "
            b"/Resources << /Font << /F1 %d 0 R >> >> >> endobj\n" % (page_id, content_id, font_id)
        )
    kids = " ".join(f"{i} 0 R" for i in page_ids).encode()
    head = [
        b"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n",
        b"2 0 obj << /Type /Pages /Kids [" + kids + b"] /Count %d >> endobj\n" % len(pages),
        b"3 0 obj << /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >> endobj\n",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for obj in head + objects:
        offsets.append(len(out))
        out += obj
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(offsets) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer << /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(offsets) + 1, xref)
    return bytes(out)


def address_lines(recipient: dict) -> list[str]:
    address = recipient.get("postal_address") or {}
    return [recipient["name"], *address.get("lines", []), address.get("town", ""), address.get("postcode", "")]
