"""Product limits live in one TRACEPOINT dict, each read somewhere; links are built by tracepoint.links only."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings

from tracepoint.links import absolute_url, base_url

ROOT = Path(__file__).resolve().parent.parent
CODE_DIRS = ("tracepoint", "incidents", "events", "monitors", "statuspages")


def _code_files() -> dict[str, str]:
    files = {}
    for name in CODE_DIRS:
        for path in sorted((ROOT / name).rglob("*.py")):
            if "migrations" not in path.parts:
                files[str(path.relative_to(ROOT))] = path.read_text()
    return files


def _template_files() -> dict[str, str]:
    return {
        str(path.relative_to(ROOT)): path.read_text()
        for path in sorted(ROOT.rglob("templates/**/*"))
        if path.is_file() and ".venv" not in path.parts
    }


def test_no_hidden_defaults_for_tracepoint_settings():
    # A default passed at the call site hides the limit from settings.py and the README.
    found = [path for path, text in _code_files().items() if re.search(r"TRACEPOINT\.get\(", text)]
    assert found == []


def test_every_tracepoint_setting_is_read_somewhere():
    readers = {**_code_files(), **_template_files()}
    readers.pop("tracepoint/settings.py")
    code = "\n".join(readers.values())
    unread = [key for key in settings.TRACEPOINT if not re.search(rf"""["']{key}["']|TRACEPOINT\.{key}\b""", code)]
    assert unread == []


def test_only_the_links_helper_reads_base_url():
    readers = [
        path
        for path, text in _code_files().items()
        if re.search(r"""["']BASE_URL["']""", text) and path not in ("tracepoint/settings.py", "tracepoint/links.py")
    ]
    assert readers == []


@pytest.mark.parametrize("configured", ["https://tp.example.com", "https://tp.example.com/"])
def test_absolute_url_joins_with_one_slash(settings, configured):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "BASE_URL": configured}
    assert base_url() == "https://tp.example.com"
    assert absolute_url("/incidents/3/") == "https://tp.example.com/incidents/3/"
    assert absolute_url("incidents/3/") == "https://tp.example.com/incidents/3/"
    assert absolute_url("") == "https://tp.example.com/"


def test_absolute_url_reverses_a_url_name(settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "BASE_URL": "https://tp.example.com/"}
    assert absolute_url("monitors:detail", 7) == "https://tp.example.com/monitors/7/"
    assert absolute_url("monitors:detail", pk=7) == "https://tp.example.com/monitors/7/"
    assert absolute_url("health") == "https://tp.example.com/health"


def test_absolute_url_refuses_arguments_with_a_path():
    with pytest.raises(TypeError):
        absolute_url("/monitors/", 7)
