"""The pages of a parent or young person signed in with the citizen provider: the children whose records they
were invited to see, and linking a child with the one-time code the school sent them (docs/security.md,
"Families"). What they may then see is decided by the services, from the grants the register made."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from contracts.envelope import Accepted, Actor, Answered, Rejected
from contracts.register import AcceptInvitation, ChildAccess, MyChildren
from services.gateway.core import Gateway, Refusal, gateway_of
from services.gateway.pages import render, render_message
from services.runtime.logging import get_logger

log = get_logger(__name__)

CITIZEN = "citizen"


def is_family(actor: Actor | None) -> bool:
    return actor is not None and actor.organisation == CITIZEN


async def children_of(gateway: Gateway, actor: Actor) -> tuple[list[ChildAccess], str | None]:
    """The children the person may see, or none and why not (the register not answering, say)."""
    try:
        reply = await gateway.ask(MyChildren(), actor)
    except Refusal as e:
        return [], e.rejected.message
    if isinstance(reply, Answered):
        return list(reply.result), None
    assert isinstance(reply, Rejected)
    return [], reply.message


async def family_home(gateway: Gateway, values: dict[str, Any], **extra: Any) -> Response:
    """The family's page: `values` as the home page has them (the acting person among them), and `extra`."""
    children, problem = await children_of(gateway, values["actor"])
    shown = {"linked": None, "code_problem": None, **values, **extra}
    return render("family.html", children=children, problem=problem, **shown)


def family_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.post("/link-child")
    async def link_child(
        request: Request,
        code: Annotated[str, Form(max_length=100)] = "",
        csrf_token: Annotated[str, Form(max_length=200)] = "",
    ) -> Response:
        from services.gateway.web import csrf_refused, home_values, signed_in

        gateway = gateway_of(request)
        session = await signed_in(gateway, request)
        if isinstance(session, Response):
            return session
        if not session.csrf_ok(csrf_token):
            return csrf_refused()
        actor = session.actor
        if not is_family(actor):
            return render_message(
                403, "Not for this role", "Linking a child with a code is for parents and young people."
            )
        assert actor is not None
        try:  # each code tried counts against the person and the address (and the register locks out guessers)
            await gateway.limit("api", "person", actor.user_id)
            await gateway.limit("api", "address", gateway.address(request))
        except Refusal as e:
            return render_message(e.status, "Too many tries", e.rejected.message, headers=e.headers)
        values = home_values(gateway, session)
        cleaned = " ".join(code.split())
        if not cleaned:
            return await family_home(gateway, values, status=422, code_problem="Enter the code you were sent.")
        try:
            command = AcceptInvitation(code=cleaned)
        except ValueError:
            return await family_home(
                gateway,
                values,
                status=422,
                code_problem="The code is the letters and digits you were sent, such as K7QM-3XD9-TWPA.",
            )
        try:
            reply = await gateway.ask(command, actor)
        except Refusal as e:
            return await family_home(gateway, values, status=e.status, code_problem=e.rejected.message)
        if isinstance(reply, Rejected):
            log.info("invitation code refused", rule=reply.rule)
            return await family_home(gateway, values, status=422, code_problem=reply.message)
        assert isinstance(reply, Accepted)
        children, _ = await children_of(gateway, actor)
        linked = next((c for c in children if c.pupil_id == reply.result.pupil_id), None)
        who = f"{linked.given_name} {linked.family_name}" if linked else "the child"
        return await family_home(gateway, values, linked=f"You can now see {who}'s record.")

    return router
