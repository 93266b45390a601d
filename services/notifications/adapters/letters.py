"""A letter on paper: the message's own words as HTML, printed by the shared document renderer
(services/runtime/documents) as a tagged, accessible A4 PDF laid out for a windowed envelope as GOV.UK Notify's
precompiled-letter specification requires (the recipient's name and address in the window).

The words are the stored content (the subject and the body written when the duty arose, the same text as the
email), so the letter can be made again from the record, byte for byte, and its hash compared with the hash
recorded when it was sent. The body is plain text; it becomes HTML by these rules (`body_html`):

- blocks are separated by blank lines; every other line is a paragraph of its own;
- the first line of a block of two or more lines is a heading (h2) when it starts with a capital letter, is at
  most 80 characters long and does not end with punctuation ("What this means", "Who to contact");
- a line indented by four spaces is something to type or read out exactly (an invitation code): set apart, large;
- lines starting "- " or "* " are a bulleted list;
- right-to-left runs (a name in Urdu or Arabic) are isolated so they print right to left without disturbing the
  sentence around them; a name the template wraps in U+2068 ... U+2069 is isolated whatever its script.

The subject is the letter's first heading (h1) and the PDF's title.

Content written since December 2026 stores the complete letter as HTML (`letter_html`, from the template
base.html.j2): that document is printed as it is, with the page's stylesheet (`letter_pdf`), and the rules above
apply only to older content.
"""

from __future__ import annotations

import re
from typing import Any

from services.runtime.documents import LetterLayout, isolate, render_letter_document, render_pdf

_HEADING_MAX = 80
_NOT_A_HEADING_END = tuple(".,;:!?)\"'’”")
_BULLET = re.compile(r"^[-*] +")


def address_lines(recipient: dict[str, Any]) -> list[str]:
    """The lines printed in the envelope's window: the name, then the address, the postcode last."""
    address = recipient.get("postal_address") or {}
    lines = [recipient["name"], *address.get("lines", []), address.get("town", ""), address.get("postcode", "")]
    return [line.strip() for line in lines if line and line.strip()]


def _is_heading(line: str) -> bool:
    return (
        0 < len(line) <= _HEADING_MAX
        and line == line.strip()
        and line[0].isupper()
        and not line.endswith(_NOT_A_HEADING_END)
        and not line.lower().startswith("dear ")
    )


def body_html(body: str) -> str:
    """The letter's plain-text body as HTML, by the rules in this module's docstring."""
    out: list[str] = []
    for block in re.split(r"\n[ \t]*\n", body.strip("\n")):
        lines = [line.rstrip() for line in block.split("\n") if line.strip()]
        if len(lines) >= 2 and _is_heading(lines[0]):
            out.append(f"<h2>{isolate(lines[0])}</h2>")
            lines = lines[1:]
        bullets: list[str] = []
        for line in lines:
            if _BULLET.match(line):
                bullets.append(f"<li>{isolate(_BULLET.sub('', line))}</li>")
                continue
            if bullets:
                out.append("<ul>" + "".join(bullets) + "</ul>")
                bullets = []
            if line.startswith("    "):
                out.append(f'<p class="code">{isolate(line.strip())}</p>')
            else:
                out.append(f"<p>{isolate(line.strip())}</p>")
        if bullets:
            out.append("<ul>" + "".join(bullets) + "</ul>")
    return "\n".join(out)


def letter_html(subject: str, body: str) -> str:
    """The HTML printed as the letter's body: the subject as its heading, then the body."""
    return f"<h1>{isolate(subject)}</h1>\n{body_html(body)}"


def letter_layout(recipient: dict[str, Any]) -> LetterLayout:
    """Page 1's blocks for this recipient (raises layout.AddressUnprintable for an address the window cannot
    take: fewer than 3 or more than 7 lines)."""
    return LetterLayout(address=tuple(address_lines(recipient)))


def letter_pdf(recipient: dict[str, Any], subject: str, body: str, complete_html: str | None = None) -> bytes:
    """The letter as a PDF: the same words, the same bytes, every time.

    Content written since December 2026 carries the complete letter as one HTML document (`complete_html`, stored
    as `letter_html`: the letterhead with the logo, the recipient's address, the contact block with the date and the
    reference, then the letter in <main>): that is what is printed, whatever the email said (`body` may be only a
    notice that a letter is coming). Older content has none: its letter is the subject and the body, as the email
    was."""
    if complete_html is not None:
        return render_letter_document(complete_html, letter=letter_layout(recipient))
    return render_pdf(
        letter_html(subject, body),
        title=subject,
        language="en-GB",
        subject=f"A letter to {recipient['name']}",
        letter=letter_layout(recipient),
    )
