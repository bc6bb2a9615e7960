"""The deployment files agree with the code: every service, port, environment variable and probe.

Reads deploy/k8s (kustomize base and overlays), deploy/nats/cluster, deploy/compose.yaml and
deploy/Containerfile as text and YAML; needs no docker, kubectl or network. Kustomize itself is
not run: the base is read as the list of documents its kustomization names.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from runtime import config
from services import registry

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
BASE = K8S / "base"
NATS_CLUSTER = DEPLOY / "nats" / "cluster"
IMAGE = "haikou-smartcity"
DATA_DIR = "/var/lib/smartcity"
PROCESSES = (*config.SERVICES, "gateway")

Doc = dict[str, Any]


# ---- reading ----------------------------------------------------------------------------------


def _yaml_files() -> list[Path]:
    files = sorted({*K8S.rglob("*.yaml"), *NATS_CLUSTER.rglob("*.yaml")})
    return [*files, DEPLOY / "compose.yaml"]


def _kustomizations() -> list[Path]:
    return sorted({*K8S.rglob("kustomization.yaml"), *NATS_CLUSTER.rglob("kustomization.yaml")})


def _load(path: Path) -> list[Doc]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def _env_file(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            pairs[name.strip()] = value.strip()
    return pairs


def _resources(directory: Path) -> Iterator[Doc]:
    """The documents a kustomization lists, following directories (no patches applied)."""
    kustomization = _load(directory / "kustomization.yaml")[0]
    for entry in kustomization.get("resources", []):
        target = (directory / entry).resolve()
        if target.is_dir():
            yield from _resources(target)
        else:
            yield from _load(target)


@cache
def _base() -> tuple[Doc, ...]:
    return tuple(_resources(BASE))


def _find(kind: str, name: str) -> Doc:
    found = [d for d in _base() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"the base has {len(found)} {kind} named {name!r}, not one"
    return found[0]


def _container(deployment: Doc) -> Doc:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, deployment["metadata"]["name"]
    return containers[0]


@cache
def _config_map() -> dict[str, str]:
    """smartcity-config as the base generates it."""
    kustomization = _load(BASE / "kustomization.yaml")[0]
    (generator,) = [
        g for g in kustomization["configMapGenerator"] if g["name"] == "smartcity-config"
    ]
    data: dict[str, str] = {}
    for env in generator.get("envs", []):
        data.update(_env_file(BASE / env))
    for literal in generator.get("literals", []):
        name, _, value = literal.partition("=")
        data[name] = value
    return data


def _deployment_env(name: str) -> dict[str, str | None]:
    """Every variable a Deployment's container gets: the shared ConfigMap, then its own `env`
    (a Secret's value is unknown here: None)."""
    container = _container(_find("Deployment", name))
    env: dict[str, str | None] = {}
    for source in container.get("envFrom", []):
        assert source == {"configMapRef": {"name": "smartcity-config"}}, (name, source)
        env.update(_config_map())
    for item in container.get("env", []):
        env[item["name"]] = item.get("value")
    return env


def _secret_refs(name: str) -> dict[str, tuple[str, str]]:
    """Variable -> (Secret, key) of a Deployment's container."""
    container = _container(_find("Deployment", name))
    refs = {}
    for item in container.get("env", []):
        ref = item.get("valueFrom", {}).get("secretKeyRef")
        if ref is not None:
            refs[item["name"]] = (ref["name"], ref["key"])
    return refs


@cache
def _compose() -> Doc:
    return _load(DEPLOY / "compose.yaml")[0]


# ---- what the code reads ----------------------------------------------------------------------


def _is_docstring(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    parent = parents.get(node)
    return isinstance(parent, ast.Expr)


@cache
def _code_variables() -> tuple[frozenset[str], tuple[re.Pattern[str], ...]]:
    """The environment variables named in runtime/, services/ and gateway/: string literals
    that are a variable's whole name, and f-strings such as f"SMARTCITY_{name.upper()}_ADDR"
    (as patterns)."""
    literals: set[str] = set()
    patterns: set[str] = set()
    whole = re.compile(r"(SMARTCITY|OTEL)_[A-Z0-9_]+")
    for package in ("runtime", "services", "gateway"):
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text())
            parents = {
                child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)
            }
            for node in ast.walk(tree):
                if isinstance(node, ast.JoinedStr):
                    parts = [
                        re.escape(v.value) if isinstance(v, ast.Constant) else "[A-Z0-9_]+"
                        for v in node.values
                    ]
                    pattern = "".join(parts)
                    if pattern.startswith("SMARTCITY_") and re.fullmatch(
                        r"[A-Z0-9_\[\]+\-]+", pattern
                    ):
                        patterns.add(pattern)
                elif (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and whole.fullmatch(node.value)
                    and not _is_docstring(node, parents)
                    and not isinstance(parents.get(node), ast.JoinedStr)
                ):
                    literals.add(node.value)
    return frozenset(literals), tuple(re.compile(p) for p in sorted(patterns))


def _read_by_code(variable: str) -> bool:
    literals, patterns = _code_variables()
    return variable in literals or any(p.fullmatch(variable) for p in patterns)


def _clients_of(process: str) -> set[str]:
    """The services `process` calls: identity for every service (runtime/service.py fetches the
    JWKS from it), what its package names in `grpc_target("...")`, and every one for the
    gateway (gateway/upstream.py opens a channel per service)."""
    if process == "gateway":
        return set(config.SERVICES)
    called = {"identity"} - {process}
    for path in (ROOT / "services" / process).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "grpc_target"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                called.add(node.args[0].value)
    return called - {process}


def test_the_code_scan_finds_the_variables_it_should() -> None:
    literals, _ = _code_variables()
    assert {"SMARTCITY_NATS_URL", "SMARTCITY_MASTER_KEY", "OTEL_EXPORTER_OTLP_ENDPOINT"} <= literals
    assert _read_by_code("SMARTCITY_CATALOG_ADDR") and _read_by_code("SMARTCITY_GATEWAY_PORT")
    assert not _read_by_code("SMARTCITY_NO_SUCH_SETTING")
    assert _clients_of("exchange") == {"identity", "catalog", "keys"}


# ---- the files are well formed ----------------------------------------------------------------


@pytest.mark.parametrize("path", _yaml_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_yaml_file_parses(path: Path) -> None:
    assert _load(path), f"{path} is empty"


@pytest.mark.parametrize("path", _kustomizations(), ids=lambda p: str(p.relative_to(ROOT)))
def test_kustomizations_name_only_files_that_exist(path: Path) -> None:
    kustomization = _load(path)[0]
    directory = path.parent
    named = list(kustomization.get("resources", []))
    named += [p["path"] for p in kustomization.get("patches", []) if "path" in p]
    for generator in kustomization.get("configMapGenerator", []) + kustomization.get(
        "secretGenerator", []
    ):
        named += generator.get("envs", []) + [
            f.rpartition("=")[2] for f in generator.get("files", [])
        ]
    for entry in named:
        target = (directory / entry).resolve()
        assert target.is_file() or (target / "kustomization.yaml").is_file(), (path, entry)


@pytest.mark.parametrize("path", _yaml_files()[:-1], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_resource_has_api_version_kind_and_name(path: Path) -> None:
    for doc in _load(path):
        if path.name != "kustomization.yaml" and "apiVersion" not in doc:
            continue  # a strategic-merge patch names its target the same way; checked below
        assert doc.get("apiVersion") and doc.get("kind"), path
        if doc["kind"] != "Kustomization":
            assert doc.get("metadata", {}).get("name"), path


def test_overlay_patches_target_resources_of_the_base() -> None:
    base = {(d["kind"], d["metadata"]["name"]) for d in _base()}
    for overlay in (K8S / "overlays").iterdir():
        kustomization = _load(overlay / "kustomization.yaml")[0]
        assert kustomization["resources"] == ["../../base"], overlay
        for patch in kustomization.get("patches", []):
            if "path" in patch:
                for doc in _load(overlay / patch["path"]):
                    assert (doc["kind"], doc["metadata"]["name"]) in base, (overlay, doc)


def test_secrets_are_not_part_of_the_base() -> None:
    assert not [d for d in _base() if d["kind"] == "Secret"]
    for path in _kustomizations():
        assert "secret.example.yaml" not in str(_load(path)[0].get("resources", []))


# ---- every process: Deployment, Service, probes, security, resources --------------------------


def _assert_hardened(deployment: Doc) -> None:
    pod = deployment["spec"]["template"]["spec"]
    container = _container(deployment)
    effective = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
    name = deployment["metadata"]["name"]
    assert effective["runAsNonRoot"] is True, name
    assert effective["runAsUser"] == 10001 and effective["runAsGroup"] == 10001, name
    assert effective["readOnlyRootFilesystem"] is True, name
    assert effective["allowPrivilegeEscalation"] is False, name
    assert effective["capabilities"]["drop"] == ["ALL"], name
    assert effective["seccompProfile"] == {"type": "RuntimeDefault"}, name
    resources = container["resources"]
    assert {"cpu", "memory"} <= resources["requests"].keys(), name
    assert {"cpu", "memory"} <= resources["limits"].keys(), name
    # The read-only root: what the process writes goes to SMARTCITY_DATA_DIR and /tmp.
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert _config_map()["SMARTCITY_DATA_DIR"] == DATA_DIR
    for path in (DATA_DIR, "/tmp"):
        assert "emptyDir" in volumes[mounts[path]], (name, path)


@pytest.mark.parametrize("name", config.SERVICES)
def test_every_service_has_a_deployment_and_service_with_grpc_probes(name: str) -> None:
    port = config.DEFAULT_PORTS[name]
    deployment = _find("Deployment", name)
    container = _container(deployment)
    assert container["image"] == IMAGE
    assert container["args"] == [f"services.{name}"]
    assert {"name": "grpc", "containerPort": port} in container["ports"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["grpc"] == {"port": port}, (name, probe)
    _assert_hardened(deployment)

    service = _find("Service", name)
    assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"] == [{"name": "grpc", "port": port, "targetPort": port}]


def test_the_gateway_has_a_deployment_and_service_with_http_probes() -> None:
    port = config.DEFAULT_PORTS["gateway"]
    deployment = _find("Deployment", "gateway")
    container = _container(deployment)
    assert container["image"] == IMAGE
    assert container["args"] == ["gateway"]
    assert {"name": "http", "containerPort": port} in container["ports"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port}
    _assert_hardened(deployment)
    service = _find("Service", "gateway")
    assert service["spec"]["ports"] == [{"name": "http", "port": port, "targetPort": port}]


def test_every_process_is_in_the_base_once_and_nothing_else_runs_the_image() -> None:
    deployments = {d["metadata"]["name"] for d in _base() if d["kind"] == "Deployment"}
    assert deployments == set(PROCESSES)


@pytest.mark.parametrize("name", PROCESSES)
def test_scaled_processes_have_a_disruption_budget_and_no_fixed_replicas(name: str) -> None:
    deployment = _find("Deployment", name)
    autoscalers = [
        d
        for d in _base()
        if d["kind"] == "HorizontalPodAutoscaler" and d["metadata"]["name"] == name
    ]
    if autoscalers:
        (hpa,) = autoscalers
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
        }
        assert hpa["spec"]["minReplicas"] >= 2
        # A fixed count would fight the autoscaler at every apply.
        assert "replicas" not in deployment["spec"], name
    else:
        assert deployment["spec"].get("replicas", 1) >= 2, name
    budget = _find("PodDisruptionBudget", name)
    assert budget["spec"]["selector"] == deployment["spec"]["selector"]


# ---- environment variables --------------------------------------------------------------------


@pytest.mark.parametrize("name", PROCESSES)
def test_every_variable_a_deployment_sets_is_read_by_the_code(name: str) -> None:
    unread = [v for v in _deployment_env(name) if not _read_by_code(v)]
    assert not unread, f"{name} sets variables the code never reads: {unread}"


@pytest.mark.parametrize("name", PROCESSES)
def test_every_deployment_knows_where_the_services_it_calls_answer(name: str) -> None:
    env = _deployment_env(name)
    for called in _clients_of(name):
        addr = f"SMARTCITY_{called.upper()}_ADDR"
        assert env.get(addr) == f"{called}:{config.DEFAULT_PORTS[called]}", (name, addr)
    for variable, value in env.items():
        if variable.endswith("_ADDR"):
            host, _, port = (value or "").partition(":")
            service = _find("Service", host)
            assert int(port) in [p["port"] for p in service["spec"]["ports"]], variable


@pytest.mark.parametrize("name", PROCESSES)
def test_every_deployment_passes_the_production_check(name: str) -> None:
    """The settings as the process sees them, with stand-ins for the Secrets' values."""
    stand_ins = {
        "SMARTCITY_DATABASE_URL": "postgresql+asyncpg://u:p@postgres:5432/smartcity",
        "SMARTCITY_MASTER_KEY": "3f9a0c51d7e2b8469a1c5e7d2b0f8c34",
        "SMARTCITY_SERVICE_SECRET": "s3cret",
        "SMARTCITY_NATS_SEED": "SUA-a-seed",
        "SMARTCITY_GATEWAY_SECRET": "0123456789abcdef" * 4,
    }
    env = {k: v if v is not None else stand_ins[k] for k, v in _deployment_env(name).items()}
    settings = config.load(env)
    assert settings.production
    config.check_production(settings, process=name)


@pytest.mark.parametrize("name", config.SERVICES)
def test_secrets_are_wired_as_the_code_needs_them(name: str) -> None:
    refs = _secret_refs(name)
    wanted = {"SMARTCITY_DATABASE_URL", "SMARTCITY_NATS_SEED"}
    wanted |= {"SMARTCITY_MASTER_KEY"} if name in config.SEALS_DATA else set()
    wanted |= {"SMARTCITY_SERVICE_SECRET"} if name in config.CALLS_AS_ITSELF else set()
    assert set(refs) == wanted
    # One Secret per service, its keys named as the variables; the example documents each.
    assert {secret for secret, _ in refs.values()} == {f"{name}-secrets"}
    assert all(variable == key for variable, (_, key) in refs.items())
    examples = {d["metadata"]["name"]: d for d in _load(BASE / "secret.example.yaml")}
    assert set(examples[f"{name}-secrets"]["stringData"]) == wanted


def test_the_gateway_gets_no_secret_but_its_nats_identity_and_its_own_key() -> None:
    assert _secret_refs("gateway") == {
        "SMARTCITY_NATS_SEED": ("gateway-secrets", "SMARTCITY_NATS_SEED"),
        "SMARTCITY_GATEWAY_SECRET": ("gateway-secrets", "SMARTCITY_GATEWAY_SECRET"),
    }
    examples = {d["metadata"]["name"]: d for d in _load(BASE / "secret.example.yaml")}
    assert set(examples["gateway-secrets"]["stringData"]) == {
        "SMARTCITY_NATS_SEED",
        "SMARTCITY_GATEWAY_SECRET",
    }


# ---- NATS JetStream cluster -------------------------------------------------------------------


def _nats_conf() -> str:
    return (NATS_CLUSTER / "nats-server.conf").read_text()


def test_the_nats_cluster_has_three_servers_routed_to_each_other() -> None:
    statefulset = _find("StatefulSet", "nats")
    replicas = statefulset["spec"]["replicas"]
    assert replicas == 3
    headless = _find("Service", statefulset["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True
    routes = re.findall(r"nats://([\w.-]+):6222", _nats_conf())
    headless_name = headless["metadata"]["name"]
    assert sorted(routes) == [f"nats-{i}.{headless_name}" for i in range(replicas)]
    assert statefulset["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    assert re.search(r"server_name:\s*\$POD_NAME", _nats_conf())


def test_jetstream_states_its_sync_interval_and_streams_fit_the_cluster() -> None:
    conf = _nats_conf()
    assert re.search(r"jetstream\s*\{[^}]*store_dir:", conf)
    assert re.search(r"^\s*sync_interval:\s*\S+", conf, re.MULTILINE)
    replicas = int(_config_map()["SMARTCITY_STREAM_REPLICAS"])
    assert replicas == 3 <= _find("StatefulSet", "nats")["spec"]["replicas"]
    client = _find("Service", "nats")
    assert (
        _config_map()["SMARTCITY_NATS_URL"] == f"nats://nats:{client['spec']['ports'][0]['port']}"
    )


@pytest.mark.parametrize("path", [DEPLOY / "nats", NATS_CLUSTER], ids=["compose", "k8s"])
def test_the_nats_users_are_generated_from_the_event_registry(path: Path) -> None:
    # each process's rights as the registry declares them, nothing by hand
    assert (path / "users.conf").read_text() == registry.deployment_users()
    conf = (path / "nats-server.conf").read_text()
    assert re.search(r'authorization\s*\{\s*include "users\.conf"\s*\}', conf)


def test_the_nats_servers_read_every_processs_public_key_from_a_secret() -> None:
    container = _container(_find("StatefulSet", "nats"))
    refs = {
        item["name"]: item["valueFrom"]["secretKeyRef"]
        for item in container["env"]
        if "secretKeyRef" in item.get("valueFrom", {})
    }
    wanted = {registry.nkey_variable(p.name) for p in registry.participants()}
    assert set(refs) == wanted
    assert all(ref == {"name": "nats-users", "key": name} for name, ref in refs.items())
    examples = {d["metadata"]["name"]: d for d in _load(BASE / "secret.example.yaml")}
    assert set(examples["nats-users"]["stringData"]) == wanted
    kustomization = _load(NATS_CLUSTER / "kustomization.yaml")[0]
    (generator,) = kustomization["configMapGenerator"]
    assert set(generator["files"]) == {"nats-server.conf", "users.conf"}


def test_compose_gives_each_process_its_own_nats_identity() -> None:
    services = _compose()["services"]
    nats = services["nats"]
    assert "./nats/users.conf:/etc/nats/users.conf:ro" in nats["volumes"]
    for participant in registry.participants():
        key = registry.nkey_variable(participant.name)
        assert nats["environment"][key].startswith(f"${{{key}:?"), key
        seed = services[participant.name]["environment"]["SMARTCITY_NATS_SEED"]
        assert seed.startswith(f"${{{registry.seed_variable(participant.name)}:?"), seed


def test_postgres_is_an_external_dependency() -> None:
    assert _find("Service", "postgres")["spec"]["type"] == "ExternalName"
    assert not [d for d in _base() if d["kind"] == "StatefulSet" and "postgres" in str(d)]


# ---- compose and the Containerfile ------------------------------------------------------------


@pytest.mark.parametrize("name", PROCESSES)
def test_compose_runs_every_process_from_the_one_image(name: str) -> None:
    services = _compose()["services"]
    assert name in services, f"compose has no {name}"
    service = services[name]
    assert service["image"].partition(":")[0] == IMAGE
    assert service["command"] == ([f"services.{name}"] if name != "gateway" else ["gateway"])
    check = service["healthcheck"]["test"]
    if name == "gateway":
        assert f"127.0.0.1:{config.DEFAULT_PORTS['gateway']}/readyz" in " ".join(check)
    else:
        assert check[-1] == f"127.0.0.1:{config.DEFAULT_PORTS[name]}", (name, check)


@pytest.mark.parametrize("name", PROCESSES)
def test_compose_sets_only_variables_the_code_reads_and_every_address_needed(name: str) -> None:
    env = _compose()["services"][name]["environment"]
    unread = [v for v in env if v.startswith(("SMARTCITY_", "OTEL_")) and not _read_by_code(v)]
    assert not unread, f"compose's {name} sets variables the code never reads: {unread}"
    for called in _clients_of(name):
        addr = f"SMARTCITY_{called.upper()}_ADDR"
        assert env.get(addr) == f"{called}:{config.DEFAULT_PORTS[called]}", (name, addr)


def test_the_containerfile_exposes_every_port_and_sets_only_read_variables() -> None:
    text = (DEPLOY / "Containerfile").read_text()
    (exposed,) = re.findall(r"^EXPOSE (.+)$", text, re.MULTILINE)
    assert {int(p) for p in exposed.split()} == {config.DEFAULT_PORTS[p] for p in PROCESSES}
    variables = set(re.findall(r"\b(SMARTCITY_[A-Z0-9_]+)=", text))
    assert variables and all(_read_by_code(v) for v in variables), variables


def test_the_image_installs_the_same_lock_as_make_install() -> None:
    # Every pip or uv install in the image is pinned and hash-checked: the lock, or uv's own pin.
    text = (DEPLOY / "Containerfile").read_text()
    installs = re.findall(r"^RUN (?:.*\s)?((?:pip|uv) (?:install|sync)\b.*)$", text, re.MULTILINE)
    assert installs, "the image installs nothing?"
    for line in installs:
        assert "--locked" in line or "--require-hashes" in line, line
    assert "COPY pyproject.toml uv.lock" in text
    makefile = (DEPLOY.parent / "Makefile").read_text()
    assert "deploy/uv-bootstrap.txt" in makefile and "--locked" in makefile
