"""The grouping table: what must share an issue and what must not (DESIGN.md, grouping version 1)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events import grouping
from tests.factories import make_event

# A Django request into the app's checkout, which calls a library: the app's frame is the one that counts.
FRAMES = [
    {"module": "django.core.handlers", "function": "inner", "lineno": 55, "in_app": False},
    {"module": "shop.checkout", "function": "charge", "lineno": 42, "in_app": True},
    {"module": "stripe.api", "function": "request", "lineno": 900, "in_app": False},
]


def _error(exc_type="ValueError", value="boom", *, frames=None, fingerprint=None, message=None) -> dict:
    """The event data that grouping reads (as make_event builds it)."""
    extra = {"message": message} if message is not None else None
    event = make_event(
        value, kind=exc_type, frames=FRAMES if frames is None else frames, fingerprint=fingerprint, data=extra
    )
    return event.data


def key(data: dict, route: str = "/checkout") -> str:
    return grouping.key_hash(grouping.fingerprint_components(data, route=route))


SAME_ISSUE = [
    ("ids", "Order 1234 not found", "Order 98 not found"),
    ("quoted values", "Invalid value 'abc' for field", "Invalid value 'xyz-42' for field"),
    ("numbers and floats", "Timed out after 3.5s (attempt 2)", "Timed out after 10.25s (attempt 7)"),
    (
        "uuids",
        "Cart 5f0c1a2e-8a4b-4c1e-9d2f-0a1b2c3d4e5f expired",
        "Cart 0d9e8f7a-6b5c-4d3e-8f1a-123456789abc expired",
    ),
    ("emails", "No account for alice@example.com", "No account for bob.smith+tag@mail.example.org"),
    ("hex addresses", "Segfault at 0x7ffee4b2", "Segfault at 0xdeadbeef"),
    ("urls", "GET https://api.example.com/v1/a?x=1 failed", "GET http://other.test/b failed"),
    ("ip addresses", "connect to 10.0.0.12:5432 refused", "connect to 192.168.1.1:6543 refused"),
    ("timestamps", "Job at 2026-01-02T03:04:05Z failed", "Job at 2025-12-31 23:59:59 failed"),
    ("hashes", "Blob " + "a" * 40 + " missing", "Blob " + "0123456789abcdef" * 4 + " missing"),
    ("only the first two lines count", "Bad input\nline two\nline three", "Bad input\nline two\nother detail"),
    ("surrounding whitespace", "  Out of stock  ", "Out of stock"),
]


@pytest.mark.parametrize(("case", "first", "second"), SAME_ISSUE, ids=[case for case, _, _ in SAME_ISSUE])
def test_the_same_error_with_different_variable_parts_groups_into_one_issue(case, first, second):
    assert key(_error(value=first)) == key(_error(value=second)), case


DIFFERENT_ISSUES = [
    ("another exception type", _error("ValueError", "boom"), _error("KeyError", "boom")),
    ("another message", _error(value="Out of stock"), _error(value="Card declined")),
    (
        "another top in-app frame",
        _error(frames=[{"module": "shop.checkout", "function": "charge", "lineno": 1, "in_app": True}]),
        _error(frames=[{"module": "shop.checkout", "function": "refund", "lineno": 1, "in_app": True}]),
    ),
    (
        "another module of the top in-app frame",
        _error(frames=[{"module": "shop.checkout", "function": "charge", "in_app": True}]),
        _error(frames=[{"module": "shop.billing", "function": "charge", "in_app": True}]),
    ),
    ("words with digits are not numbers", _error(value="utf8 decode failed"), _error(value="utf16 decode failed")),
]


@pytest.mark.parametrize(("case", "first", "second"), DIFFERENT_ISSUES, ids=[case for case, _, _ in DIFFERENT_ISSUES])
def test_different_errors_get_different_keys(case, first, second):
    assert key(first) != key(second), case


def test_line_numbers_are_ignored():
    frame = {"module": "shop.checkout", "function": "charge", "in_app": True}
    assert key(_error(frames=[frame | {"lineno": 10}])) == key(_error(frames=[frame | {"lineno": 250, "colno": 3}]))


def test_frames_below_the_top_in_app_frame_do_not_matter():
    top = {"module": "shop.checkout", "function": "charge", "in_app": True}
    first = [{"module": "a", "function": "x", "in_app": True}, top, {"module": "lib", "function": "y"}]
    second = [{"module": "b", "function": "z", "in_app": True}, top, {"module": "lib2", "function": "w"}]
    assert key(_error(frames=first)) == key(_error(frames=second))


def test_versioned_filenames_group_across_releases():
    first = [{"filename": "static/app.3f9a2b7c.js", "function": "submit", "in_app": True}]
    second = [{"filename": "static/app.81cd00e4.js", "function": "submit", "in_app": True}]
    assert key(_error(frames=first)) == key(_error(frames=second))


def test_the_route_matters():
    assert key(_error(), route="/checkout") != key(_error(), route="/cart")


def test_a_client_fingerprint_wins_over_the_default():
    first = _error("ValueError", "boom", fingerprint=["payment-provider-down"])
    second = _error("KeyError", "other", fingerprint=["payment-provider-down"])
    assert key(first, route="/a") == key(second, route="/b")
    assert key(first) != key(_error(fingerprint=["another-group"]))
    assert key(first) != key(_error())


def test_default_in_a_client_fingerprint_expands_to_the_default_key():
    split = ["{{ default }}", "tenant-a"]
    assert key(_error(value="Order 1 missing", fingerprint=split)) == key(
        _error(value="Order 2 missing", fingerprint=split)
    )
    assert key(_error(fingerprint=split)) != key(_error(fingerprint=["{{ default }}", "tenant-b"]))
    assert key(_error(fingerprint=split)) != key(_error(value="other", fingerprint=split))
    assert grouping.fingerprint_components(_error(fingerprint=["{{default}}"]), route="/r") == (
        grouping.default_components(_error(), route="/r")
    )


def test_message_events_group_by_their_template():
    first = {"logentry": {"message": "User %s failed to log in", "formatted": "User 1 failed to log in"}}
    second = {"logentry": {"message": "User %s failed to log in", "formatted": "User 2 failed to log in"}}
    assert key(first) == key(second)
    assert key({"message": "Payment 12 declined"}) == key({"message": "Payment 9000 declined"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Order 1234 not found", "Order <int> not found"),
        ("Took 3.5s", "Took <float>s"),
        ("user alice@example.com", "user <email>"),
        ("id 5f0c1a2e-8a4b-4c1e-9d2f-0a1b2c3d4e5f", "id <uuid>"),
        ("at 0x1f", "at <hex>"),
        ("key 'abc' missing", "key <str> missing"),
        ('key "abc" missing', "key <str> missing"),
        ("GET https://x.test/a/1", "GET <url>"),
        ("from 10.1.2.3", "from <ip>"),
        ("on 2026-01-02", "on <date>"),
        ("at 12:30:01", "at <time>"),
        ("v2 utf8 sha256", "v2 utf8 sha256"),
        ("first\n\n  second  \nthird", "first second"),
        ("", ""),
    ],
)
def test_message_normalisation(text, expected):
    assert grouping.normalize_message(text) == expected


def test_a_synthetic_exception_type_is_not_part_of_the_key():
    first = _error("Error", "boom")
    second = _error("GenericError", "boom")
    for data in (first, second):
        data["exception"][0]["mechanism"] = {"synthetic": True}
    assert key(first) == key(second)


def test_the_outermost_exception_of_a_chain_decides():
    cause = {"type": "KeyError", "value": "x", "stacktrace": {"frames": []}}
    first = _error("RuntimeError", "wrapped")
    first["exception"].insert(0, cause)
    second = _error("RuntimeError", "wrapped")
    second["exception"].insert(0, cause | {"type": "IndexError"})
    assert key(first) == key(second)
    assert grouping.title_and_culprit(first, route="/checkout") == ("RuntimeError: wrapped", "shop.checkout in charge")


def _every_pattern(text: str) -> str:
    """normalize_message as it was before it skipped patterns: every one applied, in order."""
    lines = [line.strip()[:1000] for line in text[:20_000].splitlines() if line.strip()][:2]
    result = " ".join(lines)
    for pattern, placeholder, _ in grouping._VARIABLE_PARTS:
        result = pattern.sub(placeholder, result)
    return result[:1000]


@settings(max_examples=400, deadline=None, derandomize=True)
@given(
    st.lists(
        st.sampled_from(
            [
                "Order",
                " ",
                "1234",
                "٣٤",
                "\uff13",  # fullwidth three
                "-",
                ":",
                ".",
                "@",
                "x",
                "0x1f",
                "0X",
                "'",
                '"',
                "`",
                "://",
                "https",
                "ab",
                "2026-01-02",
                "12:30:01",
                "10.1.2.3",
                "fe80::1:2:3",
                "e5",
                "\n",
                "é",
                "<",
                "+",
                "deadbeef" * 5,
            ]
        ),
        max_size=12,
    ).map("".join)
)
def test_skipping_a_pattern_a_message_cannot_match_changes_no_fingerprint(text):
    # The fingerprints of stored issues depend on this function: skipping patterns must change nothing.
    assert grouping.normalize_message(text) == _every_pattern(text)


def test_other_scripts_digits_are_still_numbers():
    assert grouping.normalize_message("order ٣٤ failed") == "order <int> failed"
