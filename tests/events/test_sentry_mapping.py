"""Mapping a Sentry event to a NewEvent: lenient, bounded, in the shape grouping reads."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from events import grouping, ingest, keys, sentry_event
from events.scrubbing import scrub
from events.sentry_event import normalize_service, parse_timestamp, to_new_event

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def mapped(project, **event):
    return to_new_event(event, project=project, event_id=None, now=NOW)


def test_a_python_exception_event(project):
    event_id = uuid.uuid4()
    new = to_new_event(
        {
            "event_id": event_id.hex,
            "timestamp": "2026-11-22T11:59:58.123456Z",
            "platform": "python",
            "level": "error",
            "release": "shop@1.2.3",
            "environment": "production",
            "transaction": "/checkout/{cart_id}",
            "server_name": "web-1",
            "user": {"id": "42", "email": "a@example.com", "ip_address": "{{auto}}"},
            "tags": {"service": "checkout", "region": "eu"},
            "exception": {
                "values": [
                    {
                        "type": "KeyError",
                        "value": "'sku'",
                        "mechanism": {"type": "generic", "handled": True},
                        "stacktrace": {
                            "frames": [
                                {
                                    "filename": "shop/cart.py",
                                    "module": "shop.cart",
                                    "function": "total",
                                    "lineno": 10,
                                    "in_app": True,
                                    "vars": {"secret": "hunter2", "sku": "'A-1'", "qty": "3"},
                                    "pre_context": ["a"] * 20,
                                    "post_context": [f"after {i}" for i in range(20)],
                                }
                            ]
                        },
                    }
                ]
            },
            "request": {
                "url": "https://shop.example.com/checkout/1?x=1",
                "method": "POST",
                "headers": {"Cookie": "s", "Authorization": "Basic dTpw", "User-Agent": "curl/8", "X-Token": "t"},
                "cookies": {"sessionid": "abc"},
                "data": {"card": "4111"},
                "env": {"REMOTE_ADDR": "10.0.0.1"},
            },
            "breadcrumbs": {"values": [{"message": f"crumb {i}"} for i in range(100)]},
            "modules": {f"pkg{i}": "1.0" for i in range(500)},
        },
        project=project,
        event_id=None,
        now=NOW,
    )

    assert new.event_id == event_id
    assert new.event_type == "ERROR"
    assert new.service == "checkout"
    assert new.timestamp == datetime(2026, 11, 22, 11, 59, 58, 123456, tzinfo=UTC)
    assert (new.release, new.environment, new.route, new.user_id) == (
        "shop@1.2.3",
        "production",
        "/checkout/{cart_id}",
        "42",
    )
    assert new.message == "KeyError: 'sku'"
    frame = new.data["exception"][0]["stacktrace"]["frames"][0]
    # Locals are kept for the event page, with secrets filtered; context lines nearest the crash line.
    assert frame["vars"] == {"secret": "[Filtered]", "sku": "'A-1'", "qty": "3"}
    assert len(frame["pre_context"]) == 5
    assert frame["post_context"] == [f"after {i}" for i in range(5)]
    # Headers are kept with credentials filtered; cookies, body and environment are never stored.
    assert new.data["request"] == {
        "url": "https://shop.example.com/checkout/1?x=1",
        "method": "POST",
        "headers": [
            ["Cookie", "[Filtered]"],
            ["Authorization", "[Filtered]"],
            ["User-Agent", "curl/8"],
            ["X-Token", "[Filtered]"],
        ],
    }
    assert "hunter2" not in str(new.data) and "sessionid" not in str(new.data) and "4111" not in str(new.data)
    assert new.data["user"] == {"id": "42", "email": "a@example.com"}
    assert len(new.data["breadcrumbs"]["values"]) == 30
    assert "modules" not in new.data
    assert grouping.title_and_culprit(new.data, route=new.route) == ("KeyError: 'sku'", "shop.cart in total")


def test_a_message_event_and_logentry(project):
    assert mapped(project, message="Payment failed").data["message"] == {"formatted": "Payment failed"}
    new = mapped(
        project,
        logger="billing",
        logentry={
            "message": "Payment %s failed for %d",
            "formatted": "Payment abc failed for 42",
            "params": ["abc", 42],
        },
    )
    assert new.message == "Payment abc failed for 42"
    assert grouping.message_template(new.data) == "Payment %s failed for %d"
    assert new.data["logger"] == "billing"


def test_a_legacy_bare_exception_list_and_a_single_exception_object(project):
    assert mapped(project, exception=[{"type": "A", "value": "b"}]).data["exception"][0]["type"] == "A"
    assert mapped(project, exception={"type": "A", "value": "b"}).data["exception"][0]["value"] == "b"


@pytest.mark.parametrize(
    "garbage",
    [
        {"exception": "boom", "message": 12, "tags": "x", "user": [], "request": 3, "fingerprint": {}},
        {"exception": {"values": [None, 1, {"stacktrace": {"frames": [None, {"lineno": "x"}]}}]}},
        {"timestamp": "yesterday", "level": "LOUD", "platform": {"a": 1}, "contexts": "no", "extra": [1]},
        {"breadcrumbs": "x", "sdk": "python", "logentry": {"params": [1]}, "release": {"v": 1}},
    ],
)
def test_bad_types_are_dropped_not_refused(project, garbage):
    new = mapped(project, **garbage)

    assert new.timestamp == NOW
    assert new.level == "error"
    ingest.store_events(project, [new])  # and it stores


def test_a_route_falls_back_to_the_request_path(project):
    assert mapped(project, request={"url": "https://x.example/api/orders/7?q=1"}).route == "/api/orders/7"


def test_user_id_falls_back_to_email_username_ip(project):
    assert mapped(project, user={"email": "a@example.com", "username": "ann"}).user_id == "a@example.com"
    assert mapped(project, user={"username": "ann"}).user_id == "ann"
    assert mapped(project, user={"ip_address": "10.0.0.1"}).user_id == "10.0.0.1"
    assert mapped(project, user={"id": 7}).user_id == "7"


def test_service_prefers_a_known_tag_else_the_first_project_service(project):
    assert mapped(project, tags={"service": "api"}).service == "api"
    assert mapped(project, tags={"service": "unknown"}).service == "checkout"
    assert mapped(project).service == "checkout"
    bare = keys.create_project(name="Bare", slug="bare")
    assert mapped(bare, tags=[["service", "Billing Worker!"]]).service == "billing-worker"
    assert mapped(bare).service == "default"


def test_normalize_service():
    assert normalize_service("  API Gateway ") == "api-gateway"
    assert normalize_service("--x") == "x"
    assert normalize_service("a" * 300) == "a" * 100
    assert normalize_service(None) == ""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (NOW.timestamp() - 5.5, NOW - timedelta(seconds=5.5)),
        (str(NOW.timestamp()), NOW),
        ("2026-11-22T10:00:00+01:00", datetime(2026, 11, 22, 9, 0, tzinfo=UTC)),
        ("2026-11-22T10:00:00", datetime(2026, 11, 22, 10, 0, tzinfo=UTC)),
        ("2026-11-22T10:00:00.5z", datetime(2026, 11, 22, 10, 0, 0, 500000, tzinfo=UTC)),  # Django's parser
        (" 2026-11-22 10:00:00Z ", datetime(2026, 11, 22, 10, 0, tzinfo=UTC)),
        ("2026-11-22", datetime(2026, 11, 22, tzinfo=UTC)),  # a date alone: its midnight, as before
        ("1.5e9", datetime(2017, 7, 14, 2, 40, tzinfo=UTC)),
        ((NOW + timedelta(days=3)).isoformat(), NOW),
        (None, NOW),
        (True, NOW),
        (1e20, NOW),
    ],
)
def test_parse_timestamp(value, expected):
    assert parse_timestamp(value, now=NOW) == expected


def test_level_aliases(project):
    assert mapped(project, level="warn").level == "warning"
    assert mapped(project, level="FATAL").level == "fatal"
    assert mapped(project, level="critical").level == "fatal"


def test_fingerprint_is_kept_as_strings(project):
    assert mapped(project, fingerprint=["{{ default }}", 7]).data["fingerprint"] == ["{{ default }}", "7"]
    assert mapped(project, fingerprint="one").data["fingerprint"] == ["one"]


def _nested(depth: int) -> dict:
    value: dict = {"leaf": "Bearer abcdefgh", "password": "hunter2"}
    for level in range(depth):
        value = {f"level{level}": value, "token": [1, 2], "ok": level}
    return value


@pytest.mark.parametrize(
    "value",
    [
        {"password": "hunter2", "empty_secret": "", "none_token": None, "user": "ada", "n": 3, "x": 1.5, "b": True},
        {"url": "https://u:p@db.example.com/x?token=abc&q=1", "note": "authorization: xyz", "long": "y" * 5000},
        {"headers": [["Authorization", "Basic abc"], ["Accept", "text/html"], ("Cookie", "s=1"), ["a", "b", "c"]]},
        {"list": list(range(80)), "dict": {f"k{i}": i for i in range(80)}, 7: "int key", "k" * 300: "long key"},
        {"tuple": ("Bearer abcdefgh", {"secret": "s"}), "nested": [[["Authorization", "x"]]]},
        _nested(3), _nested(5), _nested(7), _nested(9),
        [["session_id", {"deep": "x"}], ["pin", ""], ["ok", "fine"]],
        [[[[[[["Authorization", "deep pair"]]]]]]],
        "Bearer abcdefgh", "just text", None, 12, 2**70,
    ],
)  # fmt: skip
def test_one_walk_scrubs_and_trims_as_the_two_did(value):
    assert sentry_event._scrubbed(value) == sentry_event._trim(scrub(value))
