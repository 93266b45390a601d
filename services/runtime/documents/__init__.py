"""The document renderer every service shares: HTML in, a tagged, accessible, deterministic A4 PDF out.

The notifications service prints its letters with it; the plans and ehcp services will print plans, reviews and
EHC plans with it. See docs/architecture.md ("Documents") and docs/notifications.md ("Letters on paper").

    from services.runtime.documents import LetterLayout, render_pdf, isolate

    pdf = render_pdf(
        "<h1>Your child's SEN support</h1><p>Dear " + isolate(name) + ",</p>...",
        title="Your child's SEN support",
        language="en-GB",
        author="Demo Primary School",
        created=date(2026, 12, 11),
        letter=LetterLayout(address=("Aisha Khan", "12 Front Street", "Durham", "DH1 3AB")),
    )
"""

from services.runtime.documents.extract import pdf_text_lines
from services.runtime.documents.fonts import FONT_STACK, SCRIPTS, RendererNotReady, check_fonts
from services.runtime.documents.layout import (
    ADDRESS_WINDOW,
    CONTACT_BLOCK,
    LOGO_BLOCK,
    AddressUnprintable,
    Box,
    LetterLayout,
)
from services.runtime.documents.render import (
    document_html,
    render_document,
    render_letter_document,
    render_pdf,
    renderer_version,
    styled_document,
)
from services.runtime.documents.text import isolate, name_html

__all__ = [
    "ADDRESS_WINDOW",
    "CONTACT_BLOCK",
    "FONT_STACK",
    "LOGO_BLOCK",
    "SCRIPTS",
    "AddressUnprintable",
    "Box",
    "LetterLayout",
    "RendererNotReady",
    "check_fonts",
    "document_html",
    "isolate",
    "name_html",
    "pdf_text_lines",
    "render_document",
    "render_letter_document",
    "render_pdf",
    "renderer_version",
    "styled_document",
]
