"""What ingest stores of an event's free-form data: text both databases accept, no NaN, bounded depth."""

from __future__ import annotations

import enum
import json
import math

from events.ingest import MAX_DATA_DEPTH, clean_data, clean_text


class Level(enum.IntEnum):
    ERROR = 40


class Name(str):
    pass


class Thing:
    def __str__(self) -> str:
        return "thing\x00"


def nested(depth: int) -> dict:
    value: dict = {"leaf": "x"}
    for _ in range(depth):
        value = {"d": value}
    return value


def test_text_loses_nul_and_lone_surrogates_and_keeps_everything_else():
    assert clean_text("plain ascii") == "plain ascii"
    assert clean_text("a\x00b") == "ab"
    assert clean_text("caf\u00e9 \u2603 \U0001f600") == "caf\u00e9 \u2603 \U0001f600"
    assert clean_text("bad \ud800 pair\x00") == "bad \ufffd pair"


def test_data_is_cleaned_in_values_and_keys_at_every_depth():
    data = {
        "msg": "a\x00b",
        "k\x00ey": 1,
        "\udc00": "\ud83d",
        "ok": [1, 2.5, True, None, "x", ("t", "u\x00")],
        7: "int key",
        True: "bool key",
        "nan": float("nan"),
        "inf": [float("inf"), -float("inf")],
        "enum": Level.ERROR,
        "sub": Name("na\x00me"),
        "obj": Thing(),
    }
    cleaned = clean_data(data)
    assert cleaned == {
        "msg": "ab",
        "key": 1,
        "\ufffd": "\ufffd",
        "ok": [1, 2.5, True, None, "x", ["t", "u"]],
        "7": "int key",
        "True": "bool key",
        "nan": None,
        "inf": [None, None],
        "enum": Level.ERROR,
        "sub": "name",
        "obj": "thing",
    }
    json.dumps(cleaned, allow_nan=False).encode()  # storable: no NaN, no lone surrogate


def test_data_deeper_than_the_limit_is_cut_with_a_marker():
    cleaned = clean_data(nested(MAX_DATA_DEPTH + 5))
    depth, value = 0, cleaned
    while isinstance(value, dict):
        value, depth = value.get("d", value.get("leaf")), depth + 1
    assert value == "<nested too deeply>" and depth == MAX_DATA_DEPTH
    assert clean_data(nested(MAX_DATA_DEPTH - 2)) == nested(MAX_DATA_DEPTH - 2)
    assert clean_data([[[1]]], MAX_DATA_DEPTH) == "<nested too deeply>"
    assert clean_data((1,), MAX_DATA_DEPTH) == "<nested too deeply>"
    assert math.isclose(clean_data(1.5, MAX_DATA_DEPTH), 1.5)
