"""Who may do what on NATS, generated from what the services declare (docs/security.md, "NATS").

One generator for every deployment, so the embedded stack, the test servers and production enforce the same
rules:
- each service (infra/stack/catalogue.py) connects as its own user: it publishes only its own integration
  events, dead letters and signed checkpoints, uses only its own durable consumers (one per Reaction of its
  policies), answers only its own commands, queries, pings and operator requests (with `allow_responses`:
  one reply to each request it got, never a publish on another's inbox), reads only its own inbox, and may
  send another service only the queries its contract's `asks` names (contracts/catalogue.py), never a command;
- the gateway (services/gateway) is the only user that may send commands, and only the public ones
  (`ServiceContract.public_commands`), with the public queries; it reads only its own inbox;
- the operator (the CLI, and a person's tools) may look after the streams, send any command or query, and ask
  about parked events, but, like everyone, never delete or purge the streams or a message in them.

`infra/production/sendcase-users.conf` is this module's output for production (`python -m
infra.stack.nats_users > infra/production/sendcase-users.conf`; a test fails when it is out of date), with each
password an environment variable of the nats-server process. The embedded stack writes it with bcrypt hashes
of passwords made at first start (`NatsCredentials`, kept in $SENDCASE_HOME/keys, never committed). The test
servers write it with `*` in place of the subject prefix and the stream names, so that many sandboxes (each its
own prefix and streams) share one server under the same rules.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from contracts.catalogue import CATALOGUE
from contracts.subjects import DEFAULT_PREFIX, GATEWAY_USER, OPERATOR_USER
from services.runtime.settings import audit_stream_name, stream_names

GATEWAY, OPERATOR = GATEWAY_USER, OPERATOR_USER  # the users people act through (contracts/subjects.py)
CREDENTIALS_FILE = "nats-credentials.json"
ANY = "*"  # a whole token: the test servers' prefix and stream names


def service_names() -> list[str]:
    from infra.stack.catalogue import SERVICES

    return list(SERVICES)


def reactions_of(service: str) -> list[str]:
    """The names of a service's reactions (its durable consumers are `<service>-<name>`)."""
    try:
        policies = import_module(f"services.{service}.policies")
    except ModuleNotFoundError:
        return []
    return [reaction.name for reaction in getattr(policies, "REACTIONS", [])]


def users() -> list[str]:
    return [*service_names(), GATEWAY, OPERATOR]


@dataclass
class Permissions:
    user: str
    comment: str
    publish: list[str] = field(default_factory=list)
    subscribe: list[str] = field(default_factory=list)
    deny_publish: list[str] = field(default_factory=list)
    allow_responses: bool = False


@dataclass(frozen=True)
class Names:
    """The subject prefix and stream names the permissions are written for (`*` each on a test server)."""

    prefix: str
    events: str
    dead_letters: str
    audit: str

    @classmethod
    def of(cls, prefix: str) -> Names:
        if prefix == ANY:
            return cls(ANY, ANY, ANY, ANY)
        events, dead_letters = stream_names(prefix)
        return cls(prefix, events, dead_letters, audit_stream_name(prefix))


# Nobody deletes or purges a stream or deletes a message in it; nor updates a stream, since an update that
# shortened its limits (max_msgs, max_age) would delete its history as surely (an administrator changes a stream's
# settings by editing this file on purpose: docs/operations.md).
NEVER = [
    "$JS.API.STREAM.DELETE.>",
    "$JS.API.STREAM.PURGE.>",
    "$JS.API.STREAM.MSG.DELETE.>",
    "$JS.API.STREAM.UPDATE.>",
]


def service_permissions(service: str, n: Names) -> Permissions:
    p = n.prefix
    contract = CATALOGUE.get(service)
    publish = [
        f"{p}.events.{service}.>",  # its own integration events (the outbox relay)
        f"{p}.audit.{service}.>",  # its signed checkpoints of its hash chain (docs/audit.md)
        f"$JS.API.STREAM.INFO.{n.events}",  # checks the streams at start
        f"$JS.API.STREAM.INFO.{n.dead_letters}",
        f"$JS.API.STREAM.INFO.{n.audit}",
        f"$JS.API.STREAM.MSG.GET.{n.events}",  # the relay's last published event
        f"$JS.API.STREAM.MSG.GET.{n.audit}",  # its latest checkpoint, at start
    ]
    for reaction in reactions_of(service):
        consumer = f"{service}-{reaction}"
        publish += [
            f"{p}.deadletter.{consumer}",
            f"$JS.API.CONSUMER.CREATE.{n.events}.{consumer}",
            f"$JS.API.CONSUMER.CREATE.{n.events}.{consumer}.>",
            f"$JS.API.CONSUMER.INFO.{n.events}.{consumer}",
            f"$JS.API.CONSUMER.MSG.NEXT.{n.events}.{consumer}",
            f"$JS.ACK.{n.events}.{consumer}.>",
        ]
    if contract is not None:
        publish += [f"{p}.queries.{asked.SUBJECT}" for asked in contract.asks]
    return Permissions(
        user=service,
        comment=f"The {service} service.",
        publish=publish,
        deny_publish=NEVER,
        subscribe=[
            f"{p}.commands.{service}.>",
            f"{p}.queries.{service}.>",
            f"{p}.ping.{service}",
            f"{p}.admin.{service}.>",
            f"_INBOX.{service}.>",
        ],
        allow_responses=True,
    )


def gateway_permissions(n: Names) -> Permissions:
    p = n.prefix
    publish = []
    for contract in CATALOGUE.values():
        publish += [f"{p}.commands.{c.SUBJECT}" for c in contract.public_commands]
        publish += [f"{p}.queries.{q.SUBJECT}" for q in contract.public_queries]
    publish += [f"{p}.ping.>"]
    return Permissions(
        user=GATEWAY,
        comment="The gateway: the only user that sends commands, each for a signed-in person (docs/security.md).",
        publish=publish,
        deny_publish=NEVER,
        subscribe=[f"_INBOX.{GATEWAY}.>"],
    )


def operator_permissions(n: Names) -> Permissions:
    p = n.prefix
    deny = []
    for stream in (n.events, n.dead_letters, n.audit):
        deny += [
            f"$JS.API.STREAM.DELETE.{stream}",
            f"$JS.API.STREAM.PURGE.{stream}",
            f"$JS.API.STREAM.MSG.DELETE.{stream}",
            f"$JS.API.STREAM.UPDATE.{stream}",
        ]
    if n.events == ANY:
        deny = NEVER
    return Permissions(
        user=OPERATOR,
        comment=(
            "The operator: `sendcase` on an operator's machine. Creates the streams (with their deny flags), looks\n"
            "after streams and consumers, republishes a dead letter, asks a service about its parked events, and\n"
            "may send any command or query as the person it names (an operator tool: docs/security.md). NEVER\n"
            "given to a service. Even the operator cannot delete, purge or update the streams, nor delete a message."
        ),
        publish=[
            "$JS.API.>",
            "$JS.ACK.>",
            "$JS.FC.>",
            f"{p}.events.>",
            f"{p}.deadletter.>",
            f"{p}.audit.>",
            f"{p}.commands.>",
            f"{p}.queries.>",
            f"{p}.admin.>",
            f"{p}.ping.>",
        ],
        deny_publish=deny,
        # every inbox, and the facts as they go by (`nats sub 'sendcase.events.>'`: personal data in them is
        # sealed), the dead letters and the checkpoints
        subscribe=["_INBOX.>", f"{p}.events.>", f"{p}.deadletter.>", f"{p}.audit.>"],
    )


def permissions(prefix: str = DEFAULT_PREFIX) -> list[Permissions]:
    names = Names.of(prefix)
    return [
        *(service_permissions(s, names) for s in service_names()),
        gateway_permissions(names),
        operator_permissions(names),
    ]


def _list(items: Iterable[str], indent: str) -> str:
    return "\n".join(f'{indent}"{item}"' for item in items)


HEADER = """\
# sendcase's NATS users and what each may do. GENERATED by infra/stack/nats_users.py from what the services
# declare (contracts/catalogue.py, each service's policies): do not edit by hand; regenerate with
#   python -m infra.stack.nats_users > infra/production/sendcase-users.conf
# (tests/unit/test_nats_users.py fails when this file is out of date). Included by nats-server.conf on every node.
#
# Passwords are environment variables of the nats-server process, written WITHOUT quotes: NATS reads
# `password: $REGISTER_NATS_PASSWORD` from the environment, but takes `"$REGISTER_NATS_PASSWORD"` (quoted)
# literally. A variable that is not set stops the server at start. NATS parses the value as a config value:
# use letters and digits, starting with a letter (`echo p$(openssl rand -hex 32)`). The same value goes in
# that user's NATS URL (tls://register:<password>@nats-1:4222).
#
# NATS wildcards are whole tokens only: every durable consumer is named in full. Nobody may delete or purge
# the streams or a message in them (and the streams are created with deny_delete and deny_purge, which NATS
# never lets anyone take away again). Inboxes: each user reads only its own (_INBOX.<user>.>); services
# answer with allow_responses (one reply to each request they received), never a publish on _INBOX.
"""


def users_config(prefix: str = DEFAULT_PREFIX, passwords: Mapping[str, str] | None = None) -> str:
    """The `authorization { users: [...] }` block. `passwords`: each user's password as written in the file
    (a bcrypt hash, quoted); none given: `$<USER>_NATS_PASSWORD`, read from the server's environment."""
    blocks = []
    for perm in permissions(prefix):
        if passwords is not None:
            password = f'"{passwords[perm.user]}"'
        else:
            password = f"${perm.user.upper()}_NATS_PASSWORD"
        comment = "\n".join(f"      # {line}" for line in perm.comment.splitlines())
        publish = f"          allow: [\n{_list(perm.publish, '            ')}\n          ]\n"
        if perm.deny_publish:
            publish += f"          deny: [\n{_list(perm.deny_publish, '            ')}\n          ]\n"
        subscribe = _list(perm.subscribe, "            ")
        responses = "        allow_responses: true\n" if perm.allow_responses else ""
        blocks.append(
            "    {\n"
            f"{comment}\n"
            f"      user: {perm.user}\n"
            f"      password: {password}\n"
            "      permissions: {\n"
            f"        publish: {{\n{publish}        }}\n"
            f"        subscribe: {{\n          allow: [\n{subscribe}\n          ]\n        }}\n"
            f"{responses}"
            "      }\n"
            "    }"
        )
    return HEADER + "\nauthorization {\n  users: [\n" + "\n".join(blocks) + "\n  ]\n}\n"


class NatsCredentials:
    """Each NATS user's password for one stack, made at its first start and kept in a file only its owner can
    read ($SENDCASE_HOME/keys/nats-credentials.json). The server's configuration holds only bcrypt hashes."""

    def __init__(self, passwords: dict[str, str], path: Path | None = None) -> None:
        self.passwords = passwords
        self.path = path

    @classmethod
    def ensure(cls, folder: Path) -> NatsCredentials:
        """The credentials in `folder`, made (for any user still without a password) and saved."""
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = folder / CREDENTIALS_FILE
        passwords: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        missing = [user for user in users() if user not in passwords]
        if missing:
            # letters and digits, starting with a letter: safe in a URL and in NATS's config
            passwords.update({user: "p" + secrets.token_hex(24) for user in missing})
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(passwords, f, indent=2)
            tmp.replace(path)
        return cls(passwords, path)

    @classmethod
    def load(cls, folder: Path) -> NatsCredentials | None:
        path = folder / CREDENTIALS_FILE
        return cls(json.loads(path.read_text()), path) if path.exists() else None

    def url(self, user: str, server_url: str) -> str:
        """`nats://127.0.0.1:4222` -> `nats://register:<password>@127.0.0.1:4222` (each node of a list)."""
        parts = []
        for one in server_url.split(","):
            split = urlsplit(one.strip())
            host = split.netloc.rpartition("@")[2]
            parts.append(urlunsplit(split._replace(netloc=f"{user}:{self.passwords[user]}@{host}")))
        return ",".join(parts)

    def server_config(self, prefix: str, cost: int = 10) -> str:
        """The users block with each password as a bcrypt hash (`cost` rounds: 4 on a throw-away test server,
        which checks a password at every connection; 10 on a stack's)."""
        import bcrypt

        hashed = {
            user: bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=cost)).decode()
            for user, password in self.passwords.items()
            if user in users()
        }
        return users_config(prefix, hashed)


def stack_nats_url(home: Path, server_url: str, user: str = OPERATOR) -> str:
    """The URL `user` connects to a `sendcase up` stack's NATS with (the operator's, for the CLI), from the
    credentials in its home; the bare URL for a stack made before NATS required them."""
    credentials = NatsCredentials.load(home / "keys")
    return (
        credentials.url(user, server_url) if credentials is not None and user in credentials.passwords else server_url
    )


def main() -> int:
    sys.stdout.write(users_config())
    return 0


if __name__ == "__main__":
    sys.exit(main())
