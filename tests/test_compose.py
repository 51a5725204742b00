"""The full stack's packaging: docker-compose.yml, the Dockerfile and .dockerignore.

No Docker engine runs here, so these read the files and hold them to the code: a setting renamed
in studio/settings.py, a queue added to CELERY_TASK_ROUTES or a service renamed breaks a test.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
ENV_HELPERS = {"env_str", "env_bool", "env_int", "env_float", "env_list"}
# Read by boto3 itself, not by our settings.
BOTO3_NAMES = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
# What the full stack cannot run without.
REQUIRED = {
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "STUDIO_ARTIFACT_URI",
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
    "STUDIO_DATA_DIR",
}
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(value: object) -> str:
    """What compose makes of a value when the operator sets nothing but the required variables."""

    def replace(match: re.Match) -> str:
        if match["op"] in {":-", "-"}:
            return match["arg"]
        if match["op"] in {":?", "?"}:
            return f"required-{match['name'].lower()}"
        return ""

    return INTERPOLATION.sub(replace, str(value))


def settings_env_names() -> set[str]:
    """Every variable name studio/settings.py passes to an env_* helper."""
    tree = ast.parse((ROOT / "studio" / "settings.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ENV_HELPERS
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value)
    return names


def as_argv(command: object) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: interpolate(value) for key, value in env.items()}


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text()
    logical = re.sub(r"\\\n", " ", text)
    instructions = []
    for line in logical.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def dockerfile_cmd() -> list[str]:
    cmd = [rest for keyword, rest in dockerfile_instructions() if keyword == "CMD"][-1]
    return json.loads(cmd) if cmd.startswith("[") else shlex.split(cmd)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict]:
    return compose["services"]


@pytest.fixture(scope="module")
def studio_services(services) -> dict[str, dict]:
    """The services that run Studio's own image."""
    image = services["web"].get("image")
    return {
        name: service
        for name, service in services.items()
        if "build" in service or (image and service.get("image") == image)
    }


@pytest.fixture(scope="module")
def studio_env(services) -> dict[str, str]:
    return environment(services["web"])


def entrypoint_and_command(service: dict) -> str:
    parts = []
    for key in ("entrypoint", "command"):
        if key in service:
            parts += [service[key]] if isinstance(service[key], str) else list(service[key])
    return " ".join(parts)


def command_of(service: dict) -> list[str]:
    return as_argv(service["command"]) if "command" in service else dockerfile_cmd()


def test_compose_has_the_full_stack(services, studio_env):
    assert {"web", "worker", "beat", "redis", "postgres"} <= set(services)
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    store = urlparse(studio_env["AWS_ENDPOINT_URL"]).hostname
    assert store in services, f"no service {store!r} behind AWS_ENDPOINT_URL"
    assert services[store]["image"].startswith("minio/minio")


def test_studio_services_set_only_variables_the_settings_read(studio_services):
    known = settings_env_names() | BOTO3_NAMES
    assert {"web", "worker", "beat", "serving"} <= set(studio_services)
    for name, service in studio_services.items():
        env = environment(service)
        assert set(env) <= known, f"{name} sets {sorted(set(env) - known)}, which nothing reads"
        assert set(env) >= REQUIRED, f"{name} lacks {sorted(REQUIRED - set(env))}"


def test_studio_services_share_one_environment(studio_services, studio_env):
    """A worker runs jobs against the same database, broker, store and data directory as web."""
    for name, service in studio_services.items():
        assert environment(service) == studio_env, name


def test_secret_key_has_no_default(services):
    assert services["web"]["environment"]["SECRET_KEY"].startswith("${SECRET_KEY:?")


def test_worker_consumes_every_queue_the_settings_route_to(services):
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    routed.add(settings.CELERY_TASK_DEFAULT_QUEUE)
    argv = command_of(services["worker"])
    assert argv[:3] == ["celery", "-A", "studio"]
    assert "worker" in argv
    flag = next(i for i, arg in enumerate(argv) if arg in {"-Q", "--queues"})
    assert routed <= set(argv[flag + 1].split(","))


def test_beat_runs_the_schedule(services):
    argv = command_of(services["beat"])
    assert argv[:3] == ["celery", "-A", "studio"]
    assert "beat" in argv
    # A second beat would send every scheduled task twice.
    assert services["beat"].get("deploy", {}).get("replicas", 1) == 1


def test_migrations_run_before_studio_starts(services):
    """web's own command migrates, or web waits for a one-shot service that does."""

    def migrates(service: dict) -> bool:
        argv = command_of(service)
        return "manage.py" in " ".join(argv) and "migrate" in " ".join(argv)

    for name in ("web", "worker", "beat"):
        service = services[name]
        if name == "web" and migrates(service):
            continue
        waits_for = [
            dep
            for dep, rule in service["depends_on"].items()
            if rule["condition"] == "service_completed_successfully" and migrates(services[dep])
        ]
        assert waits_for, f"{name} may start before the migrations ran"


def test_web_runs_uvicorn_with_the_gateway_on_the_published_port(services):
    argv = command_of(services["web"])
    assert argv[0] == "uvicorn"
    assert "studio.asgi:application" in argv
    assert argv[argv.index("--host") + 1] == "0.0.0.0"  # noqa: S104 (inside its container)
    port = argv[argv.index("--port") + 1]
    published = [str(port_spec).rsplit(":", 1)[-1] for port_spec in services["web"]["ports"]]
    assert port in published


def test_one_serving_supervisor_shares_the_data_volume_with_web(services):
    """The gateway in web reaches the serving processes through sockets under the data directory."""
    argv = command_of(services["serving"])
    assert argv[-2:] == ["manage.py", "serve_models"]
    assert services["serving"].get("deploy", {}).get("replicas", 1) == 1
    assert services["serving"]["volumes"] == services["web"]["volumes"]
    rules = services["serving"]["depends_on"]
    assert rules["migrate"]["condition"] == "service_completed_successfully"


def test_urls_name_the_services_that_serve_them(services, studio_env):
    database = urlparse(studio_env["DATABASE_URL"])
    assert database.scheme in {"postgres", "postgresql"}
    assert database.hostname in services
    assert services[database.hostname]["image"].startswith("postgres:")
    postgres_env = environment(services[database.hostname])
    assert database.username == postgres_env["POSTGRES_USER"]
    assert database.password == postgres_env["POSTGRES_PASSWORD"]
    assert database.path.lstrip("/") == postgres_env["POSTGRES_DB"]

    broker = urlparse(studio_env["CELERY_BROKER_URL"])
    assert broker.scheme == "redis"
    assert broker.hostname in services
    assert services[broker.hostname]["image"].startswith("redis:")

    store = urlparse(studio_env["AWS_ENDPOINT_URL"]).hostname
    store_env = environment(services[store])
    assert studio_env["AWS_ACCESS_KEY_ID"] == store_env["MINIO_ROOT_USER"]
    assert studio_env["AWS_SECRET_ACCESS_KEY"] == store_env["MINIO_ROOT_PASSWORD"]


def test_the_artifact_bucket_is_created_before_web_and_worker_start(services, studio_env):
    artifacts = urlparse(studio_env["STUDIO_ARTIFACT_URI"])
    assert artifacts.scheme == "s3"
    store = urlparse(studio_env["AWS_ENDPOINT_URL"]).hostname
    make_bucket = re.compile(rf"\bmc mb\b.*/{re.escape(artifacts.netloc)}\b")
    creators = {
        name
        for name, service in services.items()
        if store in service.get("depends_on", {}) and make_bucket.search(entrypoint_and_command(service))
    }
    assert creators, f"no service creates the bucket {artifacts.netloc!r}"
    for name in ("web", "worker"):
        rules = services[name]["depends_on"]
        assert any(
            rules.get(creator, {}).get("condition") == "service_completed_successfully"
            for creator in creators
        ), name


def test_dependencies_wait_for_a_real_condition(services):
    for name, service in services.items():
        for dep, rule in (service.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on a missing service {dep}"
            condition = rule["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], f"{dep} has no healthcheck for {name} to wait on"
            elif condition == "service_completed_successfully":
                assert services[dep].get("restart", "no") == "no", f"{dep} never completes"
            else:
                pytest.fail(f"{name} waits for {dep} only to start ({condition})")


def test_the_data_directory_is_a_volume_shared_by_web_and_worker(compose, services, studio_env):
    data_dir = studio_env["STUDIO_DATA_DIR"]

    def volume_at(service: dict) -> str | None:
        for mount in service.get("volumes", []):
            source, _, target = str(mount).partition(":")
            if target.split(":")[0] == data_dir:
                return source
        return None

    assert volume_at(services["web"]) is not None
    assert volume_at(services["web"]) == volume_at(services["worker"])
    assert volume_at(services["web"]) in compose["volumes"]


def test_dockerfile_runs_uvicorn_as_a_non_root_user():
    instructions = dockerfile_instructions()
    froms = [rest for keyword, rest in instructions if keyword == "FROM"]
    assert froms[-1].split()[0] == "python:3.11-slim"
    runs = " ".join(rest for keyword, rest in instructions if keyword == "RUN")
    assert re.search(r"\bpip install \.(\s|$)", runs)
    users = [rest for keyword, rest in instructions if keyword == "USER"]
    assert users, "the image runs as root"
    assert users[-1].split(":")[0] not in {"root", "0"}
    argv = dockerfile_cmd()
    assert argv[0] == "uvicorn"
    assert "studio.asgi:application" in argv
    assert argv[argv.index("--port") + 1] == "8000"
    assert ("EXPOSE", "8000") in instructions


def test_dockerignore_keeps_local_state_out():
    patterns = {line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".venv", ".data", ".git"} <= patterns
    assert any(pattern.endswith("__pycache__") for pattern in patterns)


@pytest.mark.parametrize(
    "path",
    [
        "admin/css/base.css",  # an app's static folder
        "frontend/studio.css",  # ours
        "vendor/plotly/plotly.min.js",  # STATICFILES_DIRS
    ],
)
def test_static_files_are_served_without_collectstatic(client, path):
    """The image runs no collectstatic: WhiteNoise finds files where the finders do."""
    assert settings.WHITENOISE_USE_FINDERS
    assert not settings.DEBUG
    response = client.get(f"/{settings.STATIC_URL.strip('/')}/{path}")
    assert response.status_code == 200
