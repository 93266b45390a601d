"""Reactions to other services' integration events: each records the notifications it makes owed.

Idempotent by construction: the notification id is derived from the causing event, and the consumer
records the event's position in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from contracts.envelope import EventEnvelope
from contracts.notifications import Duty
from contracts.register import PupilAddedToSenSupport
from services.notifications.application import Notifications
from services.notifications.domain.notification import Notification

EVERYONE_WITH_PARENTAL_RESPONSIBILITY = "everyone with parental responsibility"


def when_pupil_added_to_sen_support_owe_parent_notification(
    app: Notifications, envelope: EventEnvelope
) -> Sequence[Notification]:
    # CFA 2014 s.68: parents must be told when special educational provision is made for their child.
    fact = envelope.payload_as(PupilAddedToSenSupport)
    return [
        Notification(
            cause_event_id=envelope.event_id,
            cause_event_type=envelope.type,
            duty=Duty.SEN_PROVISION_STARTED.value,
            pupil_id=fact.pupil_id,
            school_urn=fact.school_urn,
            recipients=EVERYONE_WITH_PARENTAL_RESPONSIBILITY,
            owed_since=fact.effective_date,
            about=f"{fact.given_name} {fact.family_name}",
        )
    ]


REACTIONS = {
    "owe-parent-notifications": (
        [PupilAddedToSenSupport.TYPE],
        when_pupil_added_to_sen_support_owe_parent_notification,
    ),
}
