"""Delivery channels: the local file outbox, plain SMTP, and GOV.UK Notify.

Every send is keyed by the notification's send key ("<notification id>.<channel>"): it is the outbox
file's name, the SMTP Message-ID and Notify's `reference`. After a restart mid-send the worker asks the
channel whether the key is already there (`find`) instead of sending again.

Failures are sorted for the worker: PermanentFailure (this channel can never reach this person, e.g. an
invalid address: try another channel) or TransientFailure (try again later: a server down, refusing for
now, hanging, rate limiting).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import ssl
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import formataddr
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

import aiosmtplib
from notifications_python_client.errors import APIError
from notifications_python_client.notifications import NotificationsAPIClient

from contracts.notifications import SentAs
from services.notifications.adapters.letters import letter_pdf
from services.runtime.documents import AddressUnprintable, RendererNotReady, renderer_version


@dataclass(frozen=True)
class Message:
    notification_id: UUID
    pupil_id: UUID
    key: str  # "<notification id>.<channel>": the one name of this send everywhere
    channel: str  # email, sms, letter
    recipient: dict[str, Any]  # the PersonToTell as published (the child's protected address is never in it)
    subject: str
    body: str
    sms: str
    content_hash: str
    # The complete letter (always complete, whatever the email says): its text and its HTML, which the PDF prints
    # (adapters/letters.py letter_pdf).
    # None for content written before December 2026, whose letter is its body.
    letter: str | None = None
    letter_html: str | None = None


@dataclass(frozen=True)
class Outcome:
    reference: str | None  # the provider's id for the message, or the file's path
    delivered: bool  # the channel itself proves arrival (a file in the outbox)
    how: str
    sent: dict[str, Any] | None = None  # the exact bytes sent, as facts: sent_bytes(...)


def sent_bytes(data: bytes, what: SentAs, made_with: str | None = None) -> dict[str, Any]:
    """The exact bytes a channel sent, as the facts stored on the Sent event: their sha256, their size, and
    what they are (so an auditor knows what to hash to check them); for a letter, the renderer that printed it."""
    facts: dict[str, Any] = {
        "sent_sha256": hashlib.sha256(data).hexdigest(),
        "sent_size": len(data),
        "sent_as": what.value,
    }
    if made_with is not None:
        facts["made_with"] = made_with
    return facts


@dataclass(frozen=True)
class Receipt:
    """A provider's delivery receipt, as it answered when asked (`receipt`)."""

    status: str
    reference: str | None = None  # the reference the message was sent with, as the provider gives it back
    created_at: str | None = None
    sent_at: str | None = None
    completed_at: str | None = None


class TransientFailure(Exception):
    pass


class PermanentFailure(Exception):
    pass


class Transport(Protocol):
    name: str
    can_find: bool  # whether `find` can tell that a key was already sent
    has_receipts: bool

    async def send(self, message: Message) -> Outcome: ...

    async def find(self, message: Message) -> Outcome | None: ...

    async def receipt(self, reference: str) -> Receipt | None: ...


# -- the local file outbox ------------------------------------------------------------------------------


class FileOutbox:
    """Each message a file a person can open: <outbox>/<pupil id>/<notification id>.<channel>.<txt|pdf>.

    Written to a temporary name, made durable (fsync) and renamed, so a file that exists is complete: `find`
    is exact. `send_many` writes a batch's files and then syncs them all at once (concurrent fsyncs share
    the file system's journal commits: far cheaper than one after another) before renaming each.
    """

    name = "file"
    can_find = True
    has_receipts = False

    def __init__(self, folder: Path) -> None:
        self.folder = folder.absolute()  # the path recorded with each send names the file wherever it is read

    def path(self, message: Message) -> Path:
        ext = "pdf" if message.channel == "letter" else "txt"
        return self.folder / str(message.pupil_id) / f"{message.key}.{ext}"

    async def send(self, message: Message) -> Outcome:
        path = self.path(message)
        data = _file_content(message)
        await asyncio.to_thread(_write_atomically, path, data)
        return _written(path, data, _made_with(message))

    async def send_many(self, messages: Sequence[Message]) -> list[Outcome | BaseException]:
        """Each message's outcome, or the error that stopped it, in order."""
        return await asyncio.to_thread(self._write_many, messages)

    def _write_many(self, messages: Sequence[Message]) -> list[Outcome | BaseException]:
        results: list[Outcome | BaseException | None] = [None] * len(messages)
        written: list[tuple[int, Path, Path, int, bytes]] = []  # index, path, temporary path, fd, the bytes
        try:
            for i, message in enumerate(messages):
                try:
                    path = self.path(message)
                    data = _file_content(message)
                    tmp = path.with_name(path.name + ".partial")
                    try:
                        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                    except FileNotFoundError:  # the pupil's first message: make the folder
                        path.parent.mkdir(parents=True, exist_ok=True)
                        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                    written.append((i, path, tmp, fd, data))
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                except Exception as e:
                    results[i] = e
            synced = list(_syncing().map(_fsync, [fd for _, _, _, fd, _ in written]))
        finally:
            for _, _, _, fd, _ in written:
                os.close(fd)
        for (i, path, tmp, _, data), error in zip(written, synced, strict=True):
            if results[i] is not None:
                continue  # its write failed
            if error is not None:
                results[i] = error
                continue
            try:
                os.replace(tmp, path)
            except OSError as e:
                results[i] = e
                continue
            results[i] = _written(path, data, _made_with(messages[i]))
        return [r if r is not None else RuntimeError("not written") for r in results]

    async def find(self, message: Message) -> Outcome | None:
        path = self.path(message)
        try:
            data = await asyncio.to_thread(path.read_bytes)  # complete if it exists (written, synced, renamed)
        except FileNotFoundError:
            return None
        return Outcome(
            reference=str(path),
            delivered=True,
            how="found already in the outbox after a restart",
            sent=sent_bytes(data, SentAs.OUTBOX_FILE),
        )

    async def receipt(self, reference: str) -> Receipt | None:
        return None


def _made_with(message: Message) -> str | None:
    return renderer_version() if message.channel == "letter" else None


def _written(path: Path, data: bytes, made_with: str | None = None) -> Outcome:
    sent = sent_bytes(data, SentAs.OUTBOX_FILE, made_with)
    how = f"written to the outbox as {path.name} (file sha256 {sent['sent_sha256']})"
    return Outcome(reference=str(path), delivered=True, how=how, sent=sent)


def printed(message: Message) -> bytes:
    """A letter's PDF (adapters/letters.py), its failures sorted for the worker: an address the envelope's window
    cannot take never will (permanent); a renderer missing a font may be mended (transient, and said plainly)."""
    try:
        return letter_pdf(message.recipient, message.subject, message.body, message.letter_html)
    except AddressUnprintable as e:
        raise PermanentFailure(f"the letter cannot be printed: {e}") from e
    except RendererNotReady as e:
        raise TransientFailure(str(e)) from e


def _file_content(message: Message) -> bytes:
    r = message.recipient
    if message.channel == "letter":
        return printed(message)
    to = r.get("email") if message.channel == "email" else r.get("mobile")
    text = message.body if message.channel == "email" else message.sms
    header = (
        f"To: {r['name']} <{to}>\nSubject: {message.subject}\nChannel: {message.channel}\n"
        f"Notification: {message.notification_id}\nContent-SHA256: {message.content_hash}\n\n"
    )
    return (header + text).encode("utf-8")


_SYNC_THREADS = 16
_sync_pool: ThreadPoolExecutor | None = None


def _syncing() -> ThreadPoolExecutor:
    """The threads a batch's fsyncs run on together (made once, on first use)."""
    global _sync_pool
    if _sync_pool is None:
        _sync_pool = ThreadPoolExecutor(max_workers=_SYNC_THREADS, thread_name_prefix="outbox-fsync")
    return _sync_pool


def _fsync(fd: int) -> OSError | None:
    try:
        os.fsync(fd)
    except OSError as e:
        return e
    return None


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# -- plain SMTP -----------------------------------------------------------------------------------------


class SmtpEmail:
    """Email through an SMTP server. SMTP cannot be asked whether a message was sent, so after a restart
    mid-send the message is sent again with the SAME Message-ID: mail programs show it once."""

    name = "smtp"
    can_find = False
    has_receipts = False

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        username: str | None = None,
        password: str | None = None,
        start_tls: bool = False,
        timeout: float = 10.0,
        domain: str = "sendcase.invalid",
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password, self.start_tls, self.timeout = username, password, start_tls, timeout
        self.domain = domain

    def message_id(self, message: Message) -> str:
        return f"<{message.key}@{self.domain}>"

    def mime(self, message: Message) -> bytes:
        """The exact bytes given to the mail server: made here, not by the SMTP library (which would choose an
        encoding by what the server supports), so the hash recorded is of what was sent. Quoted-printable
        with CRLF line ends (7-bit: any server takes it); no Date header, so the same message makes the same
        bytes when an interrupted send is sent again."""
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = formataddr((message.recipient["name"], message.recipient["email"]))
        email["Subject"] = message.subject
        email["Message-ID"] = self.message_id(message)
        email["X-Sendcase-Content-SHA256"] = message.content_hash
        email.set_content(message.body, cte="quoted-printable")
        return email.as_bytes(policy=email_policy.SMTP)

    async def send(self, message: Message) -> Outcome:
        data = self.mime(message)
        try:
            await aiosmtplib.send(
                data,
                sender=self.sender,
                recipients=[message.recipient["email"]],
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                start_tls=self.start_tls,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as e:
            codes = [r.code for r in e.recipients]
            if all(500 <= c < 600 for c in codes):
                raise PermanentFailure(f"the mail server refused the address: {e.recipients[0].message}") from e
            raise TransientFailure(f"the mail server refused the address for now: {e.recipients[0].message}") from e
        except aiosmtplib.SMTPResponseException as e:
            if 500 <= e.code < 600:
                raise PermanentFailure(f"the mail server refused the message ({e.code} {e.message})") from e
            raise TransientFailure(f"the mail server said {e.code} {e.message}") from e
        except (TimeoutError, aiosmtplib.SMTPException, OSError, ssl.SSLError) as e:
            raise TransientFailure(f"could not reach the mail server {self.host}:{self.port}: {e!r}") from e
        return Outcome(
            reference=self.message_id(message),
            delivered=False,
            how="accepted by the mail server",
            sent=sent_bytes(data, SentAs.MIME_MESSAGE),
        )

    async def find(self, message: Message) -> Outcome | None:
        return None

    async def receipt(self, reference: str) -> Receipt | None:
        return None


# -- GOV.UK Notify --------------------------------------------------------------------------------------


class GovUkNotify:
    """Email, SMS and letters (precompiled PDFs) through GOV.UK Notify, with the official client.

    Our content goes in the personalisation of one plain template per channel ("((subject))" /
    "((body))"), so the words sent are exactly the words stored and hashed.
    """

    name = "notify"
    can_find = True
    has_receipts = True

    def __init__(
        self, api_key: str, base_url: str, email_template_id: str, sms_template_id: str, timeout: float = 10.0
    ):
        self.client = _ExactBodyClient(api_key, base_url=base_url, timeout=timeout)
        self.email_template_id = email_template_id
        self.sms_template_id = sms_template_id

    def request(self, message: Message) -> tuple[str, bytes, dict[str, Any]]:
        """What is posted for a message: the API path, the exact request body, and the facts of the bytes
        sent (a letter: its PDF, the document; email and SMS: the request body). The body is the JSON the
        official client would make (its fields, json.dumps), made here so that it is the bytes hashed."""
        r = message.recipient
        if message.channel == "email":
            path = "/v2/notifications/email"
            request: dict[str, Any] = {
                "email_address": r["email"],
                "template_id": self.email_template_id,
                "personalisation": {"subject": message.subject, "body": message.body},
                "reference": message.key,
            }
        elif message.channel == "sms":
            path = "/v2/notifications/sms"
            request = {
                "phone_number": r["mobile"],
                "template_id": self.sms_template_id,
                "personalisation": {"body": message.sms},
                "reference": message.key,
            }
        else:
            path = "/v2/notifications/letter"
            pdf = printed(message)
            request = {"reference": message.key, "content": base64.b64encode(pdf).decode("ascii")}
        body = json.dumps(request).encode("utf-8")  # ASCII: json.dumps escapes every other character
        sent = (
            sent_bytes(pdf, SentAs.LETTER_PDF, renderer_version())
            if message.channel == "letter"
            else sent_bytes(body, SentAs.NOTIFY_REQUEST_BODY)
        )
        return path, body, sent

    async def send(self, message: Message) -> Outcome:
        path, body, sent = await asyncio.to_thread(self.request, message)  # a letter is printed: not on the loop
        response = await self._call(lambda: self.client.post(path, data=body))
        how = "accepted by GOV.UK Notify"
        if message.channel == "letter":
            how += f" (PDF sha256 {sent['sent_sha256']})"
        return Outcome(reference=str(response["id"]), delivered=False, how=how, sent=sent)

    async def find(self, message: Message) -> Outcome | None:
        found = await self._call(lambda: self.client.get_all_notifications(reference=message.key))
        for n in found.get("notifications", []):
            if n.get("reference") == message.key:
                # the same message makes the same request: these are the bytes the interrupted send posted
                _, _, sent = await asyncio.to_thread(self.request, message)
                how = "found already sent in GOV.UK Notify after a restart"
                return Outcome(reference=str(n["id"]), delivered=False, how=how, sent=sent)
        return None

    async def receipt(self, reference: str) -> Receipt | None:
        found = await self._call(lambda: self.client.get_notification_by_id(reference))
        status = found.get("status")
        if not status:
            return None
        return Receipt(
            status=status,
            reference=found.get("reference"),
            created_at=found.get("created_at"),
            sent_at=found.get("sent_at"),
            completed_at=found.get("completed_at"),
        )

    async def _call(self, call: Any) -> Any:
        try:
            return await asyncio.to_thread(call)
        except APIError as e:
            raise classify_notify_error(e.status_code, e.message) from e
        except Exception as e:  # connection refused, timeout, a response that is not JSON
            raise TransientFailure(f"could not reach GOV.UK Notify: {e!r}") from e


class _ExactBodyClient(NotificationsAPIClient):
    """The official client, posting a body made already (bytes) exactly as given: the bytes hashed are the
    bytes sent."""

    def _serialize_data(self, data: Any) -> Any:
        return data if isinstance(data, bytes) else super()._serialize_data(data)


def classify_notify_error(status: int, detail: Any) -> Exception:
    """Notify's documented errors: 400 the request is wrong for this recipient (invalid address, number,
    or a letter Notify cannot post): permanent; 403 our key is refused: a configuration fault, retried and
    surfaced; 429 rate or daily limit: retried later; 5xx: retried."""
    text = "; ".join(e.get("message", str(e)) for e in detail) if isinstance(detail, list) else str(detail)
    if status == 400:
        return PermanentFailure(f"GOV.UK Notify rejected it: {text}")
    if status == 403:
        return TransientFailure(f"GOV.UK Notify refused our API key (check the configuration): {text}")
    if status == 429:
        return TransientFailure(f"GOV.UK Notify rate limit reached: {text}")
    return TransientFailure(f"GOV.UK Notify failed ({status}): {text}")
