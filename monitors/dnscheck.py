"""DNS monitors: look a name up (A, AAAA, CNAME, MX, TXT, NS) at a chosen resolver or the system's, and
check the answers hold the expected values.

Values are compared normalised, so what people write matches what resolvers say: names without case or
trailing dot (``Mail.Example.com.`` is ``mail.example.com``), addresses in their short form, MX as
``10 mail.example.com`` or just ``mail.example.com``, TXT without its quotes. The resolver is a
user-set target: its address goes through the outbound guard like any other.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time

import dns.asyncresolver
import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver

from monitors.models import MonitorStatus
from monitors.probes import CheckResult, CheckSpec, with_latency
from tracepoint.outbound import vet_addresses

DEFAULT_PORT = 53
RECORD_TYPES = ("A", "AAAA", "CNAME", "MX", "TXT", "NS")


def parse_resolver(text: str) -> tuple[str, int] | None:
    """ "9.9.9.9", "9.9.9.9:5353", "2620:fe::fe" or "[2620:fe::fe]:53" → (address, port); blank → None (the
    system's resolver). ValueError when it is not an IP address with an optional port."""
    text = (text or "").strip()
    if not text:
        return None
    host, port = text, DEFAULT_PORT
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ValueError("write [address]:port, e.g. [2620:fe::fe]:53")
            port = _port(rest[1:])
    elif text.count(":") == 1:
        host, _, rest = text.partition(":")
        port = _port(rest)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError("an IP address, optionally with a port, e.g. 9.9.9.9 or 9.9.9.9:5353") from None
    return str(address), port


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError("the port is a number between 1 and 65535")
    return int(text)


def normalise(record_type: str, value: str) -> str:
    """One value as answers are compared: ValueError when it cannot be a value of this record type."""
    value = value.strip()
    if record_type in ("A", "AAAA"):
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"{value} is not an IPv{4 if record_type == 'A' else 6} address") from None
        if (record_type == "A") != (address.version == 4):
            raise ValueError(f"{value} is not an IPv{4 if record_type == 'A' else 6} address")
        return str(address)
    if record_type == "MX":
        parts = value.split()
        if len(parts) == 2 and parts[0].isdigit():
            return f"{int(parts[0])} {_name(parts[1])}"
        if len(parts) != 1:
            raise ValueError(f"{value}: write a mail server, optionally after its preference, e.g. 10 mx.example.com")
        return _name(parts[0])
    if record_type == "TXT":
        if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
            # "v=spf1 " "include:…" (several quoted strings) reads as one text, as resolvers join them.
            return "".join(part for part in value[1:-1].split('" "'))
        return value
    return _name(value)


def _name(value: str) -> str:
    return value.strip().rstrip(".").lower()


def expected_values(record_type: str, text: str) -> list[str]:
    """The expected values of ``text`` (one per line); ValueError naming the line."""
    values = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        if line.strip():
            try:
                values.append(normalise(record_type, line))
            except ValueError as exc:
                raise ValueError(f"Line {number}: {exc}") from None
    return values


def _answer_text(record_type: str, rdata) -> str:
    if record_type in ("A", "AAAA"):
        return str(ipaddress.ip_address(rdata.address))
    if record_type == "MX":
        return f"{rdata.preference} {_name(rdata.exchange.to_text())}"
    if record_type == "TXT":
        return b"".join(rdata.strings).decode("utf-8", "replace")
    return _name(rdata.target.to_text())


def _sort_key(answer: str) -> tuple[int, str]:
    preference, _, rest = answer.partition(" ")
    return (int(preference), rest) if preference.isdigit() and rest else (0, answer)


def _matches(expected: str, answers: list[str], record_type: str) -> bool:
    if expected in answers:
        return True
    # "mail.example.com" expected, "10 mail.example.com" answered: the preference was left out on purpose.
    return record_type == "MX" and " " not in expected and any(a.split(" ", 1)[-1] == expected for a in answers)


async def check_dns(spec: CheckSpec) -> CheckResult:
    record_type = spec.dns_record_type if spec.dns_record_type in RECORD_TYPES else "A"
    resolver_address = parse_resolver(spec.dns_resolver)
    if resolver_address is None:
        resolver = dns.asyncresolver.Resolver()
        resolver_text = "the system resolver"
    else:
        address, port = resolver_address
        vet_addresses(address, [address])
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [address]
        resolver.port = port
        resolver_text = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    name = spec.host.strip().rstrip(".")
    details: dict = {"record_type": record_type, "resolver": resolver_text, "answers": []}
    started = time.perf_counter()
    try:
        # A little under the check's timeout, so that a silent resolver gets this check's own message
        # (dnspython may overshoot its lifetime by a retry's backoff: hence the wait_for too).
        lifetime = spec.timeout_seconds * 0.9
        answer = await asyncio.wait_for(resolver.resolve(name, record_type, lifetime=lifetime, search=False), lifetime)
    except dns.resolver.NXDOMAIN:
        return _down(f"{name} does not exist (NXDOMAIN at {resolver_text})", started, details)
    except dns.resolver.NoAnswer:
        return _down(f"{name} has no {record_type} record (at {resolver_text})", started, details)
    except dns.resolver.NoNameservers as exc:
        return _down(f"no name server answered for {name}: {_short(exc)}", started, details)
    except (dns.exception.Timeout, TimeoutError):
        return CheckResult(
            MonitorStatus.DOWN, None, f"{resolver_text} did not answer within {spec.timeout_seconds:g} s", None, details
        )
    except (dns.name.NameTooLong, dns.name.EmptyLabel, dns.name.LabelTooLong) as exc:
        return _down(f"{name} is not a valid name: {_short(exc)}", started, details)
    latency = round((time.perf_counter() - started) * 1000)
    # An RRset has no order: sorted (MX by preference), so the page and the error read the same each time.
    answers = sorted((_answer_text(record_type, rdata) for rdata in answer), key=_sort_key)
    # Kept on the monitor at every check: a few values of a readable length, not a 64 KB TXT set.
    details["answers"] = [text[:ANSWER_CHARS_KEPT] for text in answers[:ANSWERS_KEPT]]
    if len(answers) > ANSWERS_KEPT:
        details["answers_not_shown"] = len(answers) - ANSWERS_KEPT
    details["ttl"] = answer.rrset.ttl if answer.rrset is not None else None
    missing = [
        value for value in expected_values(record_type, spec.dns_expected) if not _matches(value, answers, record_type)
    ]
    if missing:
        found = ", ".join(answers) or "nothing"
        error = f"expected {', '.join(missing)} in the {record_type} records of {name}; found {found}"
        return CheckResult(MonitorStatus.DOWN, latency, error[:500], None, details)
    return with_latency(spec, CheckResult(MonitorStatus.UP, latency, "", None, details))


ANSWERS_KEPT = 30
ANSWER_CHARS_KEPT = 300


def _down(error: str, started: float, details: dict) -> CheckResult:
    latency = round((time.perf_counter() - started) * 1000)
    return CheckResult(MonitorStatus.DOWN, latency, error[:500], None, details)


def _short(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__)[:300]
