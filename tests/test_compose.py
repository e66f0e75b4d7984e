"""The deployment files (docker-compose.yml, Dockerfile, .dockerignore) point at code that exists.

No Docker engine is needed: the files are parsed, and every command, import
path, management command, URL and environment variable they name is checked
against the application. No database either.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from celery.utils.imports import symbol_by_name
from django.conf import settings

from tests.helpers import NAMES_READ_ELSEWHERE, command_problems, import_problem

ROOT = Path(settings.BASE_DIR)
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

APP_SERVICES = ("migrate", "web", "ingest", "stream", "worker", "beat", "probe")
REQUIRED_SERVICES = ("postgres", "redis", *APP_SERVICES)
# Values for the ${...} references, as a .env file would give them.
DOTENV = {"SECRET_KEY": "s" * 50, "POSTGRES_PASSWORD": "pg-password-for-tests"}


# --- reading the files ---------------------------------------------------------------


def load_compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def service(name: str) -> dict:
    return load_compose()["services"][name]


def environment(svc: dict) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def as_argv(command: str | list) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def healthcheck_argv(svc: dict) -> list[str] | None:
    """The probe as an argv, or None when the service has none (or disables the image's)."""
    check = svc.get("healthcheck")
    if not check or check.get("disable"):
        return None
    test = check.get("test")
    if isinstance(test, str):
        return ["sh", "-c", test]
    if not test or test[0] == "NONE":
        return None
    if test[0] == "CMD-SHELL":
        return ["sh", "-c", " ".join(test[1:])]
    return [str(part) for part in (test[1:] if test[0] == "CMD" else test)]


_INTERPOLATION = re.compile(r"\$\$|\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|\$(?P<bare>[A-Za-z_]\w*)")


class MissingVariable(Exception):
    pass


def interpolate(value: str, dotenv: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error} and $$."""

    def substitute(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        present = name in dotenv and (bool(dotenv[name]) or not (op or "").startswith(":"))
        if op and op.endswith("?") and not present:
            raise MissingVariable(f"{name}: {arg}")
        if present:
            return dotenv[name]
        return arg if op and op.endswith("-") else ""

    return _INTERPOLATION.sub(substitute, value)


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical, pending = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    pairs = []
    for line in logical:
        keyword, _, rest = line.strip().partition(" ")
        pairs.append((keyword.upper(), rest.strip()))
    return pairs


def dockerfile_exec_form(instruction: str) -> list[str]:
    """The JSON (exec form) argv of the last CMD, or of HEALTHCHECK's CMD."""
    args = [rest for keyword, rest in dockerfile_instructions() if keyword == instruction][-1]
    if instruction == "HEALTHCHECK":
        args = re.sub(r"^(--\S+\s+)*", "", args)
        assert args.startswith("CMD "), f"HEALTHCHECK should run a command, got {args!r}"
        args = args[len("CMD ") :]
    assert args.startswith("["), f"{instruction} should use the exec (JSON) form, got {args!r}"
    return json.loads(args)


# --- compose: services and images --------------------------------------------------


def test_compose_defines_every_service_of_the_production_layout():
    services = load_compose()["services"]
    missing = [name for name in REQUIRED_SERVICES if name not in services]
    assert not missing, f"docker-compose.yml lacks services {missing}"


def test_databases_use_the_supported_major_versions():
    assert re.fullmatch(r"postgres:16([.-].*)?", service("postgres")["image"])
    assert re.fullmatch(r"redis:7([.-].*)?", service("redis")["image"])


def test_postgres_and_redis_keep_their_data_and_report_health():
    for name in ("postgres", "redis"):
        svc = service(name)
        assert healthcheck_argv(svc), f"{name} has no healthcheck"
        assert svc.get("volumes"), f"{name} keeps no data volume"
    assert "pg_isready" in " ".join(healthcheck_argv(service("postgres")))
    assert "redis-cli ping" in " ".join(healthcheck_argv(service("redis")))
    redis_command = " ".join(as_argv(service("redis").get("command", "")))
    assert "--appendonly yes" in redis_command, "redis must persist queued tasks (appendonly)"


def test_app_services_are_built_from_the_dockerfile_as_one_image():
    images = {service(name).get("image") for name in APP_SERVICES}
    assert len(images) == 1 and None not in images, f"app services should share one image tag, got {images}"
    for name in APP_SERVICES:
        build = service(name).get("build")
        context = build if isinstance(build, str) else (build or {}).get("context")
        dockerfile = "Dockerfile" if isinstance(build, str) else (build or {}).get("dockerfile", "Dockerfile")
        assert context, f"{name} has no build context"
        assert (COMPOSE_FILE.parent / context / dockerfile).resolve() == DOCKERFILE.resolve(), name


# --- compose: commands point at code that exists ---------------------------------------


@pytest.mark.parametrize("name", APP_SERVICES)
def test_every_app_command_points_at_code_that_exists(name):
    command = service(name).get("command")
    assert command, f"{name} should say which command it runs"
    assert command_problems(as_argv(command)) == []


@pytest.mark.parametrize("name", [n for n in APP_SERVICES if n != "migrate"])
def test_every_long_running_app_service_has_a_healthcheck_that_points_at_code_that_exists(name):
    argv = healthcheck_argv(service(name))
    assert argv, f"{name} has no healthcheck"
    assert command_problems(argv, celery_subcommands=frozenset({"inspect", "status"})) == []


def test_the_one_shot_migrate_job_migrates_then_creates_the_admin_and_is_never_restarted():
    svc = service("migrate")
    command = " ".join(as_argv(svc["command"]))
    assert re.search(r"manage\.py migrate --no-input.*&&.*manage\.py ensure_admin", command), command
    assert str(svc.get("restart")) == "no"
    check = svc.get("healthcheck") or {}
    # The image has a HEALTHCHECK (for web): the one-shot job must switch it off explicitly.
    assert check.get("disable") is True or check.get("test") == ["NONE"], "migrate should disable the healthcheck"
    assert svc["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_web_runs_gunicorn_on_port_8000_after_migrations_succeeded():
    svc = service("web")
    argv = as_argv(svc["command"])
    assert Path(argv[0]).name == "gunicorn"
    assert "0.0.0.0:8000" in argv
    assert any(str(port).endswith(":8000") for port in svc.get("ports", [])), "web should publish port 8000"
    assert svc["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert svc["depends_on"]["redis"]["condition"] == "service_healthy"


def test_the_stream_service_serves_the_asgi_app_with_uvicorn_workers_and_web_points_browsers_at_it():
    svc = service("stream")
    argv = as_argv(svc["command"])
    assert Path(argv[0]).name == "gunicorn" and "tracepoint.asgi:application" in argv
    worker_class = argv[argv.index("--worker-class") + 1]
    symbol_by_name(worker_class)  # importable in this environment (pinned in requirements.txt)
    assert "0.0.0.0:8001" in argv
    assert any(str(port).endswith(":8001") for port in svc.get("ports", []))
    assert svc["depends_on"]["redis"]["condition"] == "service_healthy"
    assert service("web")["environment"]["TRACEPOINT_STREAM_URL"] == "${TRACEPOINT_STREAM_URL:-}"  # off unless set


def test_the_ingest_service_serves_sentry_ingest_with_uvicorn_workers_and_dsns_name_it():
    svc = service("ingest")
    argv = as_argv(svc["command"])
    assert Path(argv[0]).name == "gunicorn" and "tracepoint.ingest_asgi:application" in argv
    symbol_by_name(argv[argv.index("--worker-class") + 1])  # importable here (pinned in requirements.txt)
    assert "0.0.0.0:8002" in argv
    assert any(str(port).endswith(":8002") for port in svc.get("ports", []))
    assert svc["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "8002/ready?checks=database,cache" in " ".join(healthcheck_argv(svc))
    # DSNs name it once set (an upgrade keeps its DSNs on TRACEPOINT_BASE_URL until then).
    assert service("web")["environment"]["TRACEPOINT_INGEST_URL"] == "${TRACEPOINT_INGEST_URL:-}"


@pytest.mark.parametrize("name", ["worker", "beat"])
def test_celery_processes_start_only_after_migrations_succeeded(name):
    assert service(name)["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_worker_and_beat_run_the_right_celery_subcommands():
    worker = as_argv(service("worker")["command"])
    assert worker[:3] == ["nice", "-n", "10"]  # below web's CPU priority on a shared host
    assert next(arg for arg in worker[6:] if not arg.startswith("-")) == "worker"
    beat = as_argv(service("beat")["command"])
    assert next(arg for arg in beat[3:] if not arg.startswith("-")) == "beat"
    # The scheduler comes from the settings (the beat lock): a --scheduler flag would bypass it.
    assert not any(arg in ("-S", "--scheduler") or arg.startswith("--scheduler=") for arg in beat)


def test_the_configured_beat_scheduler_is_the_locked_one():
    from django.conf import settings

    from tracepoint.beat import LockedDatabaseScheduler

    assert settings.CELERY_BEAT_SCHEDULER == "tracepoint.beat:LockedDatabaseScheduler"
    assert issubclass(LockedDatabaseScheduler, __import__("celery").beat.Scheduler)


def test_the_worker_healthcheck_pings_this_very_worker():
    worker = as_argv(service("worker")["command"])
    node = worker[worker.index("--hostname") + 1] if "--hostname" in worker else "celery@%h"
    probe = " ".join(healthcheck_argv(service("worker")))
    # In compose files $$ is a literal $, so the shell sees $HOSTNAME.
    assert node.replace("%h", "$$HOSTNAME") in probe, f"the probe should ping {node}"


def test_there_is_exactly_one_beat():
    svc = service("beat")
    assert int((svc.get("deploy") or {}).get("replicas", 1)) == 1
    assert int(svc.get("scale", 1)) == 1
    beat_services = [
        name
        for name, other in load_compose()["services"].items()
        if other.get("command") and "beat" in as_argv(other["command"])[:5]
    ]
    assert beat_services == ["beat"]


# --- compose: environment ---------------------------------------------------------------


def test_names_read_elsewhere_really_are_read_there():
    for name, module in NAMES_READ_ELSEWHERE.items():
        source = Path(importlib.import_module(module).__file__).read_text()
        assert name in source, f"{module} does not read {name}"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_every_environment_variable_set_on_an_app_service_is_one_the_app_reads(name):
    from tracepoint.lib.env import NAMES_READ

    assert "SECRET_KEY" in NAMES_READ, "tracepoint.settings should have been imported by now"
    unknown = sorted(set(environment(service(name))) - NAMES_READ - set(NAMES_READ_ELSEWHERE))
    assert not unknown, f"{name} sets variables nothing reads: {unknown}"


def test_the_settings_module_named_in_compose_imports():
    for name in APP_SERVICES:
        module = environment(service(name)).get("DJANGO_SETTINGS_MODULE")
        if module:
            assert import_problem(module) is None


def test_no_secret_is_written_into_the_compose_file():
    """Secrets come from .env: each secret value is a ${VAR:?...} reference (or empty), never a literal."""
    secret = re.compile(r"SECRET|PASSWORD|TOKEN")
    checked = 0
    for name, svc in load_compose()["services"].items():
        for key, value in environment(svc).items():
            if secret.search(key):
                checked += 1
                assert re.fullmatch(r"\$\{\w+(:\?[^}]*|:-)\}", value), f"{name}: {key} must come from .env"
    assert checked >= 3
    database_url = environment(service("web"))["DATABASE_URL"]
    assert re.search(r"://tracepoint:\$\{POSTGRES_PASSWORD:\?[^}]*\}@postgres:5432/", database_url), database_url
    with pytest.raises(MissingVariable, match="SECRET_KEY"):
        interpolate(environment(service("web"))["SECRET_KEY"], {})


@pytest.mark.parametrize("name", APP_SERVICES)
def test_the_compose_environment_loads_as_production_settings(name, tmp_path):
    env = {key: interpolate(value, DOTENV) for key, value in environment(service(name)).items()}
    env |= {"PATH": os.environ.get("PATH", ""), "TRACEPOINT_VAR_DIR": str(tmp_path)}
    code = (
        "import json, django; django.setup(); from django.conf import settings as s;"
        "from tracepoint.lib.env import NAMES_READ;"
        "print(json.dumps({'debug': s.DEBUG, 'db': s.DATABASES['default']['ENGINE'], 'broker': s.CELERY_BROKER_URL,"
        " 'cache': s.CACHES['default']['BACKEND'], 'hosts': s.ALLOWED_HOSTS, 'names': sorted(NAMES_READ)}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["debug"] is False
    assert loaded["db"] == "django.db.backends.postgresql"
    assert loaded["broker"].startswith("redis://redis:6379/")
    assert loaded["cache"] == "tracepoint.cache.ReusingRedisCache"
    assert "127.0.0.1" in loaded["hosts"], "the healthchecks call the app on 127.0.0.1"
    unknown = sorted(set(env) - set(loaded["names"]) - set(NAMES_READ_ELSEWHERE) - {"PATH", "TRACEPOINT_VAR_DIR"})
    assert not unknown, f"{name} sets variables the production settings do not read: {unknown}"


# --- Dockerfile and .dockerignore ----------------------------------------------------------


def test_the_image_builds_from_python_311_slim_in_several_stages():
    bases = [rest for keyword, rest in dockerfile_instructions() if keyword == "FROM"]
    args = dict(rest.split("=", 1) for keyword, rest in dockerfile_instructions() if keyword == "ARG" and "=" in rest)
    images = [re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), base.split()[0]) for base in bases]
    assert len(images) >= 2, "expected a build stage and a runtime stage"
    assert all(image.startswith("python:3.11-slim") for image in images), images


def test_the_image_runs_as_an_unprivileged_user_from_app():
    instructions = dockerfile_instructions()
    users = [rest for keyword, rest in instructions if keyword == "USER"]
    assert users, "the image should not run as root"
    assert users[-1].split(":")[0] not in ("root", "0")
    assert [rest for keyword, rest in instructions if keyword == "WORKDIR"][-1] == "/app"
    env_text = " ".join(rest for keyword, rest in instructions if keyword == "ENV")
    assert "TRACEPOINT_VAR_DIR=/app/var" in env_text


def test_the_image_collects_static_files_and_exposes_port_8000():
    instructions = dockerfile_instructions()
    runs = " ".join(rest for keyword, rest in instructions if keyword == "RUN")
    assert "manage.py collectstatic --no-input" in runs
    assert "DEBUG=false" in runs, "collectstatic must run with the production (manifest) storage"
    assert ("EXPOSE", "8000") in instructions


def test_the_image_cmd_serves_tracepoint_wsgi_with_gunicorn():
    argv = dockerfile_exec_form("CMD")
    assert argv[0] == "gunicorn" and "tracepoint.wsgi:application" in argv
    assert "0.0.0.0:8000" in argv
    assert command_problems(argv) == []


def test_the_image_healthcheck_probes_health_on_the_app_port():
    argv = dockerfile_exec_form("HEALTHCHECK")
    assert "http://127.0.0.1:8000/health" in " ".join(argv)
    assert command_problems(argv) == []


def test_the_dockerignore_keeps_local_state_and_secrets_out_of_the_image():
    patterns = {
        line.strip().rstrip("/") for line in DOCKERIGNORE.read_text().splitlines() if line.strip()[:1] not in ("", "#")
    }
    for needed in (".venv", "var", ".git", ".env", "**/__pycache__"):
        assert needed in patterns, f".dockerignore should exclude {needed}"
    for kept in ("manage.py", "requirements.txt", "tracepoint", "templates", "static"):
        assert kept not in patterns, f".dockerignore must not exclude {kept}"


# --- the checker itself rejects what is wrong -----------------------------------------------

BROKEN_COMMANDS = {
    "gunicorn target module missing": ["gunicorn", "tracepoint.nowhere:app", "--bind", "0.0.0.0:8000"],
    "gunicorn target not callable": ["gunicorn", "tracepoint.settings:DEBUG"],
    "gunicorn without a target": ["gunicorn", "--bind", "0.0.0.0:8000"],
    "celery app module missing": ["celery", "-A", "tracepoint.nowhere", "worker"],
    "celery app not tracepoint's": ["celery", "-A", "celery", "worker"],
    "celery subcommand not allowed": ["celery", "-A", "tracepoint", "flower"],
    "celery scheduler missing": [
        "celery",
        "-A",
        "tracepoint",
        "beat",
        "--scheduler",
        "django_celery_beat.schedulers:NoSuchScheduler",
    ],
    "celery scheduler not a scheduler": ["celery", "-A", "tracepoint", "beat", "-S", "tracepoint.celery:app"],
    "management command missing": ["python", "manage.py", "migrat", "--no-input"],
    "second step of sh -c broken": ["sh", "-c", "python manage.py migrate --no-input && python manage.py ensure_admn"],
    "probe of a URL the app lacks": [
        "python",
        "-c",
        "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/hz')",
    ],
    "probe on the wrong port": ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:80/health')"],
    "probe importing what is missing": ["python", "-c", "from tracepoint.celery import nothing_here"],
    "unknown program": ["uwsgi", "--http", ":8000"],
}


@pytest.mark.parametrize("argv", BROKEN_COMMANDS.values(), ids=BROKEN_COMMANDS.keys())
def test_the_checker_rejects_commands_that_point_at_nothing(argv):
    assert command_problems(argv) != []


def test_the_checker_accepts_the_same_commands_when_they_are_right():
    good = [
        ["gunicorn", "tracepoint.wsgi:application", "--bind", "0.0.0.0:8000"],
        shlex.split("sh -c 'python manage.py migrate --no-input && python manage.py ensure_admin'"),
        ["celery", "--app=tracepoint", "beat", "-S", "django_celery_beat.schedulers:DatabaseScheduler"],
        ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/ready')"],
    ]
    assert [command_problems(argv) for argv in good] == [[]] * len(good)


def test_interpolation_follows_compose_rules():
    assert interpolate("${A:-x}|${B-y}|${C}|$$HOME", {"B": ""}) == "x|||$HOME"
    assert interpolate("${A:?need A}", {"A": "1"}) == "1"
    with pytest.raises(MissingVariable):
        interpolate("${A:?need A}", {"A": ""})
