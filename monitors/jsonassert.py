"""JSON assertions of HTTP monitors: one per line, ``<JSONPath> <operator> <value>``, e.g. ``$.status == "ok"``.

Operators: ``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``contains``, ``not contains``, ``exists``, ``not exists``.
Values are JSON literals: ``"ok"``, ``3``, ``2.5``, ``true``, ``false``, ``null`` (or an array or object, for
``==``). Blank lines and lines starting with ``#`` are skipped. Paths are RFC 9535 JSONPath (python-jsonpath
in strict mode), so ``$.checks[?@.name == "db"].status`` works: a line is split at the first operator after
which both the path compiles and the value parses.

A path that selects several values (``$.checks[*].status == "ok"``) passes when every one of them does;
``contains`` looks for a text in a string or an item in a list (or in the values selected).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jsonpath

OPERATORS = ("==", "!=", "<=", ">=", "<", ">", "not contains", "contains", "not exists", "exists")
_UNARY = {"exists", "not exists"}
# An operator stands between spaces (or ends the line, for the unary ones); inside a filter (`[?@.a == 1]`)
# the path before it does not compile, so the split moves on to the next one.
_OPERATOR = re.compile(r"\s(==|!=|<=|>=|<|>|not\s+contains|contains|not\s+exists|exists)(?=\s|$)")
_ENVIRONMENT = jsonpath.JSONPathEnvironment(strict=True)
# match() and search() run a user's regular expression over the monitored body on the checks' event loop,
# where a catastrophic pattern ("(a+)+b") would stall every check of the batch: not offered.
for _name in ("match", "search"):
    del _ENVIRONMENT.function_extensions[_name]
_SHOWN_CHARS = 120
EXAMPLE = '$.status == "ok"'


class AssertionSyntaxError(ValueError):
    """A line that is not an assertion; ``str()`` names the line."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(f"Line {line}: {problem}")
        self.line = line
        self.problem = problem


@dataclass(frozen=True)
class Assertion:
    line: int
    text: str
    path: str
    operator: str
    expected: Any = None
    compiled: Any = None  # jsonpath.JSONPath

    def expectation(self) -> str:
        return self.operator if self.operator in _UNARY else f"{self.operator} {show(self.expected)}"


@dataclass(frozen=True)
class Outcome:
    line: int
    text: str
    passed: bool
    found: str  # what the path selected, as (shortened) JSON; "" when it selected nothing
    message: str = ""  # why it failed

    def as_detail(self) -> dict:
        return {"line": self.line, "assertion": self.text, "passed": self.passed, "found": self.found}


def show(value: Any) -> str:
    """A value as JSON, shortened for messages."""
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"


@lru_cache(maxsize=512)
def parse(text: str) -> tuple[Assertion, ...]:
    """Every assertion of ``text``; ``AssertionSyntaxError`` naming the first bad line."""
    assertions = []
    for number, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            assertions.append(_parse_line(number, line))
    return tuple(assertions)


def _parse_line(number: int, line: str) -> Assertion:
    if not line.startswith("$"):
        raise AssertionSyntaxError(number, f"start with a JSONPath, e.g. {EXAMPLE}")
    problem = f"write “<JSONPath> <operator> <value>”, e.g. {EXAMPLE}; operators: {', '.join(OPERATORS)}"
    for match in _OPERATOR.finditer(line):
        path, operator, rest = line[: match.start()].strip(), " ".join(match.group(1).split()), line[match.end() :]
        try:
            compiled = _ENVIRONMENT.compile(path)
        except jsonpath.JSONPathError as exc:
            problem = f"{path} is not a JSONPath: {str(exc).splitlines()[0]}"
            continue
        rest = rest.strip()
        if operator in _UNARY:
            if rest:
                problem = f"nothing may follow “{operator}”"
                continue
            return Assertion(number, line, path, operator, None, compiled)
        if not rest:
            example = "3" if operator in ("<", "<=", ">", ">=") else '"ok"'
            problem = f"“{operator}” needs a value, e.g. {path} {operator} {example}"
            continue
        try:
            expected = json.loads(rest)
        except ValueError:
            problem = f'{rest} is not a JSON value: quote text ("ok"), or write a number, true, false or null'
            continue
        if operator in ("<", "<=", ">", ">=") and not (_is_number(expected) or isinstance(expected, str)):
            problem = f"“{operator}” compares numbers or texts, not {show(expected)}"
            continue
        return Assertion(number, line, path, operator, expected, compiled)
    raise AssertionSyntaxError(number, problem)


def problems(text: str) -> list[str]:
    """The syntax error of ``text`` as a list (empty when it is fine), for forms and serializers."""
    try:
        parse(text)
    except AssertionSyntaxError as exc:
        return [str(exc)]
    return []


def evaluate(assertions: tuple[Assertion, ...], document: Any) -> list[Outcome]:
    return [_evaluate_one(assertion, document) for assertion in assertions]


def _evaluate_one(assertion: Assertion, document: Any) -> Outcome:
    values = assertion.compiled.findall(document)
    found = "" if not values else show(values[0] if len(values) == 1 else values)
    operator, expected = assertion.operator, assertion.expected
    if operator == "exists":
        passed = bool(values)
    elif operator == "not exists":
        passed = not values
    elif not values:
        passed = False
    elif operator == "contains":
        passed = _contains(values, expected)
    elif operator == "not contains":
        passed = not _contains(values, expected)
    else:
        passed = all(_compare(value, operator, expected) for value in values)
    if passed:
        return Outcome(assertion.line, assertion.text, True, found)
    what = f"{assertion.path} is {found}" if values else f"{assertion.path} matched nothing"
    message = f"JSON assertion failed on line {assertion.line}: {what}, expected {assertion.expectation()}"
    return Outcome(assertion.line, assertion.text, False, found, message)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equal(left: Any, right: Any) -> bool:
    # JSON equality: true is not 1 (Python says it is), 1 is 1.0; arrays and objects compare item by item.
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(_equal(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_equal(left[key], right[key]) for key in left)
    return left == right


def _compare(value: Any, operator: str, expected: Any) -> bool:
    if operator == "==":
        return _equal(value, expected)
    if operator == "!=":
        return not _equal(value, expected)
    if not ((_is_number(value) and _is_number(expected)) or (isinstance(value, str) and isinstance(expected, str))):
        return False  # "3" < 4: not comparable, so the assertion fails
    return {"<": value < expected, "<=": value <= expected, ">": value > expected, ">=": value >= expected}[operator]


def _contains(values: list[Any], expected: Any) -> bool:
    if len(values) == 1:
        value = values[0]
        if isinstance(value, str):
            return isinstance(expected, str) and expected in value
        if isinstance(value, list):
            return any(_equal(item, expected) for item in value)
        if isinstance(value, dict):
            return isinstance(expected, str) and expected in value
        return False
    return any(_equal(value, expected) for value in values)
