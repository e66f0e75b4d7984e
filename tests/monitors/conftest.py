"""Fixtures of the monitors tests."""

from __future__ import annotations

import pytest

from tests.helpers import Target


@pytest.fixture
def target(settings):
    """A real local HTTP server that monitors may reach (private targets allowed)."""
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": True}
    server = Target()
    yield server
    server.close()
