"""deploy/kubernetes agrees with the code: a workload per service, settings that exist, default ports,
one writer for the read models, shared storage where files are written and served."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from services.cli import EXTRA, SERVICES
from shared.config import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "kubernetes"


def documents() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    docs = []
    for name in kustomization["resources"]:
        docs += [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]
    return docs


def workloads() -> dict[str, dict[str, Any]]:
    """Role (the `csms` argument) -> the workload that runs it."""
    found = {}
    for d in documents():
        if d["kind"] in ("Deployment", "StatefulSet"):
            [container] = d["spec"]["template"]["spec"]["containers"]
            found[container["args"][0]] = d
    return found


def test_every_service_has_exactly_one_workload() -> None:
    assert set(workloads()) == set(SERVICES) | set(EXTRA)


def test_every_variable_is_a_setting() -> None:
    known = set(re.findall(r'"(CSMS_[A-Z0-9_]+)"', (ROOT / "shared" / "config.py").read_text()))
    used = set()
    for d in documents():
        if d["kind"] == "ConfigMap":
            used |= set(d["data"])
        if d["kind"] in ("Deployment", "StatefulSet", "Job"):
            for c in d["spec"]["template"]["spec"]["containers"]:
                used |= {e["name"] for e in c.get("env", [])}
    assert used and used <= known, used - known


def test_ports_are_the_defaults_and_read_models_have_one_writer() -> None:
    defaults = Settings()
    expected = {
        "gateway": {defaults.gateway_port, defaults.gateway_tls_port},
        "api": {defaults.api_port},
        "firmware": {defaults.files_http_port, defaults.files_ftp_port},
    }
    found = workloads()
    for role, ports in expected.items():
        [container] = found[role]["spec"]["template"]["spec"]["containers"]
        assert ports <= {p["containerPort"] for p in container["ports"]}
    # FTP data ports: the configured passive range, in the pod and in the Service.
    config = next(d for d in documents() if d["kind"] == "ConfigMap")
    low, high = map(int, config["data"]["CSMS_FILES_FTP_PASSIVE_PORTS"].split("-"))
    [container] = found["firmware"]["spec"]["template"]["spec"]["containers"]
    assert set(range(low, high + 1)) <= {p["containerPort"] for p in container["ports"]}
    files = next(d for d in documents() if d["kind"] == "Service" and d["metadata"]["name"] == "csms-files")
    assert set(range(low, high + 1)) <= {p["port"] for p in files["spec"]["ports"]}
    projections = found["projections"]["spec"]
    assert projections["replicas"] == 1 and projections["strategy"]["type"] == "Recreate"
    config = next(d for d in documents() if d["kind"] == "ConfigMap")
    assert config["data"]["CSMS_PROJECTIONS"] == "off"  # so nothing else writes them
    assert found["gateway"]["kind"] == "StatefulSet"  # stable pod names are gateway ids


def test_files_are_shared_by_who_writes_and_who_serves_them() -> None:
    found = workloads()
    config = next(d for d in documents() if d["kind"] == "ConfigMap")
    for role in ("api", "firmware"):
        spec = found[role]["spec"]["template"]["spec"]
        [container] = spec["containers"]
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"]}
        assert claims["files"] == "csms-files" and mounts["files"] == config["data"]["CSMS_FILES_DIR"]


def test_gateway_tls_files_come_from_the_mounted_secrets() -> None:
    """Every TLS file the gateway is told about lies in a volume mounted without subPath (so the
    kubelet's updates reach it and the gateway reloads them, ADR 0035)."""
    spec = workloads()["gateway"]["spec"]["template"]["spec"]
    [container] = spec["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    files = [
        env[n]
        for n in (
            "CSMS_TLS_CERT_RSA",
            "CSMS_TLS_KEY_RSA",
            "CSMS_TLS_CERT_ECDSA",
            "CSMS_TLS_KEY_ECDSA",
            "CSMS_TLS_CLIENT_CA",
        )
    ]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    [volume] = [v for v in spec["volumes"] if v["name"] == "tls"]
    paths = {
        f"{mounts['tls']['mountPath']}/{item['path']}"
        for source in volume["projected"]["sources"]
        for item in source["secret"]["items"]
    }
    assert set(files) == paths and "subPath" not in mounts["tls"]


def test_auto_registration_is_off_for_every_workload() -> None:
    """Issue 14: only registered stations get in; auto-registration is `make run`'s convenience.
    Every container reads the shared ConfigMap, where it is off, and none turns it on again."""
    [config] = [d for d in documents() if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "csms-config"]
    assert config["data"]["CSMS_AUTO_REGISTER"] == "off"
    for d in documents():
        if d["kind"] in ("Deployment", "StatefulSet", "Job"):
            for c in d["spec"]["template"]["spec"]["containers"]:
                assert {"configMapRef": {"name": "csms-config"}} in c.get("envFrom", []), d["metadata"][
                    "name"
                ]
                assert "CSMS_AUTO_REGISTER" not in {e["name"] for e in c.get("env", [])}
