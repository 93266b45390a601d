"""No `sendcase` command prints a traceback for bad input.

Every command is found by walking the Typer app, so a new command is covered without touching this file.
Each is given, one at a time, a bad value for each kind of parameter it has (a mistyped UPN, an impossible
date, a value that is not among the choices, an id that is not one, a missing file, a 5-digit URN...), and
each command that speaks to a service is run without a user, without an organisation, with an organisation
that is not one, and with no stack running. Each time: a non-zero exit code, one line (or a few "field:
problem" lines), and no traceback. Nothing here starts a server: every error is found before sending.
"""

from __future__ import annotations

import re
import types
import typing
import uuid
from collections.abc import Iterator
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from infra.cli.app import app
from tests.support.factories import upn

GOOD_UPN = upn(1)
BAD_UPN = GOOD_UPN[0] + GOOD_UPN[1:-1] + str((int(GOOD_UPN[-1]) + 1) % 10)  # one digit mistyped
# Commands that never speak to a service (the stack itself, the file outbox); every other one does. These
# are only ever given bad values here (`up` and `serve` with good ones would start servers).
LOCAL = {("up",), ("down",), ("serve",), ("status",), ("demo",), ("notifications", "outbox")}


def walk(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    for name, sub in getattr(command, "commands", {}).items():
        if getattr(sub, "commands", None) is not None:
            yield from walk(sub, (*path, name))
        else:
            yield (*path, name), sub


COMMANDS = dict(walk(typer.main.get_command(app)))


def kind(param: Any) -> Any:
    """The Python type behind a parameter: Optional[...] and list[...] unwrapped."""
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is None:  # typer on click: its click type
        return {"datetime": datetime, "uuid": uuid.UUID, "integer": int, "path": Path, "boolean": bool}.get(
            getattr(param.type, "name", ""), Enum if getattr(param.type, "choices", None) else str
        )
    annotation = descriptor.annotation
    while typing.get_origin(annotation) in (typing.Union, types.UnionType, list):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    return annotation


def is_enum(param: Any) -> bool:
    k = kind(param)
    return isinstance(k, type) and issubclass(k, Enum)


def good_value(param: Any, tmp: Path) -> str:
    k = kind(param)
    name = param.name
    if name == "upn":
        return GOOD_UPN
    if name in ("school", "to_school"):
        return "123456"
    if name == "person":
        return "Jo Taylor|mother|jo@example.org||email"
    if name == "service":
        return "register"
    if name == "home":
        return str(tmp / "home")
    if is_enum(param):
        return next(iter(k)).value
    if k is datetime:
        return "2026-10-01T12:00" if "known" in name else "2026-10-01"
    if k is uuid.UUID:
        return str(uuid.uuid4())
    if k is int:
        return "5"
    if k is Path:
        roll = tmp / "roll.csv"
        roll.write_text("UPN,Legal Surname,Legal Forename,DOB\n")
        return str(roll)
    return "something"


def bad_values(param: Any, tmp: Path) -> Iterator[tuple[str, str]]:
    """(what, value) for each way this parameter can be given wrongly."""
    k = kind(param)
    name = param.name
    if name == "upn":
        yield "a mistyped UPN", BAD_UPN
        yield "not a UPN", "12345"
    elif name in ("school", "to_school"):
        yield "a 5-digit URN", "12345"
    elif name == "person":
        yield "an unknown channel", "Jo Taylor|mother|jo@example.org||text"
        yield "too many parts", "a|b|c|d|email|extra"
        yield "a bad email", "Jo Taylor|mother|not-an-email||email"
    elif name == "protected_address":
        yield "no town or postcode", "1 High Street"
    elif name == "service":
        yield "no such service", "nosuch"
    elif name == "home":
        afile = tmp / "a-file"
        afile.write_text("")
        yield "a file, not a folder", str(afile)
    elif is_enum(param):
        yield "not one of the choices", "NOT-A-CHOICE"
    elif k is datetime:
        yield "an impossible date", "2026-13-01"
        yield "not a date", "next tuesday"
    elif k is uuid.UUID:
        yield "not an id", "not-a-uuid"
    elif k is int:
        yield "not a number", "many"
    elif k is Path:
        yield "a path that is not there", str(tmp / "no-such-folder" / "roll.csv")


def argv(path: tuple[str, ...], command: Any, tmp: Path, bad: tuple[Any, str] | None = None) -> list[str]:
    """The command with its required parameters (and --upn) given good values, and `bad` given its bad one."""
    args: list[str] = [*path]
    for param in command.params:
        if param.name in ("help",) or getattr(param, "is_flag", False):
            continue
        if bad is not None and bad[0] is param:
            value = bad[1]
        elif param.required or param.name == "upn":  # notifications name a pupil by --upn (or --pupil-id)
            value = good_value(param, tmp)
        else:
            continue
        if param.param_type_name == "argument":
            args.append(value)
        else:
            args += [param.opts[0], value]
    return args


ACTOR = {"SENDCASE_USER": "senco@123456.sch.uk", "SENDCASE_ROLE": "la_caseworker", "SENDCASE_ORGANISATION": "la:840"}


def cases(tmp: Path) -> Iterator[tuple[str, list[str], dict[str, str]]]:
    for path, command in COMMANDS.items():
        name = " ".join(path)
        for param in command.params:
            for what, value in bad_values(param, tmp):
                yield f"{name}: {param.name} {what}", argv(path, command, tmp, (param, value)), ACTOR
        if path in LOCAL:
            continue
        good = argv(path, command, tmp)
        yield f"{name}: nobody said who they are", good, {}
        yield f"{name}: no organisation", good, {**ACTOR, "SENDCASE_ORGANISATION": ""}
        yield f"{name}: an organisation that is not one", good, {**ACTOR, "SENDCASE_ORGANISATION": "school:12"}
        yield f"{name}: an unknown role", good, {**ACTOR, "SENDCASE_ROLE": "head_of_everything"}
        yield f"{name}: no stack running", good, ACTOR


FIELD_PROBLEM = re.compile(r"^[\w.:\[\] -]+: \S")


def assert_one_line_and_no_traceback(case: str, result: Any) -> None:
    output = result.stdout + result.stderr
    assert result.exit_code != 0, f"{case}: exit code 0\n{output}"
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{case}: raised {result.exception!r}\n{output}"
    )
    assert "Traceback" not in output, f"{case}:\n{output}"
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines, f"{case}: said nothing"
    assert len(lines) == 1 or (len(lines) <= 5 and all(FIELD_PROBLEM.match(line) for line in lines)), (
        f"{case}: more than one line, or lines that are not 'field: problem':\n{output}"
    )


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    import os

    for name in [n for n in os.environ if n.startswith("SENDCASE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SENDCASE_HOME", str(tmp_path / "home"))  # an empty folder: no stack is running
    return CliRunner()


def test_every_command_is_covered(tmp_path: Path) -> None:
    assert len(COMMANDS) >= 30  # up, down, serve, status, demo, 19 register, 6 notifications
    for path, command in COMMANDS.items():
        if path in LOCAL:
            assert any(list(bad_values(p, tmp_path)) for p in command.params), (
                f"`sendcase {' '.join(path)}` has no bad value to try: add one to bad_values()"
            )


def test_no_command_prints_a_traceback_for_bad_input(runner: CliRunner, tmp_path: Path) -> None:
    tried = 0
    for case, args, env in cases(tmp_path):
        result = runner.invoke(app, args, env=env, prog_name="sendcase")
        assert_one_line_and_no_traceback(case, result)
        tried += 1
    assert tried > 100


@pytest.mark.parametrize(
    "args, expected",
    [
        (
            ["register", "note-concern", GOOD_UPN, "--note", "x"],
            "Say who you are acting for: --as-org school:<URN> or la:<code> (or set SENDCASE_ORGANISATION)",
        ),
        (["register", "parents", GOOD_UPN, "--person", "Jo|mother|||text"], "the channels are email, sms, letter"),
        (
            ["register", "parents", GOOD_UPN, "--person", "Jo|mother|jo@example.org||email|urdu"],
            "person 1: needs: language: Value error, 'urdu' is not a language code sendcase knows",
        ),
        (
            ["register", "parents", GOOD_UPN, "--person", "Jo|mother|jo@example.org||email|ur,pl"],
            "one language at most ('ur', then 'pl')",
        ),
        (
            ["register", "parents", GOOD_UPN, "--person", "Jo|mother|||", "--young-persons-wish", "maybe"],
            "young_persons_wish: Input should be 'parents_told', 'parents_not_told' or 'lacks_capacity'",
        ),
        (["notifications", "find", "not a reference"], "ten letters and digits as printed on it"),
        (["register", "pupil", BAD_UPN], "upn: Value error, the check letter of UPN"),
        (["notifications", "for-pupil", "--upn", BAD_UPN], "the UPN is mistyped"),
        (["register", "note-concern", GOOD_UPN, "--note", "x", "--noted-on", "2026-02-30"], "is not a date"),
        (["register", "change-needs", GOOD_UPN, "--primary-need", "DYSLEXIA", "--reason", "x"], "'SPLD', 'MLD'"),
        (["notifications", "for-pupil"], "Say which pupil: --upn <UPN> (or --pupil-id <id>)"),
        (["notifications", "for-pupil", "--upn", GOOD_UPN, "--pupil-id", str(uuid.uuid4())], "not both"),
        (["notifications", "outbox"], "Say which pupil"),
    ],
)
def test_what_a_newcomer_is_told(runner: CliRunner, args: list[str], expected: str) -> None:
    result = runner.invoke(app, args, env={"SENDCASE_USER": "u", "SENDCASE_ROLE": "senco"}, prog_name="sendcase")
    assert result.exit_code == 2 and expected in result.stderr, result.stdout + result.stderr
    assert_one_line_and_no_traceback(" ".join(args), result)


def test_an_option_of_who_is_acting_after_the_command_says_where_it_goes(runner: CliRunner) -> None:
    result = runner.invoke(app, ["register", "note-concern", GOOD_UPN, "--note", "x", "--as-user", "u"])
    assert result.exit_code == 2 and "--as-user goes before the command" in result.stderr


def test_a_senco_naming_a_school_acts_for_it(runner: CliRunner) -> None:
    result = runner.invoke(
        app, ["register", "counts", "--school", "123456"], env={"SENDCASE_USER": "u", "SENDCASE_ROLE": "senco"}
    )
    assert result.exit_code == 2 and "no running sendcase found" in result.stderr  # it got as far as sending


def test_nats_not_answering_is_one_line(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("SENDCASE_NATS_URL", f"nats://127.0.0.1:{port}")
    result = runner.invoke(app, ["register", "pupil", GOOD_UPN], env=ACTOR)
    assert_one_line_and_no_traceback("NATS not answering", result)
    assert f"cannot reach NATS at nats://127.0.0.1:{port}" in result.stderr
