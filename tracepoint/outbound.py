"""Outbound connections to URLs that users set: the SSRF guard every one of them goes through.

Monitors, notification channel webhooks and apprise channels, and status page subscriber webhooks
all connect to addresses chosen by a user. Each connection resolves the name
once, vets every address, and then connects to a vetted address itself (no
second lookup, so a name that flips to a private address between the check
and the connect — DNS rebinding — cannot slip through). The TLS handshake
still sends the original name (SNI) and checks the certificate against it.

- ``guarded_session()``: a ``requests`` session whose every connection, and so
  every redirect hop, is vetted. Environment proxies are ignored: a proxy
  would make the connection for us, past the guard.
- ``GuardedBackend``: the same for httpcore (the asyncio monitor checks).
- ``validate_url()`` / ``validate_target()``: the check at save time, for a
  clear form or API error; the connect-time check runs anyway.
- ``guard_connections()``: the same for clients that open their own
  connections (apprise's plugins), for as long as the block runs.

``TRACEPOINT["OUTBOUND_ALLOW_PRIVATE_TARGETS"]`` turns the guard off (a LAN
install that monitors its own machines); ``OUTBOUND_ALLOWED_NETWORKS`` lets
chosen private networks through while the rest stay refused.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpcore
import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import create_connection

MAX_REDIRECTS = 5
# Refused unless private targets are allowed, besides loopback, private, link-local and reserved ranges.
_EXTRA_BLOCKED = [
    ipaddress.ip_network("100.64.0.0/10"),  # carrier-grade NAT, also used by some cloud metadata services
    ipaddress.ip_network("fd00:ec2::254/128"),  # AWS metadata over IPv6
    ipaddress.ip_network("2002::/16"),  # 6to4: the IPv4 address is embedded (2002:7f00:1:: is 127.0.0.1)
    ipaddress.ip_network("fec0::/10"),  # site-local (deprecated, still routed inside some networks)
]


class TargetRefused(Exception):
    """The target is, or resolves to, an address outbound connections must not reach. Permanent."""


# The guard of the running ``guard_connections()`` block, if any (see the end of this module).
_active_guard: ContextVar[ConnectionGuard | None] = ContextVar("tracepoint_outbound_guard", default=None)


def allow_private_targets() -> bool:
    # Env ALLOW_PRIVATE_TARGETS, or its older monitors-only name MONITORS_ALLOW_PRIVATE_TARGETS.
    return bool(settings.TRACEPOINT["OUTBOUND_ALLOW_PRIVATE_TARGETS"])


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return list(settings.TRACEPOINT["OUTBOUND_ALLOWED_NETWORKS"])


def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if getattr(ip, "ipv4_mapped", None):
        ip = ip.ipv4_mapped
    return ip


def refused_reason(address: str) -> str | None:
    """Why ``address`` is never a target (whatever the settings), or None for a public address."""
    ip = _ip(address)
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local (cloud metadata)"
    if ip.is_private or any(ip in network for network in _EXTRA_BLOCKED):
        return "private"
    if ip.is_multicast or ip.is_reserved or ip.is_unspecified:
        return "reserved"
    return None


def vet_addresses(host: str, addresses: list[str]) -> None:
    """Raise ``TargetRefused`` when any address ``host`` resolved to may not be reached."""
    if allow_private_targets():
        return
    allowed = _allowed_networks()
    for address in addresses:
        reason = refused_reason(address)
        if reason and not any(_ip(address) in network for network in allowed):
            message = f"{host} resolves to {address}, a {reason} address"
            guard = _active_guard.get()
            if guard is not None:  # clients of guard_connections() may swallow the exception
                guard.refuse(message)
            raise TargetRefused(message)


def resolve(host: str, port: int) -> list[tuple]:
    """``getaddrinfo`` for a TCP connection, vetted: the only lookup a guarded connection makes."""
    host = host.strip("[]")
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    vet_addresses(host, list(dict.fromkeys(info[4][0] for info in infos)))
    return infos


def validate_target(host: str, port: int = 443) -> None:
    """At save time: refuse names that resolve (now) to addresses that must not be reached.

    A name that does not resolve (yet) may be saved: every connection is vetted again anyway.
    """
    try:
        resolve(host, port)
    except (OSError, UnicodeError):
        return


def validate_url(url: str) -> None:
    """At save time: ``TargetRefused`` with a clear message when the URL's host is a refused address."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return  # the URL validator reports malformed URLs
    if parts.hostname:
        validate_target(parts.hostname, port)


# --- requests / urllib3 -----------------------------------------------------------------------


def _connect(conn: HTTPConnection) -> socket.socket:
    """urllib3's ``_new_conn`` with our lookup: connect to a vetted numeric address, never the name."""
    try:
        infos = resolve(conn._dns_host, conn.port)
    except socket.gaierror as exc:
        raise NameResolutionError(conn.host, conn, exc) from exc
    error: OSError | None = None
    for info in infos:
        # A numeric address: create_connection's getaddrinfo does no DNS lookup.
        address = info[4][0]
        try:
            return create_connection(
                (address, conn.port),
                conn.timeout,
                source_address=conn.source_address,
                socket_options=conn.socket_options,
            )
        except TimeoutError as exc:
            raise ConnectTimeoutError(
                conn, f"Connection to {conn.host} timed out. (connect timeout={conn.timeout})"
            ) from exc
        except OSError as exc:
            error = exc
    raise NewConnectionError(conn, f"Failed to establish a new connection: {error}") from error


class GuardedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _connect(self)


class GuardedHTTPSConnection(HTTPSConnection):
    # The TLS layer above _new_conn still uses self.host for SNI and certificate checks.
    def _new_conn(self) -> socket.socket:
        return _connect(self)


class GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    """A requests transport adapter whose connections are all vetted (``_connect``)."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": GuardedHTTPConnectionPool,
            "https": GuardedHTTPSConnectionPool,
        }

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        raise TargetRefused("outbound requests to user-set URLs do not go through a proxy")


def guarded_session() -> requests.Session:
    """A session for user-set URLs: every connection (every redirect hop) resolved once and vetted.

    ``trust_env`` is off so that proxy variables and .netrc credentials never
    apply; a custom CA bundle (REQUESTS_CA_BUNDLE) is still honoured.
    """
    session = requests.Session()
    session.trust_env = False
    session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or True
    session.max_redirects = MAX_REDIRECTS
    adapter = GuardedAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def request(method: str, url: str, *, follow_redirects: bool = False, **kwargs) -> requests.Response:
    """One request to a user-set URL; ``TargetRefused`` when it (or a redirect) leads somewhere refused.

    Use the response as a context manager when ``stream=True``.
    """
    with guarded_session() as session:
        return session.request(method, url, allow_redirects=follow_redirects, **kwargs)


# --- httpcore (asyncio) -----------------------------------------------------------------------


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, resolving and vetting every address before connecting."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout)
        except (TimeoutError, socket.gaierror) as exc:
            raise httpcore.ConnectError(f"{host} does not resolve: {exc}") from None
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
        vet_addresses(host, addresses)
        return await self._inner.connect_tcp(
            addresses[0], port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise TargetRefused("unix sockets are not outbound targets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


# --- third-party clients (apprise) --------------------------------------------------------------
#
# apprise's plugins make their own connections (``requests.post`` and friends, smtplib, …), out of
# reach of ``guarded_session()``. ``guard_connections()`` puts every connection the current thread
# opens under the guard, through two hooks installed once and inert outside the block (they read a
# context variable, so other threads, or Celery's thread pool, are not affected):
# - every ``requests.Session`` created in the block is a guarded one (``GuardedAdapter``: one
#   vetted lookup per connection, no proxies, no .netrc);
# - every ``socket.connect``/``connect_ex``/``sendto`` in the block is checked against the
#   numeric address it is about to use, so a client that does not use requests is covered too.
# Work handed to a thread with a copy of the context (``contextvars.copy_context()``, as apprise
# does for its timeouts) stays guarded.


class ConnectionRefusedByGuard(TargetRefused, OSError):
    """A socket-level refusal: an ``OSError`` too, so clients handle it as a failed connection."""


@dataclass
class ConnectionGuard:
    """What a ``guard_connections()`` block refused, in order (clients often hide the exception)."""

    refused: list[str] = field(default_factory=list)

    def refuse(self, message: str) -> None:
        if message not in self.refused:
            self.refused.append(message)


_hooks_lock = threading.Lock()
_hooks_installed = False


@contextmanager
def guard_connections() -> Iterator[ConnectionGuard]:
    """Vet every connection opened in this block (and its context copies) like a guarded session's."""
    _install_hooks()
    guard = ConnectionGuard()
    token = _active_guard.set(guard)
    try:
        yield guard
    finally:
        _active_guard.reset(token)


def _vetted_socket_address(sock: socket.socket, address, guard: ConnectionGuard):
    """The address to use instead of ``address`` (a name becomes a vetted number), or TargetRefused."""
    if sock.family == getattr(socket, "AF_UNIX", None):
        message = "unix sockets are not outbound targets"
        guard.refuse(message)
        raise ConnectionRefusedByGuard(message)
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or not isinstance(address, tuple):
        return address
    host, port = address[0], address[1]
    try:
        ipaddress.ip_address(str(host).split("%", 1)[0])
        numeric = True
    except ValueError:
        numeric = False
    try:
        if numeric:
            vet_addresses(str(host), [str(host)])
            return address
        # A name: look it up once, vet every answer, and connect to a vetted number (no second lookup).
        infos = socket.getaddrinfo(host, port, sock.family, sock.type)
        vet_addresses(str(host), list(dict.fromkeys(info[4][0] for info in infos)))
    except TargetRefused as exc:  # vet_addresses recorded it on the guard
        raise ConnectionRefusedByGuard(str(exc)) from None
    return infos[0][4] if infos else address


def _install_hooks() -> None:
    global _hooks_installed
    with _hooks_lock:
        if _hooks_installed:
            return
        original_init = requests.Session.__init__
        original_connect = socket.socket.connect
        original_connect_ex = socket.socket.connect_ex
        original_sendto = socket.socket.sendto

        def session_init(self, *args, **kwargs) -> None:
            original_init(self, *args, **kwargs)
            if _active_guard.get() is not None:
                self.trust_env = False
                adapter = GuardedAdapter()
                self.mount("http://", adapter)
                self.mount("https://", adapter)

        def connect(self, address):
            guard = _active_guard.get()
            if guard is not None:
                address = _vetted_socket_address(self, address, guard)
            return original_connect(self, address)

        def connect_ex(self, address):
            guard = _active_guard.get()
            if guard is not None:
                address = _vetted_socket_address(self, address, guard)
            return original_connect_ex(self, address)

        def sendto(self, data, *args):
            guard = _active_guard.get()
            if guard is not None and args:
                args = (*args[:-1], _vetted_socket_address(self, args[-1], guard))
            return original_sendto(self, data, *args)

        requests.Session.__init__ = session_init
        socket.socket.connect = connect
        socket.socket.connect_ex = connect_ex
        socket.socket.sendto = sendto
        _hooks_installed = True
