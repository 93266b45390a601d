"""The gateway's few pages (sign-in, the role choice, no access, messages), from Jinja templates that escape
everything they are given; one stylesheet of its own and no script, so the Content-Security-Policy can forbid both
inline code and anything from elsewhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

HERE = Path(__file__).resolve().parent
STYLESHEET = (HERE / "static" / "gateway.css").read_text(encoding="utf-8")

_templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(template: str, status: int = 200, headers: dict[str, str] | None = None, **values: Any) -> HTMLResponse:
    values.setdefault("signed_in", None)
    html = _templates.get_template(template).render(**values)
    return HTMLResponse(html, status_code=status, headers=headers)


def render_message(status: int, title: str, message: str, headers: dict[str, str] | None = None) -> HTMLResponse:
    return render("message.html", status, headers, title=title, message=message)
