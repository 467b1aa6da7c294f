"""Both kustomize overlays render, and every object they hold is valid, offline.

* Core Kubernetes objects: ``kubernetes-validate`` in strict mode (unknown fields are errors)
  against Kubernetes 1.32, the minor version of the ``kubectl`` (1.32) used to render them.
* The KubeRay ``RayCluster``: the ``openAPIV3Schema`` of the ``ray.io/v1`` version of the CRD in
  ``../shared/schemas/kuberay/ray.io_rayclusters.yaml`` (read there, never copied), made strict
  the way the API server's strict field validation is (an object schema with properties and no
  ``additionalProperties`` / ``x-kubernetes-preserve-unknown-fields`` rejects other fields).
* The ``ServiceMonitor`` (no schema on this machine): the fields we use, checked by hand.

An object of any other kind has no validator and fails, so nothing passes unchecked. The tests at
the end build broken objects (a wrong type, an unknown field, a missing container) and show
that each validator rejects them.
"""

from __future__ import annotations

import base64
import copy
import os
from collections.abc import Callable
from functools import cache
from typing import Any

import jsonschema
import kubernetes_validate
import kubernetes_validate.utils
import pytest
import yaml

from tests.deploy.helpers import RAYCLUSTER_CRD, pinned_version, skip_or_fail

KUBERNETES_VERSION = "1.32.0"

Obj = dict[str, Any]
Render = Callable[[str], list[Obj]]


def _strict(schema: Any) -> Any:
    """A copy of an OpenAPI v3 schema in which objects with known properties take no others."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _strict(value) for key, value in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@cache
def _raycluster_validator() -> jsonschema.Draft4Validator:
    crd = yaml.safe_load(RAYCLUSTER_CRD.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    schema = _strict(version["schema"]["openAPIV3Schema"])
    # OpenAPI 3.0 schemas follow JSON Schema draft 4 (boolean exclusiveMinimum, no $schema).
    return jsonschema.Draft4Validator(schema)


def _raycluster_errors(obj: Obj) -> list[str]:
    if not RAYCLUSTER_CRD.is_file():
        skip_or_fail(f"the KubeRay CRD is not at {RAYCLUSTER_CRD} (the shared folder is absent)")
    return [
        f"{'.'.join(str(p) for p in err.absolute_path)}: {err.message}"
        for err in _raycluster_validator().iter_errors(obj)
    ]


def _servicemonitor_errors(obj: Obj) -> list[str]:
    """The Prometheus Operator's CRD is not on this machine: check the fields we use by hand."""
    errors = []
    spec = obj.get("spec")
    if extra := set(obj) - {"apiVersion", "kind", "metadata", "spec"}:
        errors.append(f"unknown top-level fields {sorted(extra)}")
    if not isinstance(spec, dict):
        return [*errors, "spec must be an object"]
    if extra := set(spec) - {"selector", "endpoints", "namespaceSelector", "jobLabel"}:
        errors.append(f"unknown spec fields {sorted(extra)}")
    labels = spec.get("selector", {}).get("matchLabels")
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        errors.append("spec.selector.matchLabels must map strings to strings")
    endpoints = spec.get("endpoints")
    if not isinstance(endpoints, list) or not endpoints:
        return [*errors, "spec.endpoints must be a non-empty list"]
    allowed = {"port", "path", "interval", "scrapeTimeout", "scheme", "metricRelabelings", "relabelings"}
    for i, endpoint in enumerate(endpoints):
        if not isinstance(endpoint, dict):
            errors.append(f"spec.endpoints.{i} must be an object")
            continue
        if set(endpoint) - allowed:
            errors.append(f"spec.endpoints.{i}: unknown fields {sorted(set(endpoint) - allowed)}")
        for key in ("port", "path", "interval", "scrapeTimeout"):
            if key in endpoint and not isinstance(endpoint[key], str):
                errors.append(f"spec.endpoints.{i}.{key} must be a string")
        if "port" not in endpoint:
            errors.append(f"spec.endpoints.{i}.port is required")
    return errors


def validation_errors(obj: Obj) -> list[str]:
    """Every reason ``obj`` is invalid (empty: valid); an object no validator knows is invalid."""
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if (api_version, kind) == ("ray.io/v1", "RayCluster"):
        return _raycluster_errors(obj)
    if (api_version, kind) == ("monitoring.coreos.com/v1", "ServiceMonitor"):
        return _servicemonitor_errors(obj)
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as err:
        return [f"{'.'.join(str(p) for p in err.path)}: {err.message}"]
    except kubernetes_validate.SchemaNotFoundError as err:
        return [f"no validator for {kind} {api_version}: {err.message}"]
    return []


def _only(objs: list[Obj], kind: str, name: str) -> Obj:
    (found,) = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def _by_kind(objs: list[Obj], kind: str) -> list[Obj]:
    return [o for o in objs if o["kind"] == kind]


def _generated(objs: list[Obj], kind: str, name: str) -> Obj:
    """The object kustomize generated as ``name`` (its name carries a hash suffix)."""
    (found,) = [o for o in objs if o["kind"] == kind and o["metadata"]["name"].startswith(name + "-")]
    return found


def _settle_config(objs: list[Obj]) -> Obj:
    return _generated(objs, "ConfigMap", "settle-config")


# ---- every object of both overlays is valid ---------------------------------------------------


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_every_object_of_the_overlay_validates(render: Render, overlay: str) -> None:
    objs = render(overlay)
    kinds = {o["kind"] for o in objs}
    # What the issue lists, in both overlays.
    assert {
        "Namespace", "ServiceAccount", "ConfigMap", "Secret", "Service", "Deployment",
        "PodDisruptionBudget", "Job", "Ingress", "NetworkPolicy", "ServiceMonitor", "RayCluster",
    } <= kinds
    failures = {
        f"{o['kind']}/{o['metadata']['name']}": errors for o in objs if (errors := validation_errors(o))
    }
    assert failures == {}


def test_kubernetes_version_is_shipped_by_kubernetes_validate() -> None:
    # kubectl here is 1.32; kubernetes-validate ships schemas per minor version, 1.32 among them.
    assert "1.32.0" in kubernetes_validate.utils.all_versions()


# ---- a broken manifest fails --------------------------------------------------------------------


def _gateway(render: Render) -> Obj:
    return copy.deepcopy(_only(render("dev"), "Deployment", "settle-gateway"))


def _raycluster(render: Render) -> Obj:
    return copy.deepcopy(_only(render("dev"), "RayCluster", "settle-ray"))


def test_the_untouched_objects_validate(render: Render) -> None:
    assert validation_errors(_gateway(render)) == []
    assert validation_errors(_raycluster(render)) == []


def test_a_wrong_type_fails_in_a_core_object(render: Render) -> None:
    gateway = _gateway(render)
    gateway["spec"]["replicas"] = "two"
    assert any("replicas" in e for e in validation_errors(gateway))


def test_an_unknown_field_fails_in_a_core_object(render: Render) -> None:
    gateway = _gateway(render)
    gateway["spec"]["template"]["spec"]["containers"][0]["imagePullPolize"] = "Always"
    assert any("imagePullPolize" in e for e in validation_errors(gateway))


def test_a_missing_container_fails_in_a_core_object(render: Render) -> None:
    gateway = _gateway(render)
    del gateway["spec"]["template"]["spec"]["containers"]
    assert any("containers" in e for e in validation_errors(gateway))


def test_a_wrong_type_fails_in_the_raycluster(render: Render) -> None:
    ray = _raycluster(render)
    ray["spec"]["workerGroupSpecs"][0]["maxReplicas"] = "eight"
    assert any("maxReplicas" in e for e in validation_errors(ray))


def test_an_unknown_field_fails_in_the_raycluster(render: Render) -> None:
    ray = _raycluster(render)
    ray["spec"]["workerGroupSpecs"][0]["maxReplica"] = 8
    errors = validation_errors(ray)
    assert any("maxReplica'" in e for e in errors)


def test_an_unknown_field_deep_in_the_raycluster_pod_template_fails(render: Render) -> None:
    ray = _raycluster(render)
    ray["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["imagePullPolize"] = "Always"
    assert any("imagePullPolize" in e for e in validation_errors(ray))


def test_a_missing_container_fails_in_the_raycluster(render: Render) -> None:
    ray = _raycluster(render)
    del ray["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"]
    assert any("containers" in e for e in validation_errors(ray))


def test_a_broken_servicemonitor_fails(render: Render) -> None:
    monitor = _only(render("dev"), "ServiceMonitor", "settle-gateway")
    assert validation_errors(monitor) == []
    wrong_selector = copy.deepcopy(monitor)
    wrong_selector["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] = 1
    assert validation_errors(wrong_selector) == ["spec.selector.matchLabels must map strings to strings"]
    wrong_type = copy.deepcopy(monitor)
    wrong_type["spec"]["endpoints"][0]["interval"] = 30
    assert validation_errors(wrong_type) == ["spec.endpoints.0.interval must be a string"]
    unknown = copy.deepcopy(monitor)
    unknown["spec"]["endpoints"][0]["intervall"] = "30s"
    assert validation_errors(unknown) == ["spec.endpoints.0: unknown fields ['intervall']"]


def test_an_object_without_a_validator_fails() -> None:
    unknown = {"apiVersion": "example.org/v1", "kind": "Gadget", "metadata": {"name": "x"}}
    (error,) = validation_errors(unknown)
    assert error.startswith("no validator for Gadget example.org/v1")


# ---- what the issue asks of the objects ---------------------------------------------------------


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_gateway_is_replicated_probed_bounded_and_locked_down(render: Render, overlay: str) -> None:
    objs = render(overlay)
    gateway = _only(objs, "Deployment", "settle-gateway")
    assert gateway["spec"]["replicas"] >= 2
    pod = gateway["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    pdb = _only(objs, "PodDisruptionBudget", "settle-gateway")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels(gateway).items()
    assert 1 <= pdb["spec"]["minAvailable"] < gateway["spec"]["replicas"]


def pod_labels(workload: Obj) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_every_settle_container_runs_a_cli_command_of_the_one_image(render: Render, overlay: str) -> None:
    objs = render(overlay)
    commands = {}
    images = set()
    for workload in [*_by_kind(objs, "Deployment"), *_by_kind(objs, "Job")]:
        for container in workload["spec"]["template"]["spec"]["containers"]:
            images.add(container["image"])
            commands[workload["metadata"]["name"]] = container["args"][:2]
    ray = _only(objs, "RayCluster", "settle-ray")
    groups = [ray["spec"]["headGroupSpec"], *ray["spec"]["workerGroupSpecs"]]
    images |= {c["image"] for g in groups for c in g["template"]["spec"]["containers"]}
    assert len(images) == 1
    assert commands == {
        "settle-gateway": ["settle", "serve"],
        "settle-runner": ["settle", "worker"],  # + --metrics-port
        "settle-migrate": ["settle", "migrate"],
    }


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_raycluster_pins_ray_and_autoscales_its_workers(render: Render, overlay: str) -> None:
    ray = _only(render(overlay), "RayCluster", "settle-ray")
    spec = ray["spec"]
    assert spec["rayVersion"] == pinned_version("ray")
    assert spec["enableInTreeAutoscaling"] is True
    assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    (workers,) = spec["workerGroupSpecs"]
    assert 1 <= workers["minReplicas"] <= workers["replicas"] <= workers["maxReplicas"]
    assert workers["minReplicas"] < workers["maxReplicas"]


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_every_reference_names_an_object_of_the_overlay(render: Render, overlay: str) -> None:
    objs = render(overlay)
    names = {(o["kind"], o["metadata"]["name"]) for o in objs}
    pods = [w["spec"]["template"]["spec"] for w in objs if w["kind"] in {"Deployment", "Job", "StatefulSet"}]
    ray = _only(objs, "RayCluster", "settle-ray")["spec"]
    pods += [g["template"]["spec"] for g in [ray["headGroupSpec"], *ray["workerGroupSpecs"]]]
    wanted = set()
    for pod in pods:
        wanted.add(("ServiceAccount", pod.get("serviceAccountName", "default")))
        for container in pod["containers"]:
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    wanted.add(("ConfigMap", source["configMapRef"]["name"]))
                if "secretRef" in source:
                    wanted.add(("Secret", source["secretRef"]["name"]))
        for volume in pod.get("volumes", []):
            if "persistentVolumeClaim" in volume:
                wanted.add(("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"]))
    wanted.discard(("ServiceAccount", "default"))
    assert wanted - names == set()
    ingress = _only(objs, "Ingress", "settle-gateway")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    service = _only(objs, "Service", backend["name"])
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_runner_reaches_the_ray_head_through_the_client_port(render: Render, overlay: str) -> None:
    objs = render(overlay)
    config = _settle_config(objs)
    # KubeRay names the head's Service <cluster>-head-svc; the Ray client listens on 10001.
    assert config["data"]["RAY_ADDRESS"] == "ray://settle-ray-head-svc:10001"


def test_dev_runs_postgresql_in_the_namespace_and_prod_points_outside(render: Render) -> None:
    dev, prod = render("dev"), render("prod")
    assert [s["metadata"]["name"] for s in _by_kind(dev, "StatefulSet")] == ["postgres"]
    assert _by_kind(prod, "StatefulSet") == []
    dev_config, prod_config = _settle_config(dev), _settle_config(prod)
    assert dev_config["data"]["SETTLE_ENV"] == "development"
    assert prod_config["data"]["SETTLE_ENV"] == "production"
    assert prod_config["data"]["SETTLE_DATA_ROOTS"].startswith("s3://")
    assert prod_config["data"]["SETTLE_RESULTS"].startswith("s3://")


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_every_servicemonitor_scrapes_a_named_port_of_a_service(render: Render, overlay: str) -> None:
    objs = render(overlay)
    scraped = set()
    for monitor in _by_kind(objs, "ServiceMonitor"):
        selector = monitor["spec"]["selector"]["matchLabels"]
        services = _by_kind(objs, "Service")
        (service,) = [s for s in services if selector.items() <= s["metadata"]["labels"].items()]
        ports = {p["name"] for p in service["spec"]["ports"]}
        for endpoint in monitor["spec"]["endpoints"]:
            assert endpoint["port"] in ports
            assert endpoint["path"] == "/metrics"
        scraped.add(service["metadata"]["name"])
    assert scraped == {"settle-gateway", "settle-runner"}


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_only_the_gateway_is_open_to_other_namespaces(render: Render, overlay: str) -> None:
    policies = _by_kind(render(overlay), "NetworkPolicy")
    deny = [p for p in policies if p["spec"]["podSelector"] == {} and not p["spec"].get("ingress")]
    assert len(deny) == 1 and deny[0]["spec"]["policyTypes"] == ["Ingress"]
    open_to_all = set()
    for policy in policies:
        for rule in policy["spec"].get("ingress", []):
            peers = rule.get("from", [])
            # A rule with no peers, or a namespaceSelector {} without podSelector, admits anyone.
            if not peers or any(p.get("namespaceSelector") == {} and "podSelector" not in p for p in peers):
                open_to_all.add(policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"])
    assert open_to_all == {"settle-gateway"}


def _container_env(objs: list[Obj], workload: Obj) -> dict[str, str]:
    """The environment of a workload's first container: envFrom ConfigMaps and Secrets, then env."""
    (container, *_) = workload["spec"]["template"]["spec"]["containers"]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env |= _only(objs, "ConfigMap", source["configMapRef"]["name"])["data"]
        if "secretRef" in source:
            data = _only(objs, "Secret", source["secretRef"]["name"])["data"]
            env |= {key: base64.b64decode(value).decode() for key, value in data.items()}
    env |= {item["name"]: item["value"] for item in container.get("env", [])}
    return env


@pytest.mark.parametrize("overlay", ["dev", "prod"])
@pytest.mark.parametrize("workload", ["settle-gateway", "settle-runner", "settle-migrate"])
def test_every_setting_is_set_and_accepted_by_the_gateways_own_loader(
    render: Render, overlay: str, workload: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        from settle.api.settings import Settings, load_settings
    except ImportError as exc:
        pytest.skip(f"settle.api.settings cannot be imported yet ({exc})")
    objs = render(overlay)
    kind = "Job" if workload == "settle-migrate" else "Deployment"
    env = _container_env(objs, _only(objs, kind, workload))
    every_setting = {"SETTLE_" + name.upper() for name in Settings.model_fields}
    # SETTLE_RUNNER is per Deployment; the migration Job starts no runner and may leave it out.
    wanted = every_setting - ({"SETTLE_RUNNER"} if workload == "settle-migrate" else set())
    assert wanted - set(env) == set()
    assert {k for k in env if k.startswith("SETTLE_")} - every_setting == set()  # no stray names
    for name in list(os.environ):
        if name.startswith("SETTLE_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()  # raises SettingsError on a bad value or an unsafe production default
    assert settings.env == ("production" if overlay == "prod" else "development")
    assert settings.resolved_database_url.startswith("postgresql+psycopg://")
    assert settings.auto_migrate is False  # only the migration Job migrates
