"""The demo's view of the file outbox shows each letter and email a newcomer can open."""

import asyncio
from uuid import uuid4

from infra.demo.outbox import show_outbox
from services.notifications.adapters.channels import FileOutbox, Message
from tests.support.register_events import father, mother


def message(pupil_id, person, channel: str) -> Message:
    return Message(
        notification_id=uuid4(),
        pupil_id=pupil_id,
        key=f"n{channel}.{channel}",
        channel=channel,
        recipient=person.model_dump(mode="json"),
        subject="Sam now gets extra help at school (SEN support)",
        body=f"Dear {person.name},\n\nFrom Friday 20 November 2026 Sam is on the SEN register.\n",
        sms="Sam is on the SEN register.",
        content_hash="ab" * 32,
    )


def test_show_outbox_prints_the_email_and_the_letter_for_each_pupil(tmp_path) -> None:
    pupil, other = uuid4(), uuid4()
    outbox = FileOutbox(tmp_path)
    asyncio.run(outbox.send(message(pupil, mother(), "email")))
    asyncio.run(outbox.send(message(pupil, father(), "letter")))
    printed: list[str] = []
    shown = show_outbox([pupil, other], echo=printed.append, outbox_dir=tmp_path)
    text = "\n".join(printed)
    assert shown == 2
    assert "| Dear Alex Taylor1," in text  # the email
    assert "| Jordan Reed1" in text and "| 4 Elvet Bridge" in text and "| Dear Jordan Reed1," in text  # the letter
    assert f"nothing in the outbox for pupil {other}" in text
