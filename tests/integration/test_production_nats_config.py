"""The production NATS users do what infra/production/sendcase-users.conf says, on a real nats-server.

A nats-server (the wheel's) is started on free loopback ports from a small node configuration written here
that includes the real users file, with the passwords in the server's environment. Each user then tries
what it should and should not be able to do. A refused publish or subscription shows as a "Permissions
Violation" on the connection's error callback; a refused JetStream API request gets no answer (a timeout),
since the server drops the request before JetStream sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import ssl
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import nats.errors
import pytest
from nats.aio.client import Client as NatsClient
from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.errors import APIError
from typer.testing import CliRunner

from contracts.envelope import Accepted, ServiceHealth
from contracts.subjects import inbox_prefix
from infra.cli.app import app
from infra.stack.catalogue import SERVICES, bootstrap_for
from infra.stack.servers import EmbeddedNats, free_port, port_open, stop_process
from services.runtime.client import Client
from services.runtime.clock import FixedClock
from services.runtime.database import ensure_database
from services.runtime.nats_connection import tls_context
from services.runtime.settings import stream_names
from services.runtime.streams import ensure_streams
from tests.conftest import SCHOOL_DAY
from tests.support.factories import add_to_sen_support, senco
from tests.support.stack import Sandbox, eventually, running_service

PRODUCTION = Path(__file__).resolve().parents[2] / "infra" / "production"
USERS_FILE = PRODUCTION / "sendcase-users.conf"
PREFIX = "sendcase"  # the production file names sendcase's subjects and streams outright
EVENTS, DEAD_LETTERS = stream_names(PREFIX)
PASSWORDS = {
    "register": "pRegister7f3a",
    "notifications": "pNotifications2b9c",
    "gateway": "pGateway5d1e",
    "operator": "pOperator8c4f",
}
REFUSED = 1.0  # seconds to wait for an answer that a refused request never gets


@dataclass
class ProductionNats:
    port: int
    monitor_port: int
    config: Path
    log: Path

    def url(self, user: str, password: str | None = None, scheme: str = "nats") -> str:
        return f"{scheme}://{user}:{password if password is not None else PASSWORDS[user]}@127.0.0.1:{self.port}"

    @contextlib.asynccontextmanager
    async def connect(self, user: str) -> AsyncIterator[tuple[NatsClient, list[str]]]:
        """A connection as `user`, with its inboxes where sendcase puts them, and the errors the server sent."""
        errors: list[str] = []

        async def on_error(e: Exception) -> None:
            errors.append(str(e))

        nc = await nats.connect(
            self.url(user),
            inbox_prefix=inbox_prefix(user),
            error_cb=on_error,
            max_reconnect_attempts=0,
            allow_reconnect=False,
        )
        try:
            yield nc, errors
        finally:
            await nc.close()


def start_nats(root: Path, extra: str = "") -> tuple[subprocess.Popen, ProductionNats]:
    """A nats-server like one production node, on loopback, with the real users file (and `extra` settings)."""
    port, monitor_port = free_port(), free_port()
    shutil.copy(USERS_FILE, root / USERS_FILE.name)
    config = root / "node.conf"
    config.write_text(
        f"server_name: sendcase-test\n"
        f"listen: 127.0.0.1:{port}\n"
        f"http: 127.0.0.1:{monitor_port}\n"
        f"jetstream {{\n  store_dir: {root / 'jetstream'}\n}}\n"
        f"{extra}\n"
        f"include {USERS_FILE.name}\n"
    )
    env = dict(os.environ, **{f"{user.upper()}_NATS_PASSWORD": password for user, password in PASSWORDS.items()})
    log = root / "nats.log"
    proc = subprocess.Popen(
        [EmbeddedNats.binary(), "-c", str(config), "-l", str(log)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    server = ProductionNats(port, monitor_port, config, log)
    for _ in range(100):
        if proc.poll() is not None:
            raise RuntimeError(f"nats-server exited: {log.read_text() if log.exists() else ''}")
        if port_open(port) and port_open(monitor_port):
            break
        time.sleep(0.1)
    return proc, server


@pytest.fixture(scope="module")
def production_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProductionNats]:
    proc, server = start_nats(tmp_path_factory.mktemp("production-nats"))
    try:
        yield server
    finally:
        stop_process(proc)


@pytest.fixture
async def streams(production_nats: ProductionNats) -> None:
    """The operator creates the streams, with the StreamConfig every service would use."""
    async with production_nats.connect("operator") as (nc, errors):
        await ensure_streams(nc.jetstream(), PREFIX, EVENTS, DEAD_LETTERS, duplicate_window_seconds=120)
        assert errors == []


async def refused(*calls: Any) -> list[str]:
    """How each JetStream API request fared that the server should not let through (all sent at once): "timeout"
    when it got no answer, the server dropping it, or the API error when NATS let it through and said no."""

    async def outcome(call: Any) -> str:
        try:
            await asyncio.wait_for(call, REFUSED * 3)
        except (nats.errors.TimeoutError, TimeoutError):
            return "timeout"
        except APIError as e:
            return f"api error {e.err_code}: {e.description}"
        return "let through"

    return list(await asyncio.gather(*(outcome(call) for call in calls)))


async def violations(errors: list[str], subject: str) -> bool:
    """Whether the server said a publish or subscribe to `subject` was a permissions violation."""
    for _ in range(20):
        # (nats-py lower-cases the server's message, subject and all)
        if any("permissions violation" in e.lower() and subject.lower() in e.lower() for e in errors):
            return True
        await asyncio.sleep(0.05)
    return False


# --- passwords -------------------------------------------------------------------------------------------


async def test_a_password_is_the_environment_variables_value_not_its_name(production_nats: ProductionNats) -> None:
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(
            production_nats.url("register", "$REGISTER_NATS_PASSWORD"),
            max_reconnect_attempts=0,
            allow_reconnect=False,
        )
    for user in PASSWORDS:
        async with production_nats.connect(user) as (nc, _):
            assert nc.is_connected


def test_the_passwords_are_unquoted_variables_and_every_user_has_one() -> None:
    text = USERS_FILE.read_text()
    assert not re.search(r"(?m)^\s*password:\s*[\"']", text), "a quoted password is taken literally by NATS"
    assert sorted(re.findall(r"(?m)^\s*password: \$(\w+)_NATS_PASSWORD$", text)) == sorted(u.upper() for u in PASSWORDS)


def test_the_server_does_not_start_when_a_password_variable_is_not_set(tmp_path: Path) -> None:
    shutil.copy(USERS_FILE, tmp_path / USERS_FILE.name)
    (tmp_path / "node.conf").write_text(f"listen: 127.0.0.1:{free_port()}\ninclude {USERS_FILE.name}\n")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NATS_PASSWORD")}
    env.update({f"{user.upper()}_NATS_PASSWORD": p for user, p in PASSWORDS.items() if user != "gateway"})
    check = subprocess.run(
        [EmbeddedNats.binary(), "-t", "-c", str(tmp_path / "node.conf")], env=env, capture_output=True, text=True
    )
    assert check.returncode != 0
    assert "GATEWAY_NATS_PASSWORD" in check.stderr + check.stdout


# --- a service user ------------------------------------------------------------------------------------------


async def test_register_publishes_its_own_events_and_no_one_elses(production_nats, streams) -> None:
    async with production_nats.connect("register") as (nc, errors):
        js = nc.jetstream()
        ack = await js.publish("sendcase.events.register.pupil_added_to_sen_support", b"{}", stream=EVENTS)
        assert ack.stream == EVENTS and ack.seq >= 1

        with pytest.raises(nats.errors.TimeoutError):  # the publish never reaches the stream: no ack
            await js.publish("sendcase.events.notifications.sent", b"{}", timeout=REFUSED)
        assert await violations(errors, "sendcase.events.notifications.sent")

        await nc.publish("sendcase.deadletter.notifications-owe-notifications", b"{}")
        assert await violations(errors, "sendcase.deadletter.notifications-owe-notifications")
        await js.publish("sendcase.deadletter.register-ehc-plans", b"{}", stream=DEAD_LETTERS)


async def test_register_reads_its_last_event_in_the_stream(production_nats, streams) -> None:
    async with production_nats.connect("register") as (nc, _):
        js = nc.jetstream()
        await js.publish(
            "sendcase.events.register.pupil_added_to_sen_support", b"{}", headers={"Nats-Msg-Id": "probe:41"}
        )
        last = await js.get_last_msg(EVENTS, "sendcase.events.register.>")
        assert last.headers and last.headers["Nats-Msg-Id"] == "probe:41"
        assert (await js.stream_info(EVENTS)).config.deny_delete


async def test_register_uses_its_own_consumer_and_no_one_elses(production_nats, streams) -> None:
    async with production_nats.connect("operator") as (nc, _):  # an event for register's consumer
        await nc.jetstream().publish("sendcase.events.ehcp.plan_issued", b"{}")
    async with production_nats.connect("register") as (nc, errors):
        js = nc.jetstream()
        config = ConsumerConfig(
            name="register-ehc-plans",
            durable_name="register-ehc-plans",
            ack_policy=AckPolicy.EXPLICIT,
            filter_subjects=["sendcase.events.ehcp.*", "sendcase.events.plans.*"],
        )
        await js.add_consumer(EVENTS, config)
        await js.add_consumer(EVENTS, config.evolve(filter_subjects=None, filter_subject="sendcase.events.ehcp.*"))
        assert (await js.consumer_info(EVENTS, "register-ehc-plans")).name == "register-ehc-plans"
        subscription = await js.pull_subscribe_bind(durable="register-ehc-plans", stream=EVENTS)
        [msg] = await subscription.fetch(1, timeout=5)
        assert msg.subject == "sendcase.events.ehcp.plan_issued"
        await msg.nak(delay=0.1)
        [again] = await subscription.fetch(1, timeout=5)
        await again.ack_sync()  # the ack reached the server: it answered
        assert errors == []

        other = ConsumerConfig(
            name="notifications-owe-notifications",
            durable_name="notifications-owe-notifications",
            filter_subjects=["sendcase.events.register.*", "sendcase.events.plans.*"],
        )
        denied = nc.jetstream(timeout=REFUSED)
        assert (
            await refused(
                denied.add_consumer(EVENTS, other),
                denied.add_consumer(EVENTS, ConsumerConfig(ack_policy=AckPolicy.EXPLICIT)),  # an ephemeral one
                denied.consumer_info(EVENTS, "notifications-owe-notifications"),
                denied.delete_consumer(EVENTS, "register-ehc-plans"),
            )
            == ["timeout"] * 4
        )


async def test_register_can_neither_delete_purge_nor_change_the_streams(production_nats, streams) -> None:
    async with production_nats.connect("register") as (nc, errors):
        js = nc.jetstream(timeout=REFUSED)  # each refused request waits this long for nothing
        for stream in (EVENTS, DEAD_LETTERS):
            config = (await js.stream_info(stream)).config
            assert (
                await refused(
                    js.delete_stream(stream),
                    js.purge_stream(stream),
                    js.delete_msg(stream, 1),
                    js.update_stream(config.evolve(max_msgs=1)),
                    js.add_stream(config.evolve(name=f"{stream}_COPY")),
                )
                == ["timeout"] * 5
            )
        assert await violations(errors, f"$JS.API.STREAM.DELETE.{EVENTS}")
        assert await violations(errors, f"$JS.API.STREAM.UPDATE.{EVENTS}")
    async with production_nats.connect("operator") as (nc, _):
        info = await nc.jetstream().stream_info(EVENTS)
        assert info.state.messages >= 1 and info.config.max_msgs != 1


async def test_register_answers_only_its_own_requests_and_reads_only_its_own_inbox(production_nats) -> None:
    async with production_nats.connect("register") as (nc, errors):
        await nc.subscribe("sendcase.commands.notifications.>")
        await nc.subscribe("sendcase.events.>")
        await nc.subscribe("_INBOX.gateway.>")
        await nc.subscribe("_INBOX.>")
        await nc.publish("_INBOX.gateway.abc", b"a reply nobody asked register for")
        for subject in ("sendcase.commands.notifications.>", "sendcase.events.>", "_INBOX.gateway.>", "_INBOX.>"):
            assert await violations(errors, subject), subject
        assert await violations(errors, "_INBOX.gateway.abc")


# --- people's tools ----------------------------------------------------------------------------------------------


async def test_the_gateway_sends_a_request_to_a_service_and_reads_the_reply(production_nats) -> None:
    async with production_nats.connect("register") as (service, service_errors):

        async def answer(msg: Any) -> None:
            await msg.respond(b"done: " + msg.data)

        await service.subscribe("sendcase.commands.register.>", queue="register", cb=answer)
        await service.flush()
        async with production_nats.connect("gateway") as (nc, errors):
            reply = await nc.request("sendcase.commands.register.add_to_sen_support", b"Sam", timeout=5)
            assert reply.data == b"done: Sam"
            assert errors == [] and service_errors == []


async def test_the_gateway_cannot_publish_events_nor_use_jetstream_nor_read_others(production_nats, streams) -> None:
    async with production_nats.connect("gateway") as (nc, errors):
        await nc.publish("sendcase.events.register.pupil_added_to_sen_support", b"{}")
        assert await violations(errors, "sendcase.events.register.pupil_added_to_sen_support")
        await nc.publish("sendcase.admin.register.parked_events", b"{}")
        assert await violations(errors, "sendcase.admin.register.parked_events")
        js = nc.jetstream(timeout=REFUSED)
        assert await refused(js.account_info(), js.stream_info(EVENTS)) == ["timeout"] * 2
        assert await violations(errors, "$JS.API.STREAM.INFO")
        await nc.subscribe("_INBOX.register.>")
        assert await violations(errors, "_INBOX.register.>")


async def test_only_the_gateway_and_the_operator_may_send_a_command(production_nats) -> None:
    """A service may not send commands (to another service or itself): it changes another's records only
    through events the other reacts to (contracts/catalogue.py)."""
    for user in ("register", "notifications"):
        async with production_nats.connect(user) as (nc, errors):
            for subject in ("sendcase.commands.register.add_to_sen_support", "sendcase.commands.notifications.cancel"):
                await nc.publish(subject, b"{}")
                assert await violations(errors, subject), (user, subject)
    async with production_nats.connect("operator") as (nc, errors):
        await nc.publish("sendcase.commands.register.add_to_sen_support", b"{}")
        await nc.flush()
        await asyncio.sleep(0.2)
        assert errors == []


async def test_the_gateway_sends_only_what_people_may_send(production_nats) -> None:
    """GOV.UK Notify's receipts reach notifications through its own callback, never through the gateway; and
    the gateway may not ask a service about its parked events (an operator's request)."""
    async with production_nats.connect("gateway") as (nc, errors):
        for subject in (
            "sendcase.commands.notifications.delivery_receipt",
            "sendcase.admin.register.parked_events",
            "sendcase.commands.register.no_such_command",
        ):
            await nc.publish(subject, b"{}")
            assert await violations(errors, subject), subject


# --- the operator and the server -------------------------------------------------------------------------------


async def test_not_even_the_operator_can_delete_purge_or_shorten_the_streams(production_nats, streams) -> None:
    async with production_nats.connect("operator") as (nc, errors):
        js = nc.jetstream(timeout=REFUSED)
        for stream in (EVENTS, DEAD_LETTERS):
            before = (await js.stream_info(stream)).state.messages
            config = (await js.stream_info(stream)).config
            # an update to a limit of one message would delete the rest as surely as a purge
            shorten = js.update_stream(config.evolve(max_msgs=1))
            assert (
                await refused(js.delete_stream(stream), js.purge_stream(stream), js.delete_msg(stream, 1), shorten)
                == ["timeout"] * 4
            )
            info = await js.stream_info(stream)
            assert info.config.deny_purge and info.config.max_msgs != 1 and info.state.messages == before
        # Its own other streams it may manage.
        await js.add_stream(name="SCRATCH", subjects=["scratch.>"])
        assert await js.delete_stream("SCRATCH")
        assert await violations(errors, f"$JS.API.STREAM.DELETE.{EVENTS}")
        assert await violations(errors, f"$JS.API.STREAM.UPDATE.{EVENTS}")
        assert all("sendcase_events" in e or "sendcase_deadletter" in e for e in errors), errors


def test_monitoring_answers_on_localhost_and_the_production_file_says_localhost(production_nats) -> None:
    # /varz always answers (/healthz says 503 while JetStream is still starting, which is not the point here)
    with urllib.request.urlopen(f"http://127.0.0.1:{production_nats.monitor_port}/varz", timeout=5) as r:
        assert r.status == 200 and b"server_id" in r.read()
    assert f"http: 127.0.0.1:{production_nats.monitor_port}" in production_nats.config.read_text()
    connections = re.findall(r"(?m)^\s*http:\s*(\S+)", (PRODUCTION / "nats-server.conf").read_text())
    assert connections == ["127.0.0.1:8222"]


async def test_every_consumer_a_service_defines_is_named_in_the_users_file(sandbox: Sandbox) -> None:
    # NATS has no partial-token wildcard: `register-*` would be a literal name, so each consumer is listed.
    text = USERS_FILE.read_text()
    for service in SERVICES:
        settings = sandbox.settings(service)
        await ensure_database(settings.database_url or "")
        definition = bootstrap_for(service)(settings, FixedClock(SCHOOL_DAY))
        try:
            for reaction in definition.reactions:
                consumer = f"{service}-{reaction.name}"
                for line in (
                    f'"$JS.API.CONSUMER.CREATE.{EVENTS}.{consumer}"',
                    f'"$JS.API.CONSUMER.CREATE.{EVENTS}.{consumer}.>"',
                    f'"$JS.API.CONSUMER.MSG.NEXT.{EVENTS}.{consumer}"',
                    f'"$JS.ACK.{EVENTS}.{consumer}.>"',
                    f'"sendcase.deadletter.{consumer}"',
                ):
                    assert line in text, f"{line} missing from {USERS_FILE.name}"
        finally:
            definition.store.close()


# --- the real services -----------------------------------------------------------------------------------------


def violations_logged(server: ProductionNats, since: int) -> list[str]:
    """The permission violations the server logged after byte `since` of its log."""
    with open(server.log, "rb") as f:
        f.seek(since)
        return [line for line in f.read().decode(errors="replace").splitlines() if "Violation" in line]


@pytest.mark.parametrize("service", list(SERVICES))
async def test_each_service_runs_as_its_own_user_without_managing_streams(
    production_nats: ProductionNats, streams, sandbox: Sandbox, service: str
) -> None:
    settings = sandbox.settings(
        service,
        nats_url=production_nats.url(service),
        subject_prefix=PREFIX,
        manage_streams=False,
    )
    log_start = production_nats.log.stat().st_size
    async with running_service(bootstrap_for(service), settings, FixedClock(SCHOOL_DAY)) as runtime:
        async with Client(production_nats.url("gateway"), PREFIX, senco()) as client:
            health = ServiceHealth.model_validate_json(
                (await client.nc.request(f"sendcase.ping.{service}", b"", timeout=5)).data
            )
            assert health.service == service
            if service == "register":
                reply = await client.command(add_to_sen_support())
                assert isinstance(reply, Accepted) and reply.result.pupil_id

                async def relayed() -> bool:  # the relay published both events as register
                    return runtime.relay is not None and runtime.relay.position >= 2

                await eventually(relayed, what="the relay to publish as register")
        # Each consumer has asked for messages (CONSUMER.MSG.NEXT) by now. (Not long enough for a fetch to time
        # out: nats-py then takes its drain timeout, 30 s, to close the connection.)
        await asyncio.sleep(0.3)
    assert violations_logged(production_nats, log_start) == []


# --- TLS -----------------------------------------------------------------------------------------------------


@dataclass
class Certificates:
    folder: Path

    def path(self, name: str) -> str:
        return str(self.folder / name)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A CA, a certificate for the NATS node (sendcase-nats-1, 127.0.0.1) and one for a client, made by openssl."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make test certificates")
    folder = tmp_path_factory.mktemp("tls")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=sendcase test CA")  # fmt: skip
    for name, san, usage in (
        ("server", "DNS:sendcase-nats-1,DNS:localhost,IP:127.0.0.1", "serverAuth,clientAuth"),  # routes: both
        ("client", "DNS:sendcase-register", "clientAuth"),
    ):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}-key.pem", "-out", f"{name}.csr",
                "-subj", f"/CN={name}")  # fmt: skip
        (folder / f"{name}.ext").write_text(f"subjectAltName={san}\nextendedKeyUsage={usage}\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
                "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext")  # fmt: skip
    return Certificates(folder)


def production_file_with(certificates: Certificates) -> str:
    """infra/production/nats-server.conf with its certificate paths pointing at the test's certificates."""
    return (PRODUCTION / "nats-server.conf").read_text().replace("/etc/nats/tls/", f"{certificates.folder}/")


def test_the_production_node_file_is_valid_with_its_certificates(certificates: Certificates, tmp_path: Path) -> None:
    shutil.copy(USERS_FILE, tmp_path / USERS_FILE.name)
    (tmp_path / "nats-server.conf").write_text(production_file_with(certificates))
    env = dict(os.environ, **{f"{user.upper()}_NATS_PASSWORD": password for user, password in PASSWORDS.items()})
    check = subprocess.run(
        [EmbeddedNats.binary(), "-t", "-c", str(tmp_path / "nats-server.conf")], env=env, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    assert "is valid" in check.stderr + check.stdout


async def test_with_tls_a_service_and_a_client_connect_with_their_certificates_and_nothing_without(
    certificates: Certificates, tmp_path: Path, sandbox: Sandbox
) -> None:
    # The production file's own client `tls {}` block (the first), on a loopback test node.
    tls_block = re.search(r"(?ms)^tls \{.*?^\}", production_file_with(certificates))
    assert tls_block and "verify: true" in tls_block.group(0)
    proc, server = start_nats(tmp_path, tls_block.group(0))
    try:
        ca, cert, key = (
            certificates.path("ca.pem"),
            certificates.path("client.pem"),
            certificates.path("client-key.pem"),
        )
        once = {"max_reconnect_attempts": 0, "allow_reconnect": False, "connect_timeout": 3}
        # Not trusting the node's CA: nats-py turns to TLS (the node requires it) and cannot verify the node.
        with pytest.raises(ssl.SSLCertVerificationError):
            await nats.connect(server.url("operator"), **once)
        # Trusting it, but without a certificate of its own: the node wants one (verify: true) and hangs up
        # (Python sees the "certificate required" alert, or just the connection closed). With one, it connects.
        with pytest.raises((ssl.SSLError, ConnectionError)):
            await nats.connect(server.url("operator", scheme="tls"), tls=tls_context(ca), **once)
        operator = await nats.connect(server.url("operator", scheme="tls"), tls=tls_context(ca, cert, key))
        try:
            await ensure_streams(operator.jetstream(), PREFIX, EVENTS, DEAD_LETTERS, duplicate_window_seconds=120)
        finally:
            await operator.close()

        settings = sandbox.settings(
            "register",
            nats_url=server.url("register", scheme="tls"),
            nats_tls_ca_file=ca,
            nats_tls_cert_file=cert,
            nats_tls_key_file=key,
            subject_prefix=PREFIX,
            manage_streams=False,
        )
        async with running_service(bootstrap_for("register"), settings, FixedClock(SCHOOL_DAY)):
            tls = tls_context(ca, cert, key)
            async with Client(server.url("gateway", scheme="tls"), PREFIX, senco(), tls=tls) as client:
                assert client.nc.connected_url.scheme == "tls"
                reply = await client.command(add_to_sen_support())
                assert isinstance(reply, Accepted)
    finally:
        stop_process(proc)


# --- the operator's command ----------------------------------------------------------------------------------


def test_the_operator_creates_the_streams_with_sendcase_create_streams(production_nats: ProductionNats) -> None:
    runner = CliRunner()
    env = {
        "SENDCASE_SUBJECT_PREFIX": PREFIX,
        "SENDCASE_NATS_URL": production_nats.url("operator"),
        # as the other tests here made them, if they ran first: then there is nothing to change
        "SENDCASE_DUPLICATE_WINDOW_SECONDS": "120",
    }
    result = runner.invoke(app, ["create-streams"], env=env, prog_name="sendcase")
    assert result.exit_code == 0, result.output
    assert f"{EVENTS}: subjects sendcase.events.>; 1 replica(s);" in result.stdout
    assert "deletes denied: True; purges denied: True" in result.stdout

    # a service's user may not create streams (streams it does not have yet: those above it may read, and they are
    # already as they should be, so there would be nothing to do)
    env.update(SENDCASE_NATS_URL=production_nats.url("register"), SENDCASE_SUBJECT_PREFIX="elsewhere")
    result = runner.invoke(app, ["create-streams"], env=env, prog_name="sendcase")
    assert result.exit_code == 2
    assert "is this the operator user" in result.stderr and PASSWORDS["register"] not in result.stderr
