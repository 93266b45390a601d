"""HTML into a tagged, accessible, A4 PDF with WeasyPrint: the one document renderer every service uses.

- **Accessible**: PDF/UA-1 (WeasyPrint's `pdf/ua-1` variant): a structure tree (headings, paragraphs, lists,
  tables as tags, in reading order), `MarkInfo` Marked, the document's language (`/Lang`), its title shown as
  the window title (`DisplayDocTitle`), every font embedded (subset) with a Unicode map, so the text can be
  read aloud, searched and copied exactly.
- **Deterministic**: the same input gives the same bytes. Nothing is read from the clock (the creation date is
  the date given, or none), the file identifier (`/ID`) is derived from the document's HTML, and fonts are
  subset by HarfBuzz (checked to be there), so a letter can be made again from its stored content and its hash
  compared with the hash recorded when it was sent.
- **Complete or refused**: before the first render in a process the fonts are checked (fonts.check_fonts); a
  missing one is an error naming the package, never a letter with empty boxes in it.

Renders are serialised by a lock: WeasyPrint's font machinery (Pango, fontconfig) is not documented as safe to
use from several threads at once, and a render is short (0.05-0.3 s a letter: docs/performance.md).
"""

from __future__ import annotations

import functools
import hashlib
import html
import threading
from datetime import date
from typing import Any, Literal

from services.runtime.documents.fonts import check_fonts, fonts_fingerprint
from services.runtime.documents.layout import LetterLayout, stylesheet
from services.runtime.documents.text import isolate

PDF_VARIANT = "pdf/ua-1"
_lock = threading.Lock()


def document_html(
    body_html: str,
    *,
    title: str,
    language: str = "en-GB",
    direction: Literal["ltr", "rtl"] = "ltr",
    author: str | None = None,
    subject: str | None = None,
    created: date | None = None,
    letter: LetterLayout | None = None,
    extra_css: str = "",
) -> str:
    """The whole HTML document render_pdf sets: head (title, language, metadata, the page's CSS) and body (for a
    letter, page 1's blocks first, then `body_html` in <main>)."""
    if direction not in ("ltr", "rtl"):
        raise ValueError(f"direction is 'ltr' or 'rtl', not {direction!r}")
    if not title.strip():
        raise ValueError("a document needs a title (it is what a screen reader announces first)")
    if not language.strip():
        raise ValueError("a document needs its language (a BCP 47 tag such as en-GB)")
    meta = []
    if author:
        meta.append(f'<meta name="author" content="{html.escape(author)}">')
    if subject:
        meta.append(f'<meta name="description" content="{html.escape(subject)}">')
    if created is not None:
        meta.append(f'<meta name="dcterms.created" content="{created.isoformat()}">')
        meta.append(f'<meta name="dcterms.modified" content="{created.isoformat()}">')
    blocks = ""
    if letter is not None:
        blocks = (
            _block("letterhead", letter.letterhead)
            + _block("recipient", letter.address)
            + _block("contact", letter.contact)
        )
    return (
        f'<!DOCTYPE html>\n<html lang="{html.escape(language)}" dir="{direction}">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title, quote=False)}</title>\n"
        + "".join(m + "\n" for m in meta)
        + f"<style>{stylesheet(letter, direction)}{extra_css}</style>\n</head>\n<body>\n"
        + blocks
        + f"<main>\n{body_html}\n</main>\n</body>\n</html>\n"
    )


def _block(css_class: str, lines: tuple[str, ...]) -> str:
    if not lines:
        return ""
    inner = "<br>".join(isolate(line) for line in lines)
    return f'<div class="{css_class}"><p>{inner}</p></div>\n'


def render_pdf(
    body_html: str,
    *,
    title: str,
    language: str = "en-GB",
    direction: Literal["ltr", "rtl"] = "ltr",
    author: str | None = None,
    subject: str | None = None,
    created: date | None = None,
    letter: LetterLayout | None = None,
    extra_css: str = "",
) -> bytes:
    """`body_html` (the document's own HTML: headings, paragraphs, lists, tables; names through text.isolate or
    text.name_html) as a PDF/UA-1 A4 PDF. With `letter`, page 1 is laid out for a windowed envelope (layout.py).
    Raises fonts.RendererNotReady when the system lacks a font or library the renderer needs."""
    document = document_html(
        body_html,
        title=title,
        language=language,
        direction=direction,
        author=author,
        subject=subject,
        created=created,
        letter=letter,
        extra_css=extra_css,
    )
    return render_document(document)


def styled_document(document: str, *, letter: LetterLayout | None = None, extra_css: str = "") -> str:
    """A complete HTML document written elsewhere (its own head: title, `lang`, metadata; for a letter, page 1's
    blocks with the classes layout.py places, `.letterhead`, `.recipient` and `.contact`, before its <main>) with
    the page's stylesheet added at the end of its head, as render_pdf would set it. Raises ValueError for a
    document without a head, a title or a language (what a screen reader announces first)."""
    head_end = document.lower().find("</head>")
    if head_end < 0:
        raise ValueError("a document to print needs its <head> (with its <title>)")
    head = document[:head_end].lower()
    if "<title>" not in head or "<title></title>" in head:
        raise ValueError("a document needs a title (it is what a screen reader announces first)")
    if " lang=" not in head:
        raise ValueError("a document needs its language (<html lang=...>, a BCP 47 tag such as en-GB)")
    style = f"<style>{stylesheet(letter, 'ltr')}{extra_css}</style>\n"
    return document[:head_end] + style + document[head_end:]


def render_letter_document(document: str, *, letter: LetterLayout, extra_css: str = "") -> bytes:
    """A complete HTML letter (styled_document) as the PDF, page 1 laid out for a windowed envelope. `letter` names
    the address the window must take (checked: layout.AddressUnprintable); the document prints its own blocks."""
    return render_document(styled_document(document, letter=letter, extra_css=extra_css))


def render_document(document: str) -> bytes:
    """A whole HTML document (as document_html makes) as the PDF: the same document, the same bytes."""
    check_fonts()
    from weasyprint import HTML  # imported on first use: it loads Pango and fontconfig

    identifier = hashlib.sha256(f"{PDF_VARIANT}\n{document}".encode()).hexdigest()[:32].encode("ascii")
    with _lock:
        pdf: Any = HTML(string=document, base_url=None, url_fetcher=_only_embedded()).write_pdf(
            pdf_variant=PDF_VARIANT, pdf_identifier=identifier
        )
    return bytes(pdf)


@functools.cache
def _only_embedded() -> Any:
    """A document is made from what it is given: only `data:` URLs (an image embedded in the HTML, such as a logo)
    are read while rendering; a file or network URL in the content is refused (logged by WeasyPrint, left out), so
    content cannot read the server's files or call out, and the bytes never depend on what a URL serves today."""
    from weasyprint import URLFetcher

    return URLFetcher(allowed_protocols={"data"}, timeout=1, fail_on_errors=False)


@functools.cache
def renderer_version() -> str:
    """What makes the bytes, recorded with each letter sent: the versions of WeasyPrint, pydyf, Pango and
    HarfBuzz and a fingerprint of the font files (their families and versions). The same document made with the
    same renderer is the same bytes; made with another, it may be other bytes with the same words (so an audit can
    tell the two apart)."""
    import pydyf
    import weasyprint

    return (
        f"WeasyPrint {weasyprint.__version__}, pydyf {pydyf.__version__}, Pango {_c_version('pango-1.0')}, "
        f"HarfBuzz {_c_version('harfbuzz')}, fonts {fonts_fingerprint()}"
    )


def _c_version(library: str) -> str:
    """A system library's own version string (pango_version_string, hb_version_string): shaping and subsetting
    are theirs, so another version may set the same text in other bytes."""
    import ctypes
    import ctypes.util

    found = ctypes.util.find_library(library)
    if found is None:
        return "?"
    function = getattr(ctypes.CDLL(found), f"{'hb' if library == 'harfbuzz' else 'pango'}_version_string")
    function.restype = ctypes.c_char_p
    return str(function().decode("ascii"))
