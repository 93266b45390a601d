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
    CountsView,
    FailedToReach,
    NotificationCounts,
    NotificationsForCase,
    NotificationsForPupil,
    NotificationsPage,
    NotificationView,
    UndeliveredNotifications,
)

__all__ = [
    "UNDELIVERED",
    "CancelNotification",
    "CouldNotNotify",
    "CountsView",
    "DeliveryReceipt",
    "Duty",
    "FailedToReach",
    "NoticeRequested",
    "NotificationCounts",
    "NotificationDelivered",
    "NotificationOwed",
    "NotificationRef",
    "NotificationStatus",
    "NotificationView",
    "NotificationsForCase",
    "NotificationsForPupil",
    "NotificationsPage",
    "ReceiptRecorded",
    "RequestProfessionalNotice",
    "UndeliveredNotifications",
]
