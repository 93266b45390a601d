"""The notifications application."""

from __future__ import annotations

from services.runtime.eventstore import SendcaseApplication


class Notifications(SendcaseApplication):
    name = "notifications"
