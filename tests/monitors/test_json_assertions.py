"""JSON assertions of HTTP monitors: the line syntax, the comparisons, and checks against a real local server."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from monitors import jsonassert, probes
from monitors.probes import CheckSpec

HEALTH = {
    "status": "ok",
    "version": "2.4.1",
    "uptime": 86400,
    "ratio": 0.75,
    "ready": True,
    "maintenance": None,
    "tags": ["eu", "primary"],
    "checks": [{"name": "db", "status": "ok", "ms": 3}, {"name": "cache", "status": "ok", "ms": 1}],
}


class JsonServer:
    """A local HTTP server answering every GET with ``body`` (bytes), as application/json."""

    def __init__(self, body: bytes = b"{}") -> None:
        self.body = body
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/health"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": True}
    found = JsonServer(json.dumps(HEALTH).encode())
    yield found
    found.close()


def outcome(text: str, document=HEALTH) -> jsonassert.Outcome:
    return jsonassert.evaluate(jsonassert.parse(text), document)[0]


def check(server: JsonServer, assertions: str, **fields) -> probes.CheckResult:
    spec = CheckSpec(id=1, kind="http", url=server.url, json_assertions=assertions, timeout_seconds=3, **fields)
    return probes.check_all([spec])[1]


@pytest.mark.parametrize(
    "line",
    [
        '$.status == "ok"',
        '$.status != "degraded"',
        "$.uptime > 3600",
        "$.uptime >= 86400",
        "$.ratio < 1",
        "$.ratio <= 0.75",
        '$.version >= "2.4.0"',
        "$.ready == true",
        "$.maintenance == null",
        "$.uptime == 86400.0",
        '$.tags contains "eu"',
        '$.version contains "2.4"',
        '$.tags not contains "us"',
        '$.tags == ["eu", "primary"]',
        "$.checks[0].ms exists",
        "$.missing not exists",
        '$.checks[*].status == "ok"',
        "$.checks[*].ms < 10",
        '$.checks[?@.name == "db"].status == "ok"',
        '$.checks[*].name contains "cache"',
        '$["status"] == "ok"',
    ],
)
def test_assertions_that_hold(line):
    result = outcome(line)
    assert result.passed, result.message
    assert result.message == ""


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('$.status == "down"', 'JSON assertion failed on line 1: $.status is "ok", expected == "down"'),
        ("$.ready == 1", "JSON assertion failed on line 1: $.ready is true, expected == 1"),
        ("$.uptime < 60", "JSON assertion failed on line 1: $.uptime is 86400, expected < 60"),
        ('$.uptime > "1"', 'JSON assertion failed on line 1: $.uptime is 86400, expected > "1"'),
        ("$.missing exists", "JSON assertion failed on line 1: $.missing matched nothing, expected exists"),
        ('$.missing == "x"', 'JSON assertion failed on line 1: $.missing matched nothing, expected == "x"'),
        ("$.status not exists", 'JSON assertion failed on line 1: $.status is "ok", expected not exists'),
        (
            '$.tags contains "us"',
            'JSON assertion failed on line 1: $.tags is ["eu", "primary"], expected contains "us"',
        ),
        ("$.checks[*].ms < 2", "JSON assertion failed on line 1: $.checks[*].ms is [3, 1], expected < 2"),
    ],
)
def test_assertions_that_fail_say_what_was_found(line, message):
    result = outcome(line)
    assert not result.passed
    assert result.message == message


def test_a_failure_names_its_line_counting_blank_lines_and_comments():
    text = '# the health endpoint\n$.status == "ok"\n\n$.checks[0].status == "degraded"\n'
    results = jsonassert.evaluate(jsonassert.parse(text), HEALTH)
    assert [r.passed for r in results] == [True, False]
    assert results[1].message.startswith('JSON assertion failed on line 4: $.checks[0].status is "ok"')
    assert results[1].as_detail() == {
        "line": 4,
        "assertion": '$.checks[0].status == "degraded"',
        "passed": False,
        "found": '"ok"',
    }


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('status == "ok"', "Line 1: start with a JSONPath"),
        ("$.status", "Line 1: write “<JSONPath> <operator> <value>”"),
        ("$.status == ok", "Line 1: ok is not a JSON value"),
        ('$.status ==  "ok', 'Line 1: "ok is not a JSON value'),
        ("$.status ==", 'Line 1: “==” needs a value, e.g. $.status == "ok"'),
        ('$.items[?@.a == "x" == 1', 'Line 1: $.items[?@.a == "x" is not a JSONPath'),
        ("$.status exists now", "Line 1: nothing may follow “exists”"),
        ("$.a < [1]", "Line 1: “<” compares numbers or texts, not [1]"),
        ('$.status == "ok"\n$..', "Line 2: write"),
    ],
)
def test_lines_that_are_not_assertions_are_refused_naming_the_line(text, problem):
    with pytest.raises(jsonassert.AssertionSyntaxError) as caught:
        jsonassert.parse(text)
    assert str(caught.value).startswith(problem), str(caught.value)
    assert jsonassert.problems(text) == [str(caught.value)]
    assert jsonassert.problems('$.status == "ok"') == []


def test_an_http_check_passes_when_every_assertion_holds_and_records_each(server):
    result = check(server, '$.status == "ok"\n$.checks[*].ms < 10')
    assert result.status == "up", result.error
    assert result.details == {
        "json_assertions": [
            {"line": 1, "assertion": '$.status == "ok"', "passed": True, "found": '"ok"'},
            {"line": 2, "assertion": "$.checks[*].ms < 10", "passed": True, "found": "[3, 1]"},
        ]
    }


def test_an_http_check_is_down_on_the_first_failing_assertion(server):
    server.body = json.dumps({**HEALTH, "status": "degraded"}).encode()
    result = check(server, '$.uptime > 0\n$.status == "ok"')
    assert (result.status, result.status_code) == ("down", 200)
    assert result.error == 'JSON assertion failed on line 2: $.status is "degraded", expected == "ok"'
    assert [item["passed"] for item in result.details["json_assertions"]] == [True, False]


def test_assertions_come_after_the_status_and_keyword_checks(server):
    result = check(server, '$.status == "nope"', keyword="no such text")
    assert result.error == "keyword 'no such text' not found"
    result = check(server, '$.status == "nope"', expected_statuses="500")
    assert result.error == "HTTP 200 (expected 500)"


def test_a_body_that_is_not_json_fails_the_assertions(server):
    server.body = b"<h1>all good</h1>"
    result = check(server, '$.status == "ok"')
    assert (result.status, result.error) == ("down", "the response is not JSON")
    assert check(server, "").status == "up"  # no assertions: the body is not read as JSON


def test_a_body_over_the_size_limit_is_not_checked_as_json(server, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "MONITOR_RESPONSE_MAX_BYTES": 1024}
    server.body = json.dumps({"status": "ok", "padding": "x" * 4000}).encode()
    result = check(server, '$.status == "ok"')
    assert (result.status, result.error) == (
        "down",
        "the response is larger than 1024 bytes: too large to check as JSON",
    )


def test_a_slow_answer_is_degraded_and_keeps_its_details():
    spec = CheckSpec(id=1, kind="http", url="http://example.com/", degraded_after_ms=20)
    details = {"json_assertions": [{"line": 1, "assertion": "$.a exists", "passed": True, "found": "1"}]}
    result = probes.with_latency(spec, probes.CheckResult("up", 50, "", 200, details))
    assert (result.status, result.error, result.details) == ("degraded", "slow: 50 ms (over 20 ms)", details)


@pytest.mark.parametrize("line", ['$[?match(@.a, "(a+)+b")] exists', '$[?search(@.a, "(a|a)+b")] exists'])
def test_regular_expression_functions_are_refused_at_save(line):
    # A catastrophic pattern would stall every check of a batch on the event loop: not offered.
    found = jsonassert.problems(line)
    assert found and found[0].startswith("Line 1:")
