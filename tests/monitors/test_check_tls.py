"""TLS certificate monitors against a local TLS server with certificates from trustme (valid, expired, expiring
soon, for another name) and a self-signed one; the test CA is trusted through MONITOR_EXTRA_CA_FILE."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from monitors import probes, tlscheck
from monitors.probes import CheckSpec

NOW = datetime.now(tz=UTC)


class TlsServer:
    """Accepts connections on 127.0.0.1 and completes a TLS handshake with ``context``, then closes."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.handshakes = 0
        self._running = True
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while self._running:
            try:
                connection, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            connection.settimeout(2)
            try:
                with self.context.wrap_socket(connection, server_side=True) as tls:
                    self.handshakes += 1
                    tls.recv(1)  # until the client closes
            except (ssl.SSLError, OSError):
                connection.close()

    def close(self) -> None:
        self._running = False
        self._thread.join(timeout=2)
        self.listener.close()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA(organization_name="Tracepoint Test CA")


@pytest.fixture
def trusted(settings, ca, tmp_path):
    """Private targets allowed, and the test CA trusted by the checks."""
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    settings.TRACEPOINT = {
        **settings.TRACEPOINT,
        "OUTBOUND_ALLOW_PRIVATE_TARGETS": True,
        "MONITOR_EXTRA_CA_FILE": str(path),
    }


def serve(certificate: trustme.LeafCert) -> TlsServer:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(context)
    return TlsServer(context)


@pytest.fixture
def servers():
    started: list[TlsServer] = []
    yield started
    for server in started:
        server.close()


def check(port: int, host: str = "127.0.0.1", **fields) -> probes.CheckResult:
    spec = CheckSpec(id=1, kind="tls", host=host, port=port, timeout_seconds=fields.pop("timeout", 3.0), **fields)
    return probes.check_all([spec])[1]


def test_a_valid_certificate_is_up_with_its_dates_issuer_and_subject(trusted, ca, servers):
    leaf = ca.issue_cert(
        "127.0.0.1", "localhost", common_name="shop.test", organization_name="Shop", not_after=NOW + timedelta(days=90)
    )
    servers.append(server := serve(leaf))
    result = check(server.port, tls_expiry_days=14)
    assert result.status == "up", result.error
    details = result.details
    assert details["days_left"] in (89, 90)
    assert details["not_after"][:10] == (NOW + timedelta(days=90)).date().isoformat()
    assert details["subject"] == "shop.test (Shop)"
    assert details["issuer"] == "Tracepoint Test CA"
    assert sorted(details["names"]) == ["127.0.0.1", "localhost"]
    assert details["tls_version"].startswith("TLSv1.")
    assert server.handshakes == 1


def test_the_name_is_checked_through_sni_with_a_host_name(trusted, ca, servers):
    servers.append(server := serve(ca.issue_cert("localhost")))
    assert check(server.port, host="localhost").status == "up"


def test_a_certificate_expiring_soon_is_degraded(trusted, ca, servers):
    servers.append(server := serve(ca.issue_cert("127.0.0.1", not_after=NOW + timedelta(days=5, hours=1))))
    result = check(server.port, tls_expiry_days=14)
    expires = (NOW + timedelta(days=5, hours=1)).date().isoformat()
    assert (result.status, result.error) == ("degraded", f"the certificate expires in 5 days (on {expires})")
    assert result.details["days_left"] == 5


def test_an_expired_certificate_is_down(trusted, ca, servers):
    old = ca.issue_cert("127.0.0.1", not_before=NOW - timedelta(days=400), not_after=NOW - timedelta(days=3))
    servers.append(server := serve(old))
    result = check(server.port)
    assert (result.status, result.error) == ("down", "certificate verify failed: the certificate has expired")
    assert result.details == {"verify_error": "the certificate has expired", "verify_code": 10}


def test_a_certificate_for_another_name_is_down(trusted, ca, servers):
    servers.append(server := serve(ca.issue_cert("other.example")))
    result = check(server.port)
    assert result.status == "down"
    assert result.error.startswith("certificate verify failed: ")
    assert "127.0.0.1" in result.error  # OpenSSL: "IP address mismatch, certificate is not valid for '127.0.0.1'."


def test_a_self_signed_certificate_is_down(trusted, servers, tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "self-signed.test")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "self.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "self.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "self.pem", tmp_path / "self.key")
    servers.append(server := TlsServer(context))
    result = check(server.port)
    assert (result.status, result.error) == ("down", "certificate verify failed: self-signed certificate")


def test_a_certificate_from_an_untrusted_ca_is_down(settings, servers):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": True}  # no extra CA
    servers.append(server := serve(trustme.CA().issue_cert("127.0.0.1")))
    result = check(server.port)
    assert (result.status, result.error) == (
        "down",
        "certificate verify failed: unable to get local issuer certificate",
    )


def test_a_port_without_tls_or_without_a_listener_is_down(trusted):
    plain = socket.create_server(("127.0.0.1", 0))
    port = plain.getsockname()[1]
    accepted: list[socket.socket] = []

    def answer_in_plain_text():
        connection, _ = plain.accept()
        accepted.append(connection)
        connection.sendall(b"220 smtp.example ESMTP ready\r\n" * 10)

    threading.Thread(target=answer_in_plain_text, daemon=True).start()
    try:
        result = check(port)
        assert result.status == "down" and result.error.startswith(f"TLS handshake with 127.0.0.1:{port} failed: ")
    finally:
        for connection in accepted:
            connection.close()
        plain.close()
    closed = check(port)
    assert closed.status == "down" and closed.error.startswith(f"cannot connect to 127.0.0.1:{port}: ")


def test_a_private_target_is_refused_unless_allowed(settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": False}
    result = check(443, host="localhost")
    assert result.status == "down" and result.error.startswith("refused: localhost resolves to")


def test_https_checks_trust_the_extra_ca_too_and_warn_before_expiry(trusted, ca):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", not_after=NOW + timedelta(days=3, hours=1)).configure_cert(context)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"https://127.0.0.1:{httpd.server_port}/"
        result = probes.check_all([CheckSpec(id=1, kind="http", url=url, timeout_seconds=3, tls_expiry_days=7)])[1]
        assert (result.status, result.status_code) == ("degraded", 200), result.error
        assert result.error == "the TLS certificate expires in 3 days"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_certificate_facts_read_names_and_dates():
    facts = tlscheck.certificate_facts(
        {
            "subject": ((("commonName", "example.com"),),),
            "issuer": ((("countryName", "US"),), (("organizationName", "Let's Encrypt"),), (("commonName", "R11"),)),
            "notBefore": "Jan  1 00:00:00 2026 GMT",
            "notAfter": "Apr  1 00:00:00 2026 GMT",
            "subjectAltName": (("DNS", "example.com"), ("DNS", "www.example.com")),
        },
        now=datetime(2026, 3, 1, tzinfo=UTC),
    )
    assert facts == {
        "subject": "example.com",
        "issuer": "R11 (Let's Encrypt)",
        "not_before": "2026-01-01T00:00:00+00:00",
        "not_after": "2026-04-01T00:00:00+00:00",
        "days_left": 31,
        "names": ["example.com", "www.example.com"],
    }
