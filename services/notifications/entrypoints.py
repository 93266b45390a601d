"""The notifications service's commands and queries, each bound to the method that answers it (see
services/runtime/routes.py for what the runtime does with each line)."""

from __future__ import annotations

from contracts.notifications import (
    AuditNotification,
    CancelNotification,
    DeliveryReceipt,
    FailedToReach,
    NotificationCounts,
    NotificationsForCase,
    NotificationsForPupil,
    NotificationsSubjectAccess,
    RequestProfessionalNotice,
    UndeliveredNotifications,
)
from services.notifications.application import Notifications
from services.notifications.queries import NotificationsQueries
from services.runtime.routes import Routes

ROUTES = Routes(
    commands={
        RequestProfessionalNotice: Notifications.request_professional_notice,
        DeliveryReceipt: Notifications.record_delivery_receipt,
        CancelNotification: Notifications.cancel,
    },
    queries={
        NotificationsForPupil: NotificationsQueries.for_pupil,
        NotificationsForCase: NotificationsQueries.for_case,
        UndeliveredNotifications: NotificationsQueries.undelivered,
        FailedToReach: NotificationsQueries.failed_to_reach,
        NotificationCounts: NotificationsQueries.counts,
        AuditNotification: Notifications.audit_notification,
        NotificationsSubjectAccess: Notifications.subject_access,
    },
)
