"""Typed replies read as JSON, as the assertions written before replies were typed expect them."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter


def json_result(reply: Any) -> Any:
    """The reply's result as JSON data (what went over the wire), e.g. a NotificationView as a dict."""
    assert reply.outcome in ("accepted", "answered"), reply
    return TypeAdapter(Any).dump_python(reply.result, mode="json")
