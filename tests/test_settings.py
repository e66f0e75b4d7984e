"""Settings come from the environment; a bad one stops start-up with one clear line."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tracepoint.lib.env import SettingError, env_bool, env_int, env_list, env_rate, env_secret, parse_rate

ROOT = Path(__file__).resolve().parent.parent


def test_env_bool_accepts_only_true_and_false_words(monkeypatch):
    monkeypatch.setenv("TP_FLAG", "TRUE")
    assert env_bool("TP_FLAG", False) is True
    monkeypatch.setenv("TP_FLAG", "False")
    assert env_bool("TP_FLAG", True) is False
    for word in ("maybe", "yes", "1", "on"):
        monkeypatch.setenv("TP_FLAG", word)
        with pytest.raises(SettingError, match=f"TP_FLAG: must be true or false, got '{word}'"):
            env_bool("TP_FLAG", False)


def test_env_bool_uses_the_default_when_unset_or_blank(monkeypatch):
    monkeypatch.delenv("TP_FLAG", raising=False)
    assert env_bool("TP_FLAG", True) is True
    monkeypatch.setenv("TP_FLAG", "  ")
    assert env_bool("TP_FLAG", False) is False


def test_env_int_checks_type_and_bounds(monkeypatch):
    monkeypatch.setenv("TP_NUM", "12")
    assert env_int("TP_NUM", 1, minimum=1, maximum=20) == 12
    monkeypatch.setenv("TP_NUM", "twelve")
    with pytest.raises(SettingError, match="TP_NUM: must be a whole number"):
        env_int("TP_NUM", 1)
    monkeypatch.setenv("TP_NUM", "0")
    with pytest.raises(SettingError, match="at least 1"):
        env_int("TP_NUM", 1, minimum=1)


def test_env_list_splits_on_commas(monkeypatch):
    monkeypatch.setenv("TP_LIST", "a.example, b.example ,,")
    assert env_list("TP_LIST", []) == ["a.example", "b.example"]


def test_env_secret_reads_a_file(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cr3t-value\n")
    monkeypatch.delenv("TP_SECRET", raising=False)
    monkeypatch.setenv("TP_SECRET_FILE", str(secret))
    assert env_secret("TP_SECRET") == "s3cr3t-value"
    monkeypatch.setenv("TP_SECRET", "other")
    with pytest.raises(SettingError, match="not both"):
        env_secret("TP_SECRET")


def test_env_secret_names_an_unreadable_file(monkeypatch, tmp_path):
    monkeypatch.delenv("TP_SECRET", raising=False)
    monkeypatch.setenv("TP_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(SettingError, match="TP_SECRET_FILE: cannot read"):
        env_secret("TP_SECRET")


def test_rates_parse_and_bad_rates_are_refused(monkeypatch):
    assert parse_rate("100/min") == (100, 60)
    assert parse_rate("5/10s") == (5, 10)
    assert parse_rate("1000/hour") == (1000, 3600)
    monkeypatch.setenv("TP_RATE", "lots")
    with pytest.raises(SettingError, match="TP_RATE: expected a rate"):
        env_rate("TP_RATE", "1/s")


def _start(env_overrides: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE"}}
    env["DJANGO_SETTINGS_MODULE"] = "tracepoint.settings"
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"DEBUG": "maybe"}, "DEBUG: must be true or false"),
        ({"DEBUG": "false", "SECRET_KEY": ""}, "SECRET_KEY: is required when DEBUG is off"),
        ({"DATABASE_URL": "mysql://db/x"}, "DATABASE_URL: must be a URL starting with"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL: must be a URL starting with"),
        ({"TRACEPOINT_INGEST_URL": "ingest.example.com"}, "TRACEPOINT_INGEST_URL: must be a URL starting with"),
        ({"RATE_LIMIT_WRITE": "fast"}, "RATE_LIMIT_WRITE: expected a rate"),
        ({"EVENTS_RETENTION_DAYS": "-3"}, "EVENTS_RETENTION_DAYS: must be at least 1"),
        ({"EMAIL_PORT": "smtp"}, "EMAIL_PORT: must be a whole number"),
        ({"EMAIL_URL": "foo://bar"}, "EMAIL_URL: unknown scheme"),
        ({"TRACEPOINT_VAR_DIR": "/proc/tracepoint-cannot-be-here"}, "TRACEPOINT_VAR_DIR: cannot create"),
    ],
)
def test_a_malformed_setting_stops_manage_py_with_one_line(overrides, named, tmp_path):
    result = _start({"TRACEPOINT_VAR_DIR": str(tmp_path)} | overrides, "manage.py", "check")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tracepoint: configuration error: ")
    assert named in lines[0]


def test_a_malformed_setting_stops_wsgi_and_celery_with_one_line(tmp_path):
    for code in (
        "import tracepoint.wsgi",
        "import tracepoint.ingest_asgi",
        "from tracepoint.celery import app; app.conf.broker_url",
    ):
        result = _start({"TRACEPOINT_VAR_DIR": str(tmp_path), "DEBUG": "perhaps"}, "-c", code)
        assert result.returncode == 2, code
        assert "Traceback" not in result.stderr
        assert result.stderr.strip() == "tracepoint: configuration error: DEBUG: must be true or false, got 'perhaps'"


def test_development_generates_a_secret_key_once_and_keeps_it(tmp_path):
    code = "from django.conf import settings; print(settings.SECRET_KEY)"
    env = {"TRACEPOINT_VAR_DIR": str(tmp_path), "DEBUG": "true", "SECRET_KEY": ""}
    first = _start(env, "-c", f"import django; django.setup(); {code}")
    second = _start(env, "-c", f"import django; django.setup(); {code}")
    assert first.returncode == 0, first.stderr
    key = first.stdout.strip()
    assert len(key) >= 50
    assert second.stdout.strip() == key
    assert (tmp_path / "secret_key").read_text().strip() == key
    assert oct((tmp_path / "secret_key").stat().st_mode & 0o777) == "0o600"


def test_embedded_defaults_are_sqlite_wal_and_a_filesystem_broker(tmp_path):
    code = (
        "import django; django.setup(); from django.conf import settings as s; from django.db import connection; "
        "c = connection.cursor(); c.execute('PRAGMA journal_mode'); "
        "print(s.DATABASES['default']['ENGINE'], c.fetchone()[0], s.CELERY_BROKER_URL, "
        "s.EMAIL_BACKEND.rsplit('.', 2)[-2], s.CACHES['default']['BACKEND'].rsplit('.', 1)[-1])"
    )
    env = {
        "TRACEPOINT_VAR_DIR": str(tmp_path),
        "DEBUG": "true",
        "DATABASE_URL": "",
        "REDIS_URL": "",
        "CELERY_BROKER_URL": "",
        "EMAIL_URL": "",
        "EMAIL_HOST": "",
    }
    result = _start(env, "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.sqlite3",
        "wal",
        "filesystem://localhost//",
        "console",
        "FileBasedCache",
    ]
    assert (tmp_path / "tracepoint.sqlite3").exists()
    assert (tmp_path / "celery" / "broker").is_dir()


def test_email_url_configures_smtp(tmp_path):
    code = (
        "from django.conf import settings as s; "
        "print(s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_HOST_USER, s.EMAIL_USE_TLS)"
    )
    env = {"TRACEPOINT_VAR_DIR": str(tmp_path), "EMAIL_URL": "submission://mailer:pw@smtp.example.com:587"}
    result = _start(env, "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.core.mail.backends.smtp.EmailBackend",
        "smtp.example.com",
        "587",
        "mailer",
        "True",
    ]


def test_gunicorn_stops_on_a_bad_setting_instead_of_respawning_workers(tmp_path):
    gunicorn = Path(sys.executable).parent / "gunicorn"
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(DJANGO_SETTINGS_MODULE="tracepoint.settings", TRACEPOINT_VAR_DIR=str(tmp_path), DEBUG="maybe")
    result = subprocess.run(
        [str(gunicorn), "-c", "python:tracepoint.gunicorn_conf", "--bind", "127.0.0.1:0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "tracepoint: configuration error: DEBUG: must be true or false, got 'maybe'" in result.stderr
    assert "Traceback" not in result.stderr
