"""A letter's PDF checked as GOV.UK Notify checks a precompiled letter, and as an accessibility checker would.

`notify_problems` applies the checks Notify's template-preview applies before it prints (A4 portrait pages, at
most 10 pages and 2 MB, every font embedded, nothing printed outside the printable areas: on page 1 the logo,
address, contact and body blocks, on later pages inside the 15 mm / 5 mm margins; the address found in the
envelope's window has 3 to 7 lines with a UK postcode last), each failure named with Notify's own error code.
`accessibility_problems` checks what PDF/UA asks of the file's catalogue and fonts. Both read the PDF itself
(pdfminer.six for where each character lies, pikepdf for the objects), never our HTML.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import pikepdf
from pdfminer.high_level import extract_pages
from pdfminer.layout import LAParams, LTChar, LTPage, LTTextContainer, LTTextLine

from services.runtime.documents.layout import (
    A4_HEIGHT_MM,
    A4_WIDTH_MM,
    ADDRESS_WINDOW,
    BODY_TOP_FIRST_PAGE_MM,
    CONTACT_BLOCK,
    LOGO_BLOCK,
    MM,
    SIDE_MARGIN_MM,
    TOP_BOTTOM_MARGIN_MM,
    Box,
)

UK_POSTCODE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}$")
TOLERANCE_MM = 1.0  # Notify's checker is 1 mm generous at every edge, for anti-aliasing


@dataclass(frozen=True)
class Placed:
    text: str
    box: Box  # in millimetres from the page's top left


def _box(item: LTChar | LTTextLine) -> Box:
    x0, y0, x1, y1 = item.bbox
    return Box(left=x0 / MM, top=A4_HEIGHT_MM - y1 / MM, width=(x1 - x0) / MM, height=(y1 - y0) / MM)


def _inside(inner: Box, outer: Box, tolerance: float = TOLERANCE_MM) -> bool:
    return (
        inner.left >= outer.left - tolerance
        and inner.right <= outer.right + tolerance
        and inner.top >= outer.top - tolerance
        and inner.bottom <= outer.bottom + tolerance
    )


def _intersects(a: Box, b: Box) -> bool:
    return a.left < b.right and b.left < a.right and a.top < b.bottom and b.top < a.bottom


def pages(pdf: bytes) -> list[LTPage]:
    return list(extract_pages(io.BytesIO(pdf), laparams=LAParams()))


def characters(page: LTPage) -> list[Placed]:
    found: list[Placed] = []

    def walk(item) -> None:
        if isinstance(item, LTChar):
            if item.get_text().strip():
                found.append(Placed(item.get_text(), _box(item)))
            return
        for child in getattr(item, "__iter__", lambda: iter(()))():
            walk(child)

    walk(page)
    return found


def lines(page: LTPage) -> list[Placed]:
    found: list[Placed] = []
    for element in page:
        if isinstance(element, LTTextContainer):
            for line in element:
                if isinstance(line, LTTextLine) and line.get_text().strip():
                    found.append(Placed(line.get_text().strip(), _box(line)))
    return found


BODY_FIRST_PAGE = Box(
    SIDE_MARGIN_MM,
    BODY_TOP_FIRST_PAGE_MM,
    A4_WIDTH_MM - 2 * SIDE_MARGIN_MM,
    A4_HEIGHT_MM - TOP_BOTTOM_MARGIN_MM - BODY_TOP_FIRST_PAGE_MM,
)
BODY_LATER_PAGES = Box(
    SIDE_MARGIN_MM, TOP_BOTTOM_MARGIN_MM, A4_WIDTH_MM - 2 * SIDE_MARGIN_MM, A4_HEIGHT_MM - 2 * TOP_BOTTOM_MARGIN_MM
)
CONTACT_AREA = Box(  # Notify's checker lets the contact block run from the top margin to the body
    CONTACT_BLOCK.left,
    TOP_BOTTOM_MARGIN_MM,
    A4_WIDTH_MM - SIDE_MARGIN_MM - CONTACT_BLOCK.left,
    BODY_TOP_FIRST_PAGE_MM - TOP_BOTTOM_MARGIN_MM,
)
PRINTABLE_FIRST_PAGE = (BODY_FIRST_PAGE, CONTACT_AREA, LOGO_BLOCK, ADDRESS_WINDOW)
NOTIFY_READS_ADDRESS_FROM = Box(
    ADDRESS_WINDOW.left - 3, ADDRESS_WINDOW.top - 3, ADDRESS_WINDOW.width + 6, ADDRESS_WINDOW.height + 6
)


def address_in_window(pdf: bytes) -> list[Placed]:
    """The lines Notify would read as the address: page 1's text lines touching the window (3 mm around it)."""
    first = pages(pdf)[0]
    return [line for line in lines(first) if _intersects(line.box, NOTIFY_READS_ADDRESS_FROM)]


def notify_problems(pdf: bytes) -> list[str]:
    problems: list[str] = []
    if len(pdf) > 2 * 1024 * 1024:
        problems.append("letter-too-big")
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        if len(doc.pages) > 10:
            problems.append("letter-too-long")
        for n, page in enumerate(doc.pages, start=1):
            x0, y0, x1, y1 = (float(v) for v in page.mediabox)
            if abs((x1 - x0) / MM - A4_WIDTH_MM) > 2 or abs((y1 - y0) / MM - A4_HEIGHT_MM) > 2:
                problems.append(f"letter-not-a4-portrait-oriented: page {n}")
            if int(page.obj.get("/Rotate", 0)) not in (0, 180):
                problems.append(f"letter-not-a4-portrait-oriented: page {n} is rotated")
        problems.extend(f"font-not-embedded: {name}" for name in fonts_not_embedded(doc))
    for n, page in enumerate(pages(pdf), start=1):
        allowed = PRINTABLE_FIRST_PAGE if n == 1 else (BODY_LATER_PAGES,)
        outside = [c for c in characters(page) if not any(_inside(c.box, area) for area in allowed)]
        if outside:
            problems.append(f"content-outside-printable-area: page {n}: {''.join(c.text for c in outside)[:60]!r}")
    address = [line.text for line in address_in_window(pdf)]
    if not 3 <= len(address) <= 7:
        problems.append(f"address lines: {len(address)} ({address})")
    elif not UK_POSTCODE.match(address[-1]):
        problems.append(f"not-a-real-uk-postcode: {address[-1]!r}")
    return problems


def fonts_not_embedded(doc: pikepdf.Pdf) -> list[str]:
    missing = []
    for page in doc.pages:
        fonts = page.obj.get("/Resources", {}).get("/Font", {})
        for _, font in fonts.items():
            descriptors = [d.get("/FontDescriptor") for d in font.get("/DescendantFonts", [])] or [
                font.get("/FontDescriptor")
            ]
            for d in descriptors:
                if d is None or not any(k in d for k in ("/FontFile", "/FontFile2", "/FontFile3")):
                    missing.append(str(font.get("/BaseFont")))
    return missing


def structure_tags(doc: pikepdf.Pdf) -> list[str]:
    """The structure tree's element types, depth first: the reading order a screen reader follows."""
    found: list[str] = []

    def walk(node) -> None:
        if isinstance(node, pikepdf.Dictionary) and "/S" in node:
            found.append(str(node.S)[1:])
        kids = node.get("/K") if isinstance(node, pikepdf.Dictionary) else None
        if isinstance(kids, pikepdf.Array):
            for kid in kids:
                walk(kid)
        elif isinstance(kids, pikepdf.Dictionary):
            walk(kids)

    walk(doc.Root.StructTreeRoot)
    return found


def accessibility_problems(pdf: bytes, *, title: str, language: str) -> list[str]:
    problems: list[str] = []
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        root = doc.Root
        if "/StructTreeRoot" not in root:
            problems.append("not tagged: no StructTreeRoot")
        elif not {"H1", "P"} <= set(structure_tags(doc)):
            problems.append(f"the structure has no H1 or no P: {structure_tags(doc)}")
        if not bool(root.get("/MarkInfo", {}).get("/Marked", False)):
            problems.append("MarkInfo Marked is not true")
        if str(root.get("/Lang", "")) != language:
            problems.append(f"Lang is {str(root.get('/Lang', ''))!r}, not {language!r}")
        if str(doc.docinfo.get("/Title", "")) != title:
            problems.append(f"Title is {str(doc.docinfo.get('/Title', ''))!r}, not {title!r}")
        if not bool(root.get("/ViewerPreferences", {}).get("/DisplayDocTitle", False)):
            problems.append("DisplayDocTitle is not true")
        problems.extend(f"font-not-embedded: {name}" for name in fonts_not_embedded(doc))
        for page in doc.pages:
            for _, font in page.obj.get("/Resources", {}).get("/Font", {}).items():
                if "/ToUnicode" not in font:
                    problems.append(f"no ToUnicode map (text not extractable): {font.get('/BaseFont')}")
    return problems
