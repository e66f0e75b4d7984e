"""The Kubernetes manifests (deploy/kubernetes/) point at code that exists and match the app.

Parsed, not applied: every command, probe path, image and environment name is checked against the
application with the same checker as docker-compose.yml (tests/helpers.py, used by tests/test_compose.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.urls import resolve

from tests.helpers import NAMES_READ_ELSEWHERE, command_problems
from tracepoint.lib.env import NAMES_READ

ROOT = Path(settings.BASE_DIR)
K8S = ROOT / "deploy" / "kubernetes"
WORKLOADS = (
    "tracepoint-web",
    "tracepoint-ingest",
    "tracepoint-stream",
    "tracepoint-worker",
    "tracepoint-beat",
    "tracepoint-probe",
)


def documents() -> list[dict]:
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        found.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return found


def resource(kind: str, name: str) -> dict:
    matches = [d for d in documents() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def pod_spec(doc: dict) -> dict:
    return doc["spec"]["template"]["spec"]


def containers() -> list[tuple[str, dict]]:
    return [
        (doc["metadata"]["name"], container)
        for doc in documents()
        if doc["kind"] in ("Deployment", "Job")
        for container in pod_spec(doc)["containers"]
    ]


def test_kustomize_lists_every_manifest_but_the_secret_template():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present - {"secret.example.yaml"}
    assert all((K8S / name).exists() for name in listed)


def test_the_layout_is_web_stream_worker_beat_and_a_migrate_job():
    kinds = {(d["kind"], d["metadata"]["name"]) for d in documents()}
    for name in WORKLOADS:
        assert ("Deployment", name) in kinds
    assert ("Job", "tracepoint-migrate") in kinds
    for service in ("tracepoint-web", "tracepoint-ingest", "tracepoint-stream"):
        assert ("Service", service) in kinds


def test_web_has_three_replicas_rolled_one_at_a_time_with_health_and_ready_probes():
    web = resource("Deployment", "tracepoint-web")
    assert web["spec"]["replicas"] == 3
    rolling = web["spec"]["strategy"]
    assert rolling["type"] == "RollingUpdate" and rolling["rollingUpdate"]["maxUnavailable"] == 0
    [container] = pod_spec(web)["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    # Ready for traffic without the worker check: a dead worker must not empty the Service.
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready?checks=database,cache,broker"
    port = {p["name"]: p["containerPort"] for p in container["ports"]}["http"]
    assert f"0.0.0.0:{port}" in container["command"]


@pytest.mark.parametrize("path", ["/health", "/ready"])
def test_the_probe_paths_exist_in_the_app(path):
    assert resolve(path).url_name in {"health", "ready"}


def test_every_probe_names_only_readiness_checks_the_app_has():
    from urllib.parse import parse_qs, urlsplit

    from tracepoint.views import READY_CHECKS

    probes = [
        container[kind]["httpGet"]["path"]
        for _, container in containers()
        for kind in ("livenessProbe", "readinessProbe", "startupProbe")
        if "httpGet" in container.get(kind, {})
    ]
    assert probes
    for probe in probes:
        parts = urlsplit(probe)
        assert resolve(parts.path).url_name in {"health", "ready"}
        for names in parse_qs(parts.query).get("checks", []):
            assert set(names.split(",")) <= set(READY_CHECKS), probe


def test_there_is_exactly_one_beat_and_it_is_never_doubled_during_a_rollout():
    beat = resource("Deployment", "tracepoint-beat")
    assert beat["spec"]["replicas"] == 1 and beat["spec"]["strategy"]["type"] == "Recreate"
    beats = [c for _, c in containers() if "beat" in c["command"]]
    assert len(beats) == 1


def test_the_migrate_job_migrates_then_creates_the_admin():
    job = resource("Job", "tracepoint-migrate")
    [container] = pod_spec(job)["containers"]
    script = container["command"][-1]
    assert script.index("migrate --no-input") < script.index("ensure_admin")
    assert pod_spec(job)["restartPolicy"] in ("OnFailure", "Never")


@pytest.mark.parametrize("name", [*WORKLOADS, "tracepoint-migrate"])
def test_every_command_and_exec_probe_points_at_code_that_exists(name):
    for owner, container in containers():
        if owner != name:
            continue
        argv = [part.replace("$(POD_NAME)", "pod") for part in container["command"]]
        assert command_problems(argv) == [], argv
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            exec_probe = container.get(probe, {}).get("exec")
            if exec_probe:
                problems = command_problems(exec_probe["command"], celery_subcommands=frozenset({"inspect"}))
                assert problems == [], exec_probe["command"]


def test_every_container_uses_the_one_image_with_limits_as_the_image_user():
    for owner, container in containers():
        assert container["image"] == "tracepoint", owner
        assert {"requests", "limits"} <= set(container["resources"]), owner
        assert {"cpu", "memory"} <= set(container["resources"]["limits"]), owner
    for doc in documents():
        if doc["kind"] in ("Deployment", "Job"):
            context = pod_spec(doc)["securityContext"]
            assert context["runAsNonRoot"] is True and context["runAsUser"] == 10001  # the Dockerfile's user


def test_every_environment_name_is_one_the_app_reads():
    config = resource("ConfigMap", "tracepoint-config")["data"]
    secret = yaml.safe_load((K8S / "secret.example.yaml").read_text())["stringData"]
    names = set(config) | set(secret)
    for _, container in containers():
        names |= {item["name"] for item in container.get("env", [])}
        for source in container["envFrom"]:
            ref = source.get("configMapRef") or source.get("secretRef")
            assert ref["name"] in ("tracepoint-config", "tracepoint-secrets")
    unknown = sorted(names - set(NAMES_READ) - set(NAMES_READ_ELSEWHERE) - {"POD_NAME"})
    assert not unknown, f"the manifests set variables the app does not read: {unknown}"


def test_the_secret_template_holds_placeholders_only():
    secret = yaml.safe_load((K8S / "secret.example.yaml").read_text())
    for key, value in secret["stringData"].items():
        assert value == "" or "<" in value, f"{key} looks like a real secret"
    config = resource("ConfigMap", "tracepoint-config")["data"]
    assert not any(word in key for key in config for word in ("SECRET", "PASSWORD", "TOKEN"))
    assert "DATABASE_URL" not in config  # it carries the database password


def test_the_configmap_and_secret_load_as_production_settings(tmp_path):
    config = resource("ConfigMap", "tracepoint-config")["data"]
    env = {**config, "SECRET_KEY": "k" * 50, "DATABASE_URL": "postgres://tracepoint:pw@postgres:5432/tracepoint"}
    env |= {"PATH": os.environ.get("PATH", ""), "TRACEPOINT_VAR_DIR": str(tmp_path)}
    code = (
        "import json, django; django.setup(); from django.conf import settings as s;"
        "print(json.dumps({'debug': s.DEBUG, 'db': s.DATABASES['default']['ENGINE'], 'ssl': s.SECURE_SSL_REDIRECT,"
        " 'hosts': s.ALLOWED_HOSTS, 'broker': s.CELERY_BROKER_URL}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["debug"] is False and loaded["db"] == "django.db.backends.postgresql" and loaded["ssl"] is True
    assert loaded["broker"] == "redis://redis:6379/1" and "127.0.0.1" in loaded["hosts"]


def test_the_example_probe_may_ping_without_privileges():
    probe = next(doc for doc in yaml.safe_load_all((ROOT / "deploy" / "kubernetes" / "probe.yaml").read_text()) if doc)
    sysctls = probe["spec"]["template"]["spec"]["securityContext"]["sysctls"]
    assert {"name": "net.ipv4.ping_group_range", "value": "0 2147483647"} in sysctls
