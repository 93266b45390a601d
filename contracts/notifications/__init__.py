"""The notifications service's contracts: commands, queries (with their views) and integration events."""

from contracts.notifications.commands import (
    CancelNotification,
    DeliveryReceipt,
    NoticeRequested,
    NotificationRef,
    ReceiptRecorded,
    RequestProfessionalNotice,
)
from contracts.notifications.events import (
    UNDELIVERED,
    CouldNotNotify,
    Duty,
    NotificationDelivered,
    NotificationOwed,
    NotificationStatus,
)
from contracts.notifications.queries import (
    AuditAttempt,
    AuditNotification,
    AuditReceipt,
    AuditStep,
    CountsView,
    FailedToReach,
    NotificationAudit,
    NotificationCounts,
    NotificationsForCase,
    NotificationsForPupil,
    NotificationsPage,
    NotificationsReads,
    NotificationsSubjectAccess,
    NotificationView,
    SentAs,
    UndeliveredNotifications,
)
from contracts.service import ServiceContract

__all__ = [
    "CONTRACT",
    "UNDELIVERED",
    "AuditAttempt",
    "AuditNotification",
    "AuditReceipt",
    "AuditStep",
    "CancelNotification",
    "CouldNotNotify",
    "CountsView",
    "DeliveryReceipt",
    "Duty",
    "FailedToReach",
    "NoticeRequested",
    "NotificationAudit",
    "NotificationCounts",
    "NotificationDelivered",
    "NotificationOwed",
    "NotificationRef",
    "NotificationStatus",
    "NotificationView",
    "NotificationsForCase",
    "NotificationsForPupil",
    "NotificationsPage",
    "NotificationsReads",
    "NotificationsSubjectAccess",
    "ReceiptRecorded",
    "RequestProfessionalNotice",
    "SentAs",
    "UndeliveredNotifications",
]

CONTRACT = ServiceContract(
    name="notifications",
    description="Every message owed to a parent, young person or professional, and its delivery.",
    commands=(RequestProfessionalNotice, DeliveryReceipt, CancelNotification),
    queries=(
        NotificationsForPupil,
        NotificationsForCase,
        UndeliveredNotifications,
        FailedToReach,
        NotificationCounts,
        AuditNotification,
        NotificationsSubjectAccess,
        NotificationsReads,
    ),
    # GOV.UK Notify's receipts come to the service's own callback endpoint, authenticated by Notify's token
    not_for_people=frozenset({DeliveryReceipt}),
)
