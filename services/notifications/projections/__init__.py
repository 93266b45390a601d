"""The notifications service's read models, one writer each, rebuildable from its own log."""

from services.notifications.projections.notifications_by_pupil import TABLE, NotificationsByPupil

__all__ = ["TABLE", "NotificationsByPupil"]
