"""The notifications service's commands and queries, each bound to the method that answers it, and which children
each query shows (see services/runtime/routes.py for what the runtime does with each line, services/runtime/
read_log.py for the read log it keeps from `reads`)."""

from __future__ import annotations

from contracts.notifications import (
    AuditNotification,
    CancelNotification,
    DeliveryReceipt,
    FailedToReach,
    NotificationCounts,
    NotificationsByReference,
    NotificationsForCase,
    NotificationsForPupil,
    NotificationsReads,
    NotificationsSubjectAccess,
    RequestProfessionalNotice,
    UndeliveredNotifications,
)
from services.notifications.application import Notifications
from services.notifications.queries import NotificationsQueries
from services.runtime.read_log import NO_CHILD, ReadLog, child, children
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
        NotificationsByReference: NotificationsQueries.by_reference,
        UndeliveredNotifications: NotificationsQueries.undelivered,
        FailedToReach: NotificationsQueries.failed_to_reach,
        NotificationCounts: NotificationsQueries.counts,
        AuditNotification: Notifications.audit_notification,
        NotificationsSubjectAccess: Notifications.subject_access,
        NotificationsReads: ReadLog.reads,
    },
    reads={
        NotificationsForPupil: child("pupil_id"),
        NotificationsForCase: children(lambda found: (n.pupil_id for n in found)),
        NotificationsByReference: children(lambda found: (n.pupil_id for n in found)),
        UndeliveredNotifications: children(lambda page: (n.pupil_id for n in page.notifications)),
        FailedToReach: children(lambda page: (n.pupil_id for n in page.notifications)),
        AuditNotification: children(lambda audit: [audit.pupil_id]),
        NotificationsSubjectAccess: child("pupil_id"),
        NotificationsReads: child("pupil_id"),
        NotificationCounts: NO_CHILD,  # counts by duty and status
    },
)
