"""contracts/catalogue.py is what the gateway's API and the NATS permissions are generated from: it must say
exactly what each service routes, no more and no less."""

from __future__ import annotations

from importlib import import_module

import pytest

from contracts.catalogue import CATALOGUE
from contracts.envelope import Command, Query
from contracts.register import GetPupil
from contracts.service import ServiceContract

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("service", sorted(CATALOGUE))
def test_each_service_routes_exactly_what_its_contract_declares(service: str) -> None:
    contract = CATALOGUE[service]
    routes = import_module(f"services.{service}.entrypoints").ROUTES
    routed = {route.message for route in routes}
    declared = {*contract.commands, *contract.queries}
    assert routed - declared == set(), f"routed by {service} but not declared in its CONTRACT"
    assert declared - routed == set(), f"declared in {service}'s CONTRACT but not routed"
    assert all(issubclass(c, Command) for c in contract.commands)
    assert all(issubclass(q, Query) for q in contract.queries)


def test_a_contract_cannot_claim_another_services_messages() -> None:
    with pytest.raises(ValueError, match="is not a message of notifications"):
        ServiceContract(name="notifications", description="x", commands=(), queries=(GetPupil,))


def test_a_service_asks_only_other_services_queries() -> None:
    with pytest.raises(ValueError, match="asks its own query"):
        ServiceContract(name="register", description="x", commands=(), queries=(GetPupil,), asks=(GetPupil,))
