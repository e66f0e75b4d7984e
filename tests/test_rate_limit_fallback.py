"""Without Redis the database holds the counters, atomically across processes."""

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tracepoint import ratelimit
from tracepoint.models import RateLimitCounter
from tracepoint.tasks import purge_rate_limit_counters

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def no_redis(settings):
    settings.REDIS_URL = None
    settings.TRACEPOINT = {**settings.TRACEPOINT, "RATE_LIMITS": {"write": "2/min"}}


def test_database_counts_within_a_window(no_redis):
    now = 1_800_000_030.0  # 30 s into a minute window
    assert [ratelimit.hit("write", "ip:a", now=now).allowed for _ in range(3)] == [True, True, False]
    assert ratelimit.hit("write", "ip:a", now=now).retry_after == 30
    assert ratelimit.hit("write", "ip:b", now=now).allowed
    assert ratelimit.hit("write", "ip:a", now=now + 60).allowed  # next window
    assert RateLimitCounter.objects.filter(key__contains="ip:a").count() == 2


def test_expired_windows_are_purged(no_redis):
    ratelimit.hit("write", "ip:a", now=datetime.now(tz=UTC).timestamp() - 3600)
    ratelimit.hit("write", "ip:b")
    assert purge_rate_limit_counters() == 1
    remaining = RateLimitCounter.objects.get()
    assert ":ip:b:" in remaining.key
    assert remaining.expires_at > datetime.now(tz=UTC) + timedelta(seconds=30)


def test_rate_limits_can_be_switched_off(no_redis, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "RATE_LIMIT_ENABLED": False}
    assert all(ratelimit.hit("write", "ip:a").allowed for _ in range(5))
    assert not RateLimitCounter.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_processes_sharing_a_sqlite_file_never_exceed_the_limit(tmp_path):
    """The embedded run: several processes, one SQLite file, one budget."""
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL"}}
    env.update(
        DJANGO_SETTINGS_MODULE="tracepoint.settings",
        TRACEPOINT_VAR_DIR=str(tmp_path),
        DEBUG="true",
        RATE_LIMIT_WRITE="10/day",
    )
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    code = (
        "import django; django.setup(); from tracepoint import ratelimit; "
        "print(sum(ratelimit.hit('write', 'ip:shared').allowed for _ in range(10)))"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    allowed = [int(p.communicate(timeout=120)[0].strip()) for p in procs]
    assert sum(allowed) == 10, allowed


def test_client_ip_trusts_only_the_configured_proxies(rf, settings):
    request = rf.get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="1.1.1.1, 203.0.113.7")
    settings.NUM_PROXIES = 0
    assert ratelimit.client_ip(request) == "10.0.0.5"
    settings.NUM_PROXIES = 1
    assert ratelimit.client_ip(request) == "203.0.113.7"
