"""`make run` installs only requirements.txt: everything the app imports must come from there."""

import ast
import re
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP_DIRS = ["tracepoint", "incidents", "events", "monitors", "statuspages"]
FIRST_PARTY = {"tracepoint", "incidents", "events", "monitors", "statuspages", "tests"}


def _requirements(path: Path) -> list[tuple[str, set[str]]]:
    """(distribution, extras) of each line of a requirements file."""
    found = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            match = re.match(r"([A-Za-z0-9_.-]+)(?:\[([^\]]*)\])?", line)
            extras = {extra.strip().lower() for extra in (match.group(2) or "").split(",") if extra.strip()}
            found.append((_normalise(match.group(1)), extras))
    return found


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-")


def _closure(requirements: list[tuple[str, set[str]]]) -> set[str]:
    """The distributions installed by these requirements, dependencies and requested extras included."""
    seen: set[tuple[str, frozenset[str]]] = set()
    names: set[str] = set()
    todo = [(name, frozenset(extras)) for name, extras in requirements]
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        names.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for requirement in requires:
            marker_extra = re.search(r"extra\s*==\s*[\"']([^\"']+)[\"']", requirement)
            if marker_extra and marker_extra.group(1).lower() not in extras:
                continue
            match = re.match(r"([A-Za-z0-9_.-]+)(?:\[([^\]]*)\])?", requirement)
            sub_extras = frozenset(e.strip().lower() for e in (match.group(2) or "").split(",") if e.strip())
            todo.append((_normalise(match.group(1)), sub_extras))
    return names


def _imported_top_level_modules() -> set[str]:
    modules = set()
    for folder in APP_DIRS:
        for path in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    modules.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules.add(node.module.split(".")[0])
    return modules - FIRST_PARTY - set(sys.stdlib_module_names)


def test_every_imported_package_is_a_runtime_requirement():
    installed_by_runtime = _closure(_requirements(ROOT / "requirements.txt"))
    distributions = metadata.packages_distributions()
    missing = {}
    for module in sorted(_imported_top_level_modules()):
        owners = {name.lower().replace("_", "-") for name in distributions.get(module, [])}
        assert owners, f"{module} is imported by the app but not installed at all"
        if not owners & installed_by_runtime:
            missing[module] = sorted(owners)
    assert missing == {}, f"imported by the app but only in requirements-dev.txt (or nowhere): {missing}"


def test_the_check_catches_a_dev_only_package():
    runtime = _closure(_requirements(ROOT / "requirements.txt"))
    assert "pytest" not in runtime
    assert "django" in runtime and "kombu" in runtime  # kombu arrives with celery


def test_the_broker_transport_imports_come_from_the_runtime_requirements():
    """kombu's Redis transport imports `packaging`, which only kombu's `redis` extra installs:
    without it the worker and beat die at start with REDIS_URL set (the smoke stage of .ci/run
    proves the whole runtime; this catches the known case in the unit suite)."""
    runtime = _closure(_requirements(ROOT / "requirements.txt"))
    assert {"packaging", "redis"} <= runtime
    assert ("kombu", {"redis"}) in _requirements(ROOT / "requirements.txt")


def test_extras_are_followed_only_when_requested():
    assert "packaging" not in _closure([("kombu", set())])
    assert "packaging" in _closure([("kombu", {"redis"})])
