"""Where things go on an A4 page: GOV.UK Notify's letter specification, in millimetres from the top left.

The statement followed is GOV.UK Notify's "Upload a letter" guidance, section "Letter specification"
(https://www.notifications.service.gov.uk/using-notify/upload-a-letter): A4 portrait; on every page margins of
15 mm left and right and 5 mm top and bottom; on page 1 a logo block 15 mm from the left and 5 mm from the top,
25 mm high; the address block 24.6 mm from the left and 39.5 mm from the top, 95.4 mm wide and 26.8 mm high
(the envelope's window); a letter contact block 125 mm from the left and 30 mm from the top, 65 mm by 65 mm;
the body from 95 mm down. The guidance gives the logo block as "200 mm wide", which would run off the page: we
follow Notify's own checker, which lets the logo run from 15 mm to 125 mm across, up to 30 mm down
(`app/precompiled.py` in alphagov/notifications-template-preview; its constants say the same of the other
blocks). Anything printed on page 1 outside those blocks is refused by Notify ("content outside printable
area"), and Notify prints its own tag at the very top left (inside our margin).
"""

from __future__ import annotations

from dataclasses import dataclass

A4_WIDTH_MM, A4_HEIGHT_MM = 210.0, 297.0
MM = 72 / 25.4  # points per millimetre (a PDF's unit is the point)

SIDE_MARGIN_MM = 15.0
TOP_BOTTOM_MARGIN_MM = 5.0
BODY_TOP_FIRST_PAGE_MM = 95.0


@dataclass(frozen=True)
class Box:
    """A rectangle on the page, in millimetres from the page's top left corner."""

    left: float
    top: float
    width: float
    height: float

    @property
    def right(self) -> float:
        return self.left + self.width

    @property
    def bottom(self) -> float:
        return self.top + self.height

    def in_points(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) in PDF points from the page's BOTTOM left, as a PDF reader gives positions."""
        return (
            self.left * MM,
            (A4_HEIGHT_MM - self.bottom) * MM,
            self.right * MM,
            (A4_HEIGHT_MM - self.top) * MM,
        )


ADDRESS_WINDOW = Box(left=24.6, top=39.5, width=95.4, height=26.8)
CONTACT_BLOCK = Box(left=125.0, top=30.0, width=65.0, height=65.0)
LOGO_BLOCK = Box(left=15.0, top=5.0, width=110.0, height=25.0)
MAX_ADDRESS_LINES = 7  # Notify's limit; with the last line a UK postcode, and at least 3
MIN_ADDRESS_LINES = 3


class AddressUnprintable(ValueError):
    """An address that cannot go in the envelope's window as the letter specification requires."""


@dataclass(frozen=True)
class LetterLayout:
    """Page 1 of a letter for a windowed envelope: the recipient's address in the window, the sender's name above
    it, and to the right the contact block (the date, the reference, whom to contact)."""

    address: tuple[str, ...]
    contact: tuple[str, ...] = ()
    letterhead: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        lines = [line.strip() for line in self.address if line.strip()]
        if not MIN_ADDRESS_LINES <= len(lines) <= MAX_ADDRESS_LINES:
            raise AddressUnprintable(
                f"a postal address for a letter has {MIN_ADDRESS_LINES} to {MAX_ADDRESS_LINES} lines, the name first "
                f"and the postcode last; this one has {len(lines)}"
            )
        object.__setattr__(self, "address", tuple(lines))


def stylesheet(letter: LetterLayout | None, direction: str) -> str:
    """The page's CSS: A4, the margins, page numbers in the bottom margin; for a letter, page 1's blocks."""
    from services.runtime.documents.fonts import FONT_STACK, URDU_FONT_STACK

    first = ""
    if letter is not None:
        # absolutely placed blocks are placed from page 1's content box: 15 mm across, 95 mm down
        x0, y0 = SIDE_MARGIN_MM, BODY_TOP_FIRST_PAGE_MM
        first = f"""
@page :first {{ margin-top: {BODY_TOP_FIRST_PAGE_MM}mm; }}
.letterhead, .recipient, .contact {{ position: absolute; z-index: -1; overflow: hidden; direction: ltr; }}
.letterhead {{ left: {LOGO_BLOCK.left - x0}mm; top: {LOGO_BLOCK.top - y0}mm; width: {LOGO_BLOCK.width}mm;
  height: {LOGO_BLOCK.height}mm; font-size: 12pt; font-weight: bold; }}
.recipient {{ left: {ADDRESS_WINDOW.left - x0}mm; top: {ADDRESS_WINDOW.top - y0}mm; width: {ADDRESS_WINDOW.width}mm;
  height: {ADDRESS_WINDOW.height}mm; font-size: 9pt; line-height: 10.5pt; white-space: nowrap; }}
.contact {{ left: {CONTACT_BLOCK.left - x0}mm; top: {CONTACT_BLOCK.top - y0}mm; width: {CONTACT_BLOCK.width}mm;
  height: {CONTACT_BLOCK.height}mm; font-size: 9pt; line-height: 12pt; }}
.letterhead p, .recipient p, .contact p, .contact address {{ margin: 0; }}
.letterhead img {{ display: block; max-height: 14mm; max-width: 60mm; margin: 0 0 1mm; }}
address {{ font-style: normal; }}
"""
    side = "left" if direction == "ltr" else "right"
    return f"""
@page {{
  size: A4 portrait;
  margin: 15mm {SIDE_MARGIN_MM}mm 15mm {SIDE_MARGIN_MM}mm;
  @bottom-center {{ content: "Page " counter(page) " of " counter(pages); font-family: {FONT_STACK};
    font-size: 8pt; color: #333; }}
}}
{first}
html {{ font-family: {FONT_STACK}; font-size: 11pt; line-height: 1.4; color: #000; }}
:lang(ur) {{ font-family: {URDU_FONT_STACK}; line-height: 1.9; }}
body {{ margin: 0; text-align: {side}; }}
h1 {{ font-size: 15pt; margin: 0 0 4mm; line-height: 1.25; }}
h2 {{ font-size: 12pt; margin: 5mm 0 1.5mm; page-break-after: avoid; break-after: avoid; }}
h3 {{ font-size: 11pt; margin: 4mm 0 1mm; page-break-after: avoid; break-after: avoid; }}
p {{ margin: 0 0 2.5mm; orphans: 2; widows: 2; }}
ul, ol {{ margin: 0 0 2.5mm; padding-{side}: 6mm; }}
.code {{ font-size: 14pt; font-weight: bold; letter-spacing: 0.08em; margin: 2mm 0 3mm 6mm; }}
.large-print main {{ font-size: 16pt; }}
.large-print main h1 {{ font-size: 20pt; }}
.large-print main h2, .large-print main h3 {{ font-size: 18pt; }}
.large-print main .code {{ font-size: 18pt; }}
table {{ border-collapse: collapse; margin: 0 0 3mm; }}
th, td {{ border: 0.5pt solid #555; padding: 1mm 2mm; text-align: {side}; vertical-align: top; }}
"""
