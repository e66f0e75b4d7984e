"""DNS monitors against a small DNS server the test runs on 127.0.0.1 (dnspython builds its answers)."""

from __future__ import annotations

import socket
import threading
import time

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from monitors import dnscheck, probes
from monitors.probes import CheckSpec

ZONE = {
    ("example.test.", "A"): ["192.0.2.10", "192.0.2.11"],
    ("example.test.", "AAAA"): ["2001:db8::10"],
    ("example.test.", "MX"): ["10 Mail.Example.test.", "20 backup.example.test."],
    ("example.test.", "TXT"): ['"v=spf1 " "include:_spf.example.test ~all"', '"hello"'],
    ("example.test.", "NS"): ["ns1.example.test.", "ns2.example.test."],
    ("www.example.test.", "CNAME"): ["example.test."],
}


class DnsServer:
    """Answers UDP queries from ``zone``: NXDOMAIN for unknown names, an empty answer for a missing type;
    ``delay`` seconds before each answer."""

    def __init__(self, zone: dict) -> None:
        self.zone = zone
        self.delay = 0.0
        self.queries: list[tuple[str, str]] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self._running = True
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while self._running:
            try:
                wire, client = self.sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            query = dns.message.from_wire(wire)
            question = query.question[0]
            name, record_type = question.name.to_text().lower(), dns.rdatatype.to_text(question.rdtype)
            self.queries.append((name, record_type))
            response = dns.message.make_response(query)
            if not any(known == name for known, _ in self.zone):
                response.set_rcode(dns.rcode.NXDOMAIN)
            elif (name, record_type) in self.zone:
                response.answer.append(dns.rrset.from_text(name, 300, "IN", record_type, *self.zone[name, record_type]))
            if self.delay:
                time.sleep(self.delay)
            self.sock.sendto(response.to_wire(), client)

    def close(self) -> None:
        self._running = False
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def server(settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": True}
    found = DnsServer(ZONE)
    yield found
    found.close()


def check(server: DnsServer, name: str, record_type: str, expected: str = "", **fields) -> probes.CheckResult:
    spec = CheckSpec(
        id=1,
        kind="dns",
        host=name,
        dns_record_type=record_type,
        dns_resolver=fields.pop("resolver", server.address),
        dns_expected=expected,
        timeout_seconds=fields.pop("timeout", 2.0),
        **fields,
    )
    return probes.check_all([spec])[1]


def test_an_a_lookup_is_up_with_its_answers_as_details(server):
    result = check(server, "example.test", "A", "192.0.2.11")
    assert result.status == "up", result.error
    assert result.latency_ms is not None
    assert result.details == {
        "record_type": "A",
        "resolver": server.address,
        "answers": ["192.0.2.10", "192.0.2.11"],
        "ttl": 300,
    }
    assert server.queries == [("example.test.", "A")]  # the chosen resolver was asked, without search domains


@pytest.mark.parametrize(
    ("name", "record_type", "expected", "answers"),
    [
        ("example.test", "AAAA", "2001:DB8:0::10", ["2001:db8::10"]),
        ("example.test", "MX", "mail.example.test", ["10 mail.example.test", "20 backup.example.test"]),
        ("example.test", "MX", "10 MAIL.example.test.\n20 backup.example.test", None),
        (
            "example.test",
            "TXT",
            '"v=spf1 include:_spf.example.test ~all"',
            ["hello", "v=spf1 include:_spf.example.test ~all"],
        ),
        ("example.test", "TXT", "hello", None),
        ("example.test", "NS", "NS1.example.test.", ["ns1.example.test", "ns2.example.test"]),
        ("www.example.test", "CNAME", "example.test", ["example.test"]),
    ],
)
def test_expected_values_match_whatever_their_case_dot_quotes_or_mx_preference(
    server, name, record_type, expected, answers
):
    result = check(server, name, record_type, expected)
    assert result.status == "up", result.error
    if answers is not None:
        assert result.details["answers"] == answers


def test_a_missing_expected_value_is_down_listing_what_was_found(server):
    result = check(server, "example.test", "A", "192.0.2.10\n192.0.2.99")
    assert result.status == "down"
    assert result.error == "expected 192.0.2.99 in the A records of example.test; found 192.0.2.10, 192.0.2.11"
    assert result.details["answers"] == ["192.0.2.10", "192.0.2.11"]


def test_a_name_that_does_not_exist_or_has_no_such_record_is_down_saying_so(server):
    missing = check(server, "nowhere.example.test", "A")
    assert (missing.status, missing.error) == (
        "down",
        f"nowhere.example.test does not exist (NXDOMAIN at {server.address})",
    )
    no_record = check(server, "www.example.test", "MX")
    assert (no_record.status, no_record.error) == ("down", f"www.example.test has no MX record (at {server.address})")


def test_a_resolver_that_does_not_answer_in_time_is_down(server):
    server.delay = 1.5
    started = time.monotonic()
    result = check(server, "example.test", "A", timeout=0.5)
    assert time.monotonic() - started < 1.4
    assert result.status == "down"
    assert result.error == f"{server.address} did not answer within 0.5 s"


def test_a_slow_answer_is_degraded(server):
    server.delay = 0.2
    result = check(server, "example.test", "A", degraded_after_ms=50)
    assert result.status == "degraded" and result.error.startswith("slow: ")
    assert result.details["answers"] == ["192.0.2.10", "192.0.2.11"]


def test_a_private_resolver_is_refused_unless_private_targets_are_allowed(server, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": False}
    result = check(server, "example.test", "A")
    assert result.status == "down"
    assert result.error == "refused: 127.0.0.1 resolves to 127.0.0.1, a loopback address"
    assert server.queries == []  # nothing was sent


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("", None),
        ("9.9.9.9", ("9.9.9.9", 53)),
        ("9.9.9.9:5353", ("9.9.9.9", 5353)),
        ("2620:fe::fe", ("2620:fe::fe", 53)),
        ("[2620:fe::fe]:5353", ("2620:fe::fe", 5353)),
    ],
)
def test_resolvers_are_addresses_with_an_optional_port(text, parsed):
    assert dnscheck.parse_resolver(text) == parsed


@pytest.mark.parametrize("text", ["dns.google", "9.9.9.9:0", "9.9.9.9:dns", "[2620:fe::fe]x", "1.2.3.4.5"])
def test_resolvers_that_are_not_addresses_are_refused(text):
    with pytest.raises(ValueError):
        dnscheck.parse_resolver(text)


def test_expected_values_are_validated_per_record_type():
    assert dnscheck.expected_values("A", "192.0.2.1\n\n192.0.2.2") == ["192.0.2.1", "192.0.2.2"]
    with pytest.raises(ValueError, match=r"Line 2: 2001:db8::1 is not an IPv4 address"):
        dnscheck.expected_values("A", "192.0.2.1\n2001:db8::1")
    with pytest.raises(ValueError, match=r"Line 1: ten mail\.example\.com: write a mail server"):
        dnscheck.expected_values("MX", "ten mail.example.com")
