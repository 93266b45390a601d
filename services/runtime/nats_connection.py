"""Connecting to NATS: one server or a cluster's list of them, TLS (the CA to trust and, where the server verifies
clients, our certificate) and a URL fit to show (its password hidden).

Only the standard library, so the client (the CLI, a gateway) can use it as well as the services.
"""

from __future__ import annotations

import re
import ssl

_PASSWORD_IN_URL = re.compile(r"(?<=://)([^:/@\s,]*):[^@\s,]*@")


def nats_servers(url: str) -> list[str]:
    """The servers in a NATS URL, as nats-py wants them: one, or a cluster's nodes separated by commas
    (`tls://register:pw@nats-1:4222,tls://register:pw@nats-2:4222,tls://register:pw@nats-3:4222`). The client
    connects to one of them and, when that node goes, to another. Name every node, each with the user and
    password: nats-py authenticates with the URL of the node it connects to, and a node it only heard of from
    the cluster comes without them."""
    servers = [part for part in re.split(r"[,\s]+", url) if part]
    if not servers:
        raise ValueError("no NATS server URL given")
    return servers


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
