"""A service's declaration of what it answers (see contracts/catalogue.py for who reads it)."""

from __future__ import annotations

from dataclasses import dataclass, field

from contracts.envelope import Command, Query


@dataclass(frozen=True)
class ServiceContract:
    name: str
    description: str
    commands: tuple[type[Command], ...]
    queries: tuple[type[Query], ...]
    # Other services' queries this service sends (e.g. ehcp asking plans for a pupil's evidence). Never
    # commands: a service changes another's records only through events the other reacts to.
    asks: tuple[type[Query], ...] = ()
    # Commands that reach the service only through an endpoint of its own (GOV.UK Notify's delivery receipts),
    # never through the gateway's API.
    not_for_people: frozenset[type[Command] | type[Query]] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        messages: tuple[type[Command] | type[Query], ...] = (*self.commands, *self.queries)
        for message in messages:
            owner = message.SUBJECT.split(".", 1)[0]
            if owner != self.name:
                raise ValueError(f"{message.__name__} ({message.SUBJECT}) is not a message of {self.name}")
        for asked in self.asks:
            if asked.SUBJECT.split(".", 1)[0] == self.name:
                raise ValueError(f"{self.name} asks its own query {asked.SUBJECT}: only other services' go in asks")

    @property
    def public_commands(self) -> tuple[type[Command], ...]:
        return tuple(c for c in self.commands if c not in self.not_for_people)

    @property
    def public_queries(self) -> tuple[type[Query], ...]:
        return tuple(q for q in self.queries if q not in self.not_for_people)


def name_of(message: type[Command] | type[Query]) -> str:
    """`register.add_to_sen_support` -> `add_to_sen_support`: the message's name within its service."""
    return message.SUBJECT.split(".", 1)[1]
