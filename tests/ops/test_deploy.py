"""The deployment files, checked offline: the Kubernetes manifests as `kubectl kustomize`
renders them, validated against the Kubernetes API schemas (`kubernetes-validate`, strict), the
compose file, and the Dockerfile; every `PP_` variable they set is a setting the platform
reads."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml  # type: ignore[import-untyped]

from playerplatform.kit.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES_VERSION = "1.32.0"
SETTINGS = {f"PP_{name.upper()}" for name in Settings.model_fields}


def _rendered() -> list[dict[str, Any]]:
    out = subprocess.run(
        ["kubectl", "kustomize", str(DEPLOY / "k8s")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def _by_kind(docs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def test_the_kubernetes_manifests_render_and_validate() -> None:
    docs = _rendered()
    for doc in docs:
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # a custom resource: checked below
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    kinds = _by_kind(docs)
    assert {kind for kind, _ in kinds} == {
        "Namespace",
        "ConfigMap",
        "Secret",
        "Job",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "ServiceMonitor",
    }
    assert all(
        d["metadata"].get("namespace") == "player-platform"
        for d in docs
        if d["kind"] != "Namespace"
    )

    api = kinds["Deployment", "player-platform-api"]
    worker = kinds["Deployment", "player-platform-worker"]
    migrate = kinds["Job", "player-platform-migrate"]
    (api_container,) = api["spec"]["template"]["spec"]["containers"]
    assert api_container["args"][0] == "serve" and "--no-migrate" in api_container["args"]
    assert api_container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api_container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert worker["spec"]["template"]["spec"]["containers"][0]["args"] == ["worker"]
    assert migrate["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate", "upgrade"]

    for workload in (api, worker, migrate):
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            assert container["image"] == "ghcr.io/example/player-platform:0.1.0"
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            sources = {
                s.get("configMapRef", s.get("secretRef", {}))["name"] for s in container["envFrom"]
            }
            assert sources == {"player-platform"}

    hpa = kinds["HorizontalPodAutoscaler", "player-platform-api"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "player-platform-api"
    for name, workload in (("player-platform-api", api), ("player-platform-worker", worker)):
        pdb = kinds["PodDisruptionBudget", name]
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    service = kinds["Service", "player-platform-api"]
    assert (
        service["spec"]["selector"].items() <= api["spec"]["template"]["metadata"]["labels"].items()
    )
    monitor = kinds["ServiceMonitor", "player-platform-api"]
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["endpoints"][0] == {
        "port": "http",
        "path": "/metrics",
        "interval": "15s",
    }

    configured = set(kinds["ConfigMap", "player-platform"]["data"])
    secret = set(kinds["Secret", "player-platform"]["stringData"])
    assert not configured & secret
    assert (configured | secret) <= SETTINGS, (configured | secret) - SETTINGS


def test_the_compose_file_runs_every_service_the_production_shape_needs() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "rabbitmq", "minio", "clamd", "migrate", "api", "worker"} <= set(
        services
    )
    for name in ("migrate", "api", "worker"):
        env = services[name]["environment"]
        assert set(env) <= SETTINGS, set(env) - SETTINGS
        assert env["PP_DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert env["PP_EMBEDDED_WORKER"] == "false"
    assert services["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"] == ["migrate", "upgrade"]


def test_the_image_is_multi_stage_slim_non_root_and_health_checked() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    stages = [line for line in lines if line.startswith("FROM ")]
    assert len(stages) >= 2 and all("slim" in stage for stage in stages)
    final = lines[lines.index(stages[-1]) :]
    users = [line.split()[1] for line in final if line.startswith("USER ")]
    assert users and not users[-1].startswith(("0", "root"))
    assert any(line.startswith("HEALTHCHECK ") for line in final)
    assert any("/healthz" in line for line in final)
