"""Turn a configuration error at start-up into one clear line instead of a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

from tracepoint.lib.env import SettingError

T = TypeVar("T")


def exit_on_setting_error(load: Callable[[], T]) -> T:
    try:
        return load()
    except SettingError as exc:
        sys.stderr.write(f"tracepoint: configuration error: {exc}\n")
        sys.exit(2)
