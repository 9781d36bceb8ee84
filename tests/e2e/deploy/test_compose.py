"""docker-compose.yml, .env.example and docs/deploy.md against what the code reads."""

from __future__ import annotations

import re
from typing import Any

import pytest

from goalflow.core.settings import Settings
from tests.e2e.deploy.helpers import (
    APP_SERVICES,
    CLOUD_OVERRIDE,
    ENV_EXAMPLE,
    INTERPOLATION,
    REQUIRED_SERVICES,
    ROOT,
    TEMPORAL_SERVER_WORKDIR,
    as_argv,
    bind_mounts,
    dependencies,
    env_file_entries,
    load_yaml,
    named_volumes,
    one_shot_services,
    parse_env_file,
    published_ports,
    resolve_interpolation,
    service_environment,
    settings_env_names,
    split_image,
)

# ---------------------------------------------------------------------------------------------
# docker-compose.yml


def test_compose_has_every_service(services: dict[str, dict[str, Any]]) -> None:
    missing = REQUIRED_SERVICES - set(services)
    assert not missing, f"missing services: {sorted(missing)}"


def test_every_image_is_pinned(
    services: dict[str, dict[str, Any]], pyproject: dict[str, Any]
) -> None:
    for name, svc in services.items():
        image = svc.get("image")
        assert image, f"{name}: give every service an explicit image"
        assert "${" not in image, f"{name}: image {image!r} must not come from a variable"
        repo, tag = split_image(image)
        assert tag, f"{name}: image {image!r} has no tag"
        assert tag != "latest" and re.search(r"\d", tag), f"{name}: {image!r} is not a version"
        if "build" in svc:
            assert repo == "goalflow", f"{name}: built image should be goalflow:VERSION"
            assert tag == pyproject["project"]["version"], f"{name}: tag it with the version"
    for override in (CLOUD_OVERRIDE,):
        for name, svc in (load_yaml(override).get("services") or {}).items():
            assert "image" not in svc and "build" not in svc, f"{override.name}: {name}"


def test_schema_tool_matches_server_version(services: dict[str, dict[str, Any]]) -> None:
    server_repo, server_tag = split_image(services["temporal"]["image"])
    assert server_repo == "temporalio/server"
    for job in ("temporal-schema", "temporal-setup"):
        repo, tag = split_image(services[job]["image"])
        assert repo == "temporalio/admin-tools", job
        assert tag == server_tag, f"{job}: admin-tools {tag} must match server {server_tag}"
    assert split_image(services["temporal-ui"]["image"])[0] == "temporalio/ui"
    assert split_image(services["mailpit"]["image"])[0] == "axllent/mailpit"
    assert split_image(services["postgresql"]["image"])[0] == "postgres"


def test_start_order_and_health(services: dict[str, dict[str, Any]]) -> None:
    expected = {
        "temporal-schema": {"postgresql": "service_healthy"},
        "temporal": {"temporal-schema": "service_completed_successfully"},
        "temporal-setup": {"temporal": "service_healthy"},
        "api": {"temporal-setup": "service_completed_successfully"},
        "worker": {"temporal-setup": "service_completed_successfully"},
    }
    for name, wanted in expected.items():
        deps = dependencies(services[name])
        for dep, condition in wanted.items():
            assert deps.get(dep) == condition, f"{name} must wait for {dep}: {condition}"
    one_shots = one_shot_services(services)
    assert {"temporal-schema", "temporal-setup"} <= one_shots
    for name, svc in services.items():
        for dep, condition in dependencies(svc).items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            assert condition in {
                "service_started",
                "service_healthy",
                "service_completed_successfully",
            }, f"{name} -> {dep}: give a condition"
            if condition == "service_healthy":
                assert services[dep].get("healthcheck", {}).get("test"), (
                    f"{name} waits for {dep} to be healthy, but {dep} has no healthcheck"
                )
        if name in one_shots:
            assert str(svc.get("restart", "no")) == "no", f"one-shot {name} must not restart"
            assert not svc.get("ports"), f"one-shot {name} publishes ports"
        else:
            assert svc.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
            assert svc.get("restart") in {"unless-stopped", "always"}, f"{name}: restart policy"


def test_workers_are_scalable(services: dict[str, dict[str, Any]]) -> None:
    worker = services["worker"]
    assert "container_name" not in worker, "a fixed container_name prevents --scale worker=N"
    assert not published_ports(worker), "a fixed host port prevents --scale worker=N"
    assert worker.get("deploy", {}).get("replicas", 1) >= 1


def test_host_ports_do_not_collide(services: dict[str, dict[str, Any]]) -> None:
    seen: dict[tuple[int, str], str] = {}
    for name, svc in services.items():
        for _ip, host_port, _target, proto in published_ports(svc):
            key = (host_port, proto)
            assert key not in seen, f"host port {host_port}/{proto}: {seen[key]} and {name}"
            seen[key] = name
    assert seen, "nothing is published at all"


def test_api_listens_where_it_is_published(services: dict[str, dict[str, Any]]) -> None:
    api = services["api"]
    argv = as_argv(api["command"])
    assert argv[argv.index("--host") + 1] == "0.0.0.0"
    port = int(argv[argv.index("--port") + 1])
    assert port == 8000
    assert port in {target for _ip, _host, target, _proto in published_ports(api)}
    assert str(port) in " ".join(as_argv(api["healthcheck"]["test"]))


def test_worker_healthcheck_uses_its_metrics_port(services: dict[str, dict[str, Any]]) -> None:
    worker = services["worker"]
    port = service_environment(worker)["GOALFLOW_WORKER_METRICS_PORT"]
    assert port in " ".join(as_argv(worker["healthcheck"]["test"]))


def app_service_env_names(service: dict[str, Any]) -> dict[str, str]:
    """Every variable compose gives the service: env_file entries, then `environment`."""
    names: dict[str, str] = {}
    for path, required in env_file_entries(service):
        if not required:
            # The operator's own overrides: never in the repository (see .dockerignore).
            assert path.name == ".env", f"optional env_file {path} is not checked"
            continue
        assert path.exists(), f"env_file {path} is missing"
        names.update({k: f"{path.name}" for k in parse_env_file(path)})
    names.update({k: "environment" for k in service_environment(service)})
    return names


def test_app_services_get_only_settings_the_code_reads(
    services: dict[str, dict[str, Any]],
) -> None:
    known = settings_env_names()
    assert "TEMPORAL_ADDRESS" in known and "GOALFLOW_SMTP_URL" in known  # sanity
    override = load_yaml(CLOUD_OVERRIDE).get("services") or {}
    for name in APP_SERVICES:
        merged = {**services[name], **(override.get(name) or {})}
        given = app_service_env_names(merged)
        assert given, f"{name} gets no configuration"
        unknown = {k: src for k, src in given.items() if k not in known}
        assert not unknown, f"{name} gets variables goalflow does not read: {unknown}"
        for key in ("env_file", "environment"):
            extra = (override.get(name) or {}).get(key)
            assert not extra or set(app_service_env_names({key: extra})) <= known


def test_env_example_names_match_settings_and_values_parse() -> None:
    known = settings_env_names()
    active = parse_env_file(ENV_EXAMPLE)
    documented = parse_env_file(ENV_EXAMPLE, include_commented=True)
    assert set(documented) <= known, f"not settings: {sorted(set(documented) - known)}"
    assert known <= set(documented), (
        f"settings missing from .env.example: {known - documented.keys()}"
    )
    settings = Settings.model_validate(active)
    assert settings.temporal_address == active["TEMPORAL_ADDRESS"]
    assert not settings.dev_mode


def test_env_example_points_at_the_stack(services: dict[str, dict[str, Any]]) -> None:
    env = parse_env_file(ENV_EXAMPLE)
    host, _, port = env["TEMPORAL_ADDRESS"].rpartition(":")
    assert host == "temporal" and port == "7233"
    assert "7233" in " ".join(as_argv(services["temporal"]["healthcheck"]["test"]))
    smtp_host = re.sub(r"^smtp://([^@]*@)?", "", env["GOALFLOW_SMTP_URL"]).split(":")[0]
    assert smtp_host in services
    # The setup job creates the namespace the apps use, and .env overrides both alike.
    for job, var in (
        ("temporal-setup", "TEMPORAL_NAMESPACE"),
        ("temporal-ui", "TEMPORAL_DEFAULT_NAMESPACE"),
    ):
        raw = service_environment(services[job])[var]
        match = INTERPOLATION.match(raw)
        assert match and match.group("name") == "TEMPORAL_NAMESPACE", f"{job}: {raw!r}"
        assert resolve_interpolation(raw) == env["TEMPORAL_NAMESPACE"]
    setup_address = service_environment(services["temporal-setup"])["TEMPORAL_ADDRESS"]
    assert resolve_interpolation(setup_address) == env["TEMPORAL_ADDRESS"]


def test_only_temporals_database_is_stateful(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    declared = set((compose.get("volumes") or {}).keys())
    users = {
        (name, volume, target)
        for name, svc in services.items()
        for volume, target in named_volumes(svc)
    }
    assert users == {("postgresql", "temporal-db", "/var/lib/postgresql/data")}, users
    assert declared == {"temporal-db"}


def test_mounted_files_and_scripts_exist(services: dict[str, dict[str, Any]]) -> None:
    override = load_yaml(CLOUD_OVERRIDE).get("services") or {}
    for name, svc in [*services.items(), *override.items()]:
        mounts = bind_mounts(svc)
        for source, _target in mounts:
            if source.relative_to(ROOT).parts[:2] == ("deploy", "certs"):
                assert (source / ".gitignore").exists(), "deploy/certs must ignore its keys"
                continue
            assert source.exists(), f"{name} mounts {source}, which does not exist"
        argv = as_argv(svc.get("entrypoint")) + as_argv(svc.get("command"))
        for word in argv:
            for source, target in mounts:
                if word.startswith(target.rstrip("/") + "/"):
                    script = source / word[len(target.rstrip("/")) + 1 :]
                    assert script.is_file(), f"{name} runs {word}: {script} is missing"


def test_temporal_dynamic_config_is_mounted_and_valid(
    services: dict[str, dict[str, Any]],
) -> None:
    temporal = services["temporal"]
    env = service_environment(temporal)
    assert env["DB"] == "postgres12" and env["POSTGRES_SEEDS"] == "postgresql"
    path = env["DYNAMIC_CONFIG_FILE_PATH"]
    absolute = path if path.startswith("/") else f"{TEMPORAL_SERVER_WORKDIR}/{path}"
    for source, target in bind_mounts(temporal):
        if absolute.startswith(target.rstrip("/") + "/"):
            config = load_yaml(source / absolute[len(target.rstrip("/")) + 1 :])
            break
    else:
        pytest.fail(f"{absolute} is not mounted into the temporal service")
    # PostgreSQL keeps workflow ids in VARCHAR(255).
    assert config["limit.maxIDLength"][0]["value"] == 255
    assert int(env["NUM_HISTORY_SHARDS"]) >= 4


# ---------------------------------------------------------------------------------------------
# documentation


def test_deploy_doc_covers_the_operations_story() -> None:
    doc = (ROOT / "docs" / "deploy.md").read_text()
    for needle in (
        "--scale worker=",
        "TEMPORAL_API_KEY",
        "TEMPORAL_TLS_CERT",
        "TEMPORAL_TLS_KEY",
        "workflow.patched",
        "github.com/temporalio/helm-charts",
        "NUM_HISTORY_SHARDS",
        "deploy/compose.cloud.yml",
    ):
        assert needle in doc, f"docs/deploy.md does not mention {needle}"
    assert re.search(r"not (been )?(started|run)", doc), "say that the stack was not started here"
