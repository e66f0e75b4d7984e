"""The suite's own bookkeeping: the slow-test list names files that exist."""

from pathlib import Path

from tests.conftest import SLOW_MODULES

ROOT = Path(__file__).resolve().parent.parent


def test_every_module_marked_slow_exists():
    assert sorted(path for path in SLOW_MODULES if not (ROOT / path).is_file()) == []
