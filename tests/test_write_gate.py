"""The embedded SQLite's write gate: writers of several processes queue on a lock file, not in SQLite's sleeps."""

from __future__ import annotations

import subprocess
import sys
import time
import types

from tracepoint import write_gate as gate

HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


PROBE = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print("free")
except BlockingIOError:
    print("held")
"""


def database(monkeypatch, vendor: str, name: str) -> None:
    monkeypatch.setattr(gate, "connection", types.SimpleNamespace(vendor=vendor, settings_dict={"NAME": name}))


def probe(path) -> str:
    """Whether another process finds the gate held or free."""
    return subprocess.run(
        [sys.executable, "-c", PROBE, f"{path}.write-gate"], capture_output=True, text=True
    ).stdout.strip()


def test_a_writer_waits_while_another_process_holds_the_gate_and_goes_on_when_it_is_free(tmp_path, monkeypatch):
    path = tmp_path / "tracepoint.sqlite3"
    database(monkeypatch, "sqlite", str(path))
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, f"{path}.write-gate", "0.6"], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "held"

    started = time.monotonic()
    with gate.write_gate(), gate.write_gate():  # re-entrant in one thread
        waited = time.monotonic() - started
    holder.wait(timeout=10)

    assert 0.3 < waited < 5


def test_the_gate_stays_held_until_the_outermost_writer_is_done(tmp_path, monkeypatch):
    path = tmp_path / "tracepoint.sqlite3"
    database(monkeypatch, "sqlite", str(path))

    with gate.write_gate():
        with gate.write_gate():
            assert probe(path) == "held"
        assert probe(path) == "held"  # the inner writer's exit does not open it
    assert probe(path) == "free"


def test_an_in_memory_database_and_postgresql_have_no_gate(monkeypatch):
    database(monkeypatch, "sqlite", "file:memorydb_default?mode=memory&cache=shared")
    assert gate._gate_file() is None
    database(monkeypatch, "postgresql", "tracepoint")
    assert gate._gate_file() is None
