"""The SSRF guard of every user-set outbound URL (tracepoint.outbound), with real local servers.

Refused targets are refused before any connection is made; the redirect and TLS tests use servers on
127.0.0.1/127.0.0.2, let through with OUTBOUND_ALLOWED_NETWORKS for exactly the address they need.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from tests.helpers import REFUSED, url_for
from tracepoint import outbound


@pytest.fixture
def guarded(settings):
    """The production default: private targets refused, nothing allowed besides public addresses."""
    settings.TRACEPOINT = {
        **settings.TRACEPOINT,
        "OUTBOUND_ALLOW_PRIVATE_TARGETS": False,
        "OUTBOUND_ALLOWED_NETWORKS": [],
    }
    return settings


def allow_only(settings, *networks: str) -> None:
    settings.TRACEPOINT = {
        **settings.TRACEPOINT,
        "OUTBOUND_ALLOWED_NETWORKS": [ipaddress.ip_network(n) for n in networks],
    }


class CountingServer:
    """A real HTTP server that counts requests and answers each with ``status`` (and ``location``)."""

    def __init__(self, host: str = "127.0.0.1", *, status: int = 200, location: str = "") -> None:
        self.hits: list[tuple[str, str, str]] = []  # (method, path, Host header)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.hits.append((self.command, self.path, self.headers.get("Host", "")))
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_GET = do_POST = _answer

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = url_for(host, self.port)
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def loopback_server():
    server = CountingServer("127.0.0.1")
    yield server
    server.close()


# --- the rule ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("host", "reason"), REFUSED)
def test_refused_targets_are_refused_at_save_time(guarded, host, reason):
    with pytest.raises(outbound.TargetRefused, match=re.escape(reason)):
        outbound.validate_url(url_for(host))


def test_public_and_unresolvable_urls_may_be_saved(guarded):
    outbound.validate_url("https://93.184.215.14/hook")
    outbound.validate_url("https://does-not-exist.invalid/hook")  # vetted again at every connection


@pytest.mark.parametrize(("host", "reason"), REFUSED)
def test_refused_targets_are_refused_at_connect_time_before_connecting(guarded, loopback_server, host, reason):
    port = loopback_server.port if host in ("127.0.0.1", "localhost") else 80
    with pytest.raises(outbound.TargetRefused, match=re.escape(reason)):
        outbound.request("POST", url_for(host, port), data=b"{}", timeout=2)
    assert loopback_server.hits == []


def test_the_allow_private_switch_lets_local_targets_through(settings, loopback_server):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": True}
    with outbound.request("POST", loopback_server.url, data=b"{}", timeout=5) as response:
        assert response.status_code == 200
    assert len(loopback_server.hits) == 1


@pytest.mark.parametrize(
    ("env", "allowed"),
    [({}, False), ({"ALLOW_PRIVATE_TARGETS": "true"}, True), ({"MONITORS_ALLOW_PRIVATE_TARGETS": "true"}, True)],
)
def test_the_switch_is_read_from_the_environment_under_both_names(env, allowed, tmp_path):
    import sys

    clean = {k: v for k, v in os.environ.items() if "PRIVATE_TARGETS" not in k}
    code = "from tracepoint import settings; print(settings.TRACEPOINT['OUTBOUND_ALLOW_PRIVATE_TARGETS'])"
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, **env, "TRACEPOINT_VAR_DIR": str(tmp_path)}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert result.stdout.strip() == str(allowed)


@pytest.mark.parametrize("address", ["2002:7f00:1::", "2002:a9fe:a9fe::1", "fec0::1"])
def test_ipv6_forms_that_carry_or_reach_private_addresses_are_refused(address):
    assert outbound.refused_reason(address) is not None


def test_allowed_networks_let_only_their_addresses_through(guarded, loopback_server):
    allow_only(guarded, "127.0.0.2/32")
    with pytest.raises(outbound.TargetRefused, match=re.escape("127.0.0.1 resolves to 127.0.0.1, a loopback address")):
        outbound.request("POST", loopback_server.url, timeout=2)
    allow_only(guarded, "127.0.0.1/32")
    with outbound.request("POST", loopback_server.url, timeout=5) as response:
        assert response.status_code == 200


def test_environment_proxies_are_not_used(guarded, loopback_server, monkeypatch):
    # A proxy would make the connection for us, past the guard.
    monkeypatch.setenv("HTTP_PROXY", loopback_server.url)
    with pytest.raises(outbound.TargetRefused):
        outbound.request("POST", "http://10.0.0.1/hook", timeout=2)
    assert loopback_server.hits == []


# --- redirects --------------------------------------------------------------------------------


def test_every_redirect_hop_is_vetted_and_a_redirect_to_loopback_is_refused(guarded, loopback_server):
    # The first hop is on 127.0.0.2, the only address allowed; it redirects to 127.0.0.1.
    allow_only(guarded, "127.0.0.2/32")
    first = CountingServer("127.0.0.2", status=302, location=loopback_server.url)
    try:
        with pytest.raises(outbound.TargetRefused, match=re.escape("127.0.0.1, a loopback address")):
            outbound.request("GET", first.url, follow_redirects=True, timeout=5)
        assert len(first.hits) == 1
        assert loopback_server.hits == []  # never connected
    finally:
        first.close()


def test_redirects_to_allowed_addresses_are_followed_and_metadata_is_not(guarded):
    allow_only(guarded, "127.0.0.2/32")
    target = CountingServer("127.0.0.2")
    hop = CountingServer("127.0.0.2", status=302, location=target.url)
    metadata = CountingServer("127.0.0.2", status=307, location="http://169.254.169.254/latest/meta-data/")
    try:
        with outbound.request("GET", hop.url, follow_redirects=True, timeout=5) as response:
            assert response.status_code == 200
        assert len(target.hits) == 1
        with pytest.raises(outbound.TargetRefused, match=re.escape("169.254.169.254")):
            outbound.request("GET", metadata.url, follow_redirects=True, timeout=5)
    finally:
        for server in (target, hop, metadata):
            server.close()


# --- one lookup (DNS rebinding) ---------------------------------------------------------------


def test_the_connection_goes_to_the_vetted_address_without_a_second_lookup(guarded, monkeypatch):
    """A rebinding name answers an allowed address first and loopback afterwards. No DNS server we
    control runs here, so getaddrinfo stands in for one; the HTTP server and connection are real."""
    allow_only(guarded, "127.0.0.2/32")
    server = CountingServer("127.0.0.2")
    real_getaddrinfo = socket.getaddrinfo
    lookups: list[str] = []

    def rebinding_dns(host, port, *args, **kwargs):
        if host == "rebind.test":
            lookups.append(host)
            host = "127.0.0.2" if len(lookups) == 1 else "127.0.0.1"
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_dns)
    try:
        with outbound.request("POST", f"http://rebind.test:{server.port}/hook", timeout=5) as response:
            assert response.status_code == 200
        assert lookups == ["rebind.test"]
        assert server.hits == [("POST", "/hook", f"rebind.test:{server.port}")]
        # The next connection looks up again, gets loopback, and is refused.
        with pytest.raises(outbound.TargetRefused, match=re.escape("rebind.test resolves to 127.0.0.1")):
            outbound.request("POST", f"http://rebind.test:{server.port}/hook", timeout=5)
    finally:
        server.close()


# --- TLS --------------------------------------------------------------------------------------


@pytest.fixture
def tls_server(tmp_path):
    """An HTTPS server on 127.0.0.1 with a certificate for 'localhost' only (made by openssl)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    server = CountingServer("127.0.0.1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server_names: list[str | None] = []
    context.sni_callback = lambda sock, name, ctx: server_names.append(name)
    server.httpd.socket = context.wrap_socket(server.httpd.socket, server_side=True)
    server.cert, server.server_names = str(cert), server_names
    yield server
    server.close()


def test_tls_to_the_vetted_address_still_sends_the_name_and_checks_the_certificate(settings, tls_server):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": True}
    port = tls_server.port
    with outbound.request("POST", f"https://localhost:{port}/hook", timeout=5, verify=tls_server.cert) as response:
        assert response.status_code == 200
    assert tls_server.server_names == ["localhost"]  # SNI carries the name, not the address
    # The certificate is for localhost: reached by its address instead, the check fails.
    with pytest.raises(requests.exceptions.SSLError):
        outbound.request("POST", f"https://127.0.0.1:{port}/hook", timeout=5, verify=tls_server.cert)
    # And an untrusted certificate fails too (verification is on by default).
    with pytest.raises(requests.exceptions.SSLError):
        outbound.request("POST", f"https://localhost:{port}/hook", timeout=5)
    assert len(tls_server.hits) == 1
