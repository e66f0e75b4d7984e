"""`make run` installs only requirements.txt: everything the app imports must come from there."""

import ast
import re
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP_DIRS = ["tracepoint", "incidents", "events", "monitors", "statuspages"]
FIRST_PARTY = {"tracepoint", "incidents", "events", "monitors", "statuspages", "tests"}


def _requirement_names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[\[=<>!~ ;]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def _closure(names: set[str]) -> set[str]:
    """The distributions installed by these requirements, dependencies included."""
    seen, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for requirement in requires:
            if "extra ==" in requirement:
                continue
            todo.append(re.split(r"[\[=<>!~ ;(]", requirement, maxsplit=1)[0].lower().replace("_", "-"))
    return seen


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
    installed_by_runtime = _closure(_requirement_names(ROOT / "requirements.txt"))
    distributions = metadata.packages_distributions()
    missing = {}
    for module in sorted(_imported_top_level_modules()):
        owners = {name.lower().replace("_", "-") for name in distributions.get(module, [])}
        assert owners, f"{module} is imported by the app but not installed at all"
        if not owners & installed_by_runtime:
            missing[module] = sorted(owners)
    assert missing == {}, f"imported by the app but only in requirements-dev.txt (or nowhere): {missing}"


def test_the_check_catches_a_dev_only_package():
    runtime = _closure(_requirement_names(ROOT / "requirements.txt"))
    assert "pytest" not in runtime
    assert "django" in runtime and "kombu" in runtime  # kombu arrives with celery
