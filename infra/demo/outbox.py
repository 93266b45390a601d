"""What the demo shows of the notifications service: the letters and emails in the local file outbox."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from uuid import UUID

from services.notifications.settings import NotificationsSettings
from services.runtime.documents import pdf_text_lines


def outbox_folder(home: Path | None = None, outbox_dir: Path | None = None) -> Path:
    """Where the file channel writes: the folder given, else <home>/outbox, else the service's setting
    ($SENDCASE_NOTIFICATIONS_OUTBOX_DIR, else $SENDCASE_HOME/outbox, else ./.sendcase/outbox)."""
    if outbox_dir is not None:
        return Path(outbox_dir).expanduser().resolve()
    if home is not None:
        return Path(home).expanduser().resolve() / "outbox"
    folder = NotificationsSettings().outbox_dir
    assert folder is not None
    return folder.resolve()


def pdf_text(data: bytes) -> list[str]:
    """The lines of a letter's PDF, as a PDF reader extracts them (for showing it in a terminal)."""
    return pdf_text_lines(data)


def show_outbox(
    pupil_ids: Iterable[UUID | str],
    home: Path | None = None,
    echo: Callable[[str], None] = print,
    max_lines: int = 40,
    outbox_dir: Path | None = None,
) -> int:
    """Print every message the file channel produced for the given pupils; returns how many files.

    Each message is a file a newcomer can open: <outbox>/<pupil id>/<notification id>.<email|sms>.txt, or
    .letter.pdf for a letter.
    """
    folder = outbox_folder(home, outbox_dir)
    shown = 0
    for pupil_id in pupil_ids:
        files = sorted((folder / str(pupil_id)).glob("*.*"))
        files = [f for f in files if not f.name.endswith(".partial")]
        if not files:
            echo(f"   (nothing in the outbox for pupil {pupil_id} yet: {folder / str(pupil_id)})")
            continue
        for path in files:
            shown += 1
            echo(f"   --- {path}")
            lines = pdf_text(path.read_bytes()) if path.suffix == ".pdf" else path.read_text().splitlines()
            for line in lines[:max_lines]:
                echo(f"   | {line}")
            if len(lines) > max_lines:
                echo(f"   | ... ({len(lines) - max_lines} more lines)")
    return shown
