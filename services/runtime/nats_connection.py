"""Connecting to NATS: TLS (the CA to trust and, where the server verifies clients, our certificate) and
a URL fit to show (its password hidden).

Only the standard library, so the client (the CLI, a gateway) can use it as well as the services.
"""

from __future__ import annotations

import re
import ssl

_PASSWORD_IN_URL = re.compile(r"(?<=://)([^:/@\s,]*):[^@\s,]*@")


def without_password(url: str) -> str:
    """`tls://register:secret@nats-1:4222` -> `tls://register:***@nats-1:4222` (for logs and messages)."""
    return _PASSWORD_IN_URL.sub(r"\1:***@", url)


def tls_context(
    ca_file: str | None, cert_file: str | None = None, key_file: str | None = None
) -> ssl.SSLContext | None:
    """An SSL context for nats-py, or None when nothing is configured (a tls:// URL then trusts the system's CAs).

    `ca_file` is the CA that signed the NATS servers' certificates (the system's CAs when not given);
    `cert_file` and `key_file` are this client's certificate and key, for a server with `verify: true`.
    """
    if not (ca_file or cert_file or key_file):
        return None
    if bool(cert_file) != bool(key_file):
        raise ValueError("a NATS client certificate needs both its certificate file and its key file")
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file or None)
    if cert_file and key_file:
        context.load_cert_chain(cert_file, key_file)
    return context
