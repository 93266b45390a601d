"""A message's short reference: ten characters a person can read out on the phone ("HN4QX-7RB2M"), derived from
the notification's id, so a replay of the cause (which finds the same notification) gives the same reference, and
`sendcase notifications find <reference>` (query `notifications.by_reference`) finds the message by it.

Crockford's base32 (no I, L, O or U: nothing to confuse with 1, 0 or V, and no words by accident), 50 bits of the
SHA-256 of the id: among the millions of messages an LA sends in a decade two could share one (about a 1 in 60
chance at six million), so a search by reference answers every message it names and says which is which. Five and
five characters: never the shape of an invitation's one-time code (three groups of four), which views hide.
"""

from __future__ import annotations

import hashlib
import re
from uuid import UUID

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32
BITS = 50
SHAPE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$")
# How people mistype a reference read out or copied by hand (Crockford's decoding rules): read as meant.
_AS_MEANT = str.maketrans({"I": "1", "L": "1", "O": "0", "U": "V"})


def short_reference(notification_id: UUID) -> str:
    """The reference printed on a message: deterministic, from its id."""
    digest = hashlib.sha256(b"sendcase message reference:" + notification_id.bytes).digest()
    number = int.from_bytes(digest[:8], "big") >> (64 - BITS)
    chars = "".join(ALPHABET[(number >> shift) & 31] for shift in range(BITS - 5, -1, -5))
    return f"{chars[:5]}-{chars[5:]}"


def normalised_reference(typed: str) -> str | None:
    """A reference as a person typed or read it ("hn4qx 7rb2m", "HN4QX7RB2M") in its printed form, or None when it
    cannot be one."""
    chars = re.sub(r"[\s\-.]", "", typed).upper().translate(_AS_MEANT)
    if len(chars) != BITS // 5 or any(c not in ALPHABET for c in chars):
        return None
    return f"{chars[:5]}-{chars[5:]}"
