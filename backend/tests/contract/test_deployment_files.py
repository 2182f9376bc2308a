"""docker-compose.yml, deploy/prometheus.yml, deploy/nginx.conf and backend/Dockerfile,
checked without a Docker engine.

Nothing in CI builds the image or starts the stack, so these files would otherwise rot
unnoticed until someone with Docker tried them. Each test pins one thing that person
would hit: a service starting too early, a path that no longer exists, a URL the app
refuses, an image running as root.
"""

import fnmatch
import json
import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from todo_api.db.url import parse_database_url

ROOT = Path(__file__).resolve().parents[3]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "backend" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
APP_SERVICES = ("migrate", "api")
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus.yml"
NGINX_CONFIG = ROOT / "deploy" / "nginx.conf"
DOCKER_DNS = "127.0.0.11"  # the resolver Docker gives every container on a user network


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction, continuation lines joined."""

    keyword: str
    arguments: str


def parse_dockerfile(text: str) -> list[Instruction]:
    """Enough of the Dockerfile grammar for these checks: comments, `\\` continuations."""
    instructions: list[Instruction] = []
    pending = ""
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def exec_form(instruction: Instruction) -> list[str]:
    """The JSON array of CMD or HEALTHCHECK ... CMD; the shell form is not used here."""
    array = instruction.arguments[instruction.arguments.index("[") :]
    command: list[str] = json.loads(array)
    return command


def env_values(instructions: list[Instruction]) -> dict[str, str]:
    """Every `ENV KEY=value` of the final stage."""
    values: dict[str, str] = {}
    for instruction in final_stage(instructions):
        if instruction.keyword == "ENV":
            for word in shlex.split(instruction.arguments):
                key, _, value = word.partition("=")
                values[key] = value
    return values


def final_stage(instructions: list[Instruction]) -> list[Instruction]:
    """The instructions from the last FROM on: the image that actually runs."""
    last_from = max(i for i, ins in enumerate(instructions) if ins.keyword == "FROM")
    return instructions[last_from:]


def copy_sources(instruction: Instruction) -> list[str]:
    """The build-context paths a COPY reads (its flags and destination dropped)."""
    words = [word for word in shlex.split(instruction.arguments) if not word.startswith("--")]
    return words[:-1]


def dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def is_dockerignored(path: str, patterns: list[str]) -> bool:
    """Approximates Docker's matcher: a pattern excludes what it matches and everything
    beneath it, and a leading `**/` matches in any directory."""
    candidates = [path, *(str(parent) for parent in PurePosixPath(path).parents if parent.name)]
    return any(_matches(pattern, candidate) for pattern in patterns for candidate in candidates)


def _matches(pattern: str, candidate: str) -> bool:
    if pattern.startswith("**/"):
        return fnmatch.fnmatch(PurePosixPath(candidate).name, pattern.removeprefix("**/"))
    return fnmatch.fnmatch(candidate, pattern)


@dataclass(frozen=True)
class Directive:
    """One nginx directive: its name, its arguments (quotes removed), its block if any."""

    name: str
    arguments: tuple[str, ...]
    block: tuple["Directive", ...] | None = None

    def find(self, name: str) -> list["Directive"]:
        """The directives called `name` directly in this block."""
        return [directive for directive in self.block or () if directive.name == name]

    def walk(self) -> list["Directive"]:
        """Every directive in this block, at any depth."""
        found = []
        for directive in self.block or ():
            found += [directive, *directive.walk()]
        return found


# Whitespace, a comment, a quoted string, `{ } ;`, or a word.
_NGINX_TOKEN = re.compile(
    r"""\s+|#[^\n]*|'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|([{};])|([^\s{};'"#]+)"""
)


def _nginx_tokens(text: str) -> list[str]:
    """Words, quoted strings (unquoted) and the punctuation `{ } ;`; comments dropped."""
    tokens: list[str] = []
    position = 0
    while position < len(text):
        match = _NGINX_TOKEN.match(text, position)
        assert match, f"nginx.conf: cannot read {text[position : position + 40]!r}"
        single, double, punctuation, word = match.groups()
        for token in (single, double, punctuation, word):
            if token is not None:
                tokens.append(token)
        position = match.end()
    return tokens


def parse_nginx(text: str) -> Directive:
    """Enough of nginx's grammar for these checks: directives, blocks, quotes, comments."""
    stack: list[list[Directive]] = [[]]
    heads: list[tuple[str, tuple[str, ...]]] = []
    words: list[str] = []
    for token in _nginx_tokens(text):
        if token == ";":
            stack[-1].append(Directive(words[0], tuple(words[1:])))
            words = []
        elif token == "{":
            heads.append((words[0], tuple(words[1:])))
            stack.append([])
            words = []
        elif token == "}":
            assert heads, "nginx.conf: unbalanced braces"
            assert not words, "nginx.conf: a directive without its ;"
            name, arguments = heads.pop()
            block = tuple(stack.pop())
            stack[-1].append(Directive(name, arguments, block))
        else:
            words.append(token)
    assert not words, "nginx.conf ends inside a directive"
    assert not heads, "nginx.conf ends inside a block"
    return Directive("main", (), tuple(stack[0]))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return document


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = compose["services"]
    return found


@pytest.fixture(scope="module")
def dockerfile() -> list[Instruction]:
    return parse_dockerfile(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def api_port(dockerfile: list[Instruction]) -> str:
    """The port the API listens on in its container (the image's PORT)."""
    return env_values(dockerfile)["PORT"]


@pytest.fixture(scope="module")
def nginx() -> Directive:
    return parse_nginx(NGINX_CONFIG.read_text())


# docker-compose.yml


def test_compose_defines_the_database_the_migration_the_api_its_proxy_and_prometheus(
    services: dict[str, Any],
) -> None:
    assert set(services) == {"db", "migrate", "api", "proxy", "prometheus"}


def test_database_image_is_official_postgres_pinned_to_a_major_version(
    services: dict[str, Any],
) -> None:
    """`postgres:latest` would move to a new major version under an existing data volume,
    which PostgreSQL refuses to start on."""
    assert re.fullmatch(r"postgres:\d+(\.\d+)?", services["db"]["image"])


def test_database_reports_healthy_only_when_pg_isready_passes(services: dict[str, Any]) -> None:
    test = services["db"]["healthcheck"]["test"]
    command = test[1] if test[0] == "CMD-SHELL" else " ".join(test[1:])
    assert command.startswith("pg_isready")


def test_database_keeps_its_data_in_a_named_volume_at_the_image_data_path(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    """From PostgreSQL 18 the official image keeps data under /var/lib/postgresql (in a
    versioned directory) and refuses a mount at the old /var/lib/postgresql/data."""
    major = int(services["db"]["image"].split(":")[1].split(".")[0])
    data_path = "/var/lib/postgresql" if major >= 18 else "/var/lib/postgresql/data"
    mounts = [volume.split(":") for volume in services["db"]["volumes"]]
    named = [(source, target) for source, target, *_ in mounts if source in compose["volumes"]]
    assert [target for _, target in named] == [data_path]


def test_migration_waits_for_a_healthy_database_and_runs_todo_api_migrate(
    services: dict[str, Any],
) -> None:
    migrate = services["migrate"]
    assert migrate["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert migrate["command"] == ["todo-api", "migrate"]


def test_migration_runs_once_instead_of_restarting(services: dict[str, Any]) -> None:
    """A restart policy would rerun a finished migration forever, and the API, which waits
    for it to complete, would never start."""
    assert services["migrate"].get("restart", "no") == "no"


def test_api_starts_only_after_the_migration_succeeded_and_the_database_is_healthy(
    services: dict[str, Any],
) -> None:
    assert services["api"]["depends_on"] == {
        "db": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }


def test_api_serves_without_migrating(services: dict[str, Any]) -> None:
    """Several API replicas must not race to migrate; that is the migrate service's job."""
    assert services["api"].get("command", ["todo-api", "serve"]) == ["todo-api", "serve"]


def test_api_runs_as_several_replicas_that_publish_no_port(services: dict[str, Any]) -> None:
    """Replicas of one service cannot all bind one host port (the second would fail to
    start), nor can they have a container_name; the proxy publishes the port instead."""
    api = services["api"]

    assert int(api["deploy"]["replicas"]) >= 2
    assert "ports" not in api
    assert "container_name" not in api


def test_the_proxy_publishes_port_8000_on_the_loopback_interface(
    services: dict[str, Any],
) -> None:
    assert services["proxy"]["ports"] == ["127.0.0.1:8000:8000"]


def test_the_proxy_is_the_official_nginx_image_pinned_to_a_release_that_re_resolves(
    services: dict[str, Any],
) -> None:
    """`resolve` on an upstream server (deploy/nginx.conf) is in nginx from 1.27.3 on; an
    older nginx refuses the configuration. `latest` could change under an unchanged file."""
    version = re.fullmatch(r"nginx:(\d+)\.(\d+)\.(\d+)(-alpine)?", services["proxy"]["image"])

    assert version is not None
    assert tuple(map(int, version.groups()[:3])) >= (1, 27, 3)


def test_the_proxy_reads_the_nginx_config_of_the_repository(services: dict[str, Any]) -> None:
    sources = [
        source
        for source, target in _mounts(services["proxy"]).items()
        if target == "/etc/nginx/nginx.conf"
    ]

    assert [(COMPOSE_FILE.parent / source).resolve() for source in sources] == [NGINX_CONFIG]


def test_the_proxy_starts_once_the_replicas_are_ready(services: dict[str, Any]) -> None:
    assert services["proxy"]["depends_on"] == {"api": {"condition": "service_healthy"}}
    assert services["proxy"]["restart"] == "unless-stopped"


# deploy/nginx.conf


def test_nginx_listens_on_the_port_the_proxy_publishes(
    services: dict[str, Any], nginx: Directive
) -> None:
    container_port = str(services["proxy"]["ports"][0]).rsplit(":", 1)[-1]
    [http] = nginx.find("http")
    [server] = http.find("server")

    assert [listen.arguments for listen in server.find("listen")] == [(container_port,)]


def test_nginx_balances_across_every_replica_the_api_name_resolves_to(
    nginx: Directive, api_port: str
) -> None:
    """Docker's DNS answers `api` with each replica's address. nginx resolves a plain
    upstream name once, at start: `resolve` (with a shared zone and a resolver) asks
    again, so a change of scale or a replaced container is picked up."""
    [http] = nginx.find("http")
    [upstream] = http.find("upstream")
    [server] = upstream.find("server")
    passes = [directive.arguments for directive in http.walk() if directive.name == "proxy_pass"]

    assert server.arguments[0] == f"api:{api_port}"
    assert "resolve" in server.arguments
    assert upstream.find("zone")
    resolvers = [d.arguments for d in [*http.find("resolver"), *upstream.find("resolver")]]
    assert resolvers
    assert resolvers[0][0] == DOCKER_DNS
    assert passes == [(f"http://{upstream.arguments[0]}",)]


def test_nginx_never_resends_a_request_that_is_not_idempotent(nginx: Directive) -> None:
    """nginx resends a request to the next replica on an error or a timeout, but by
    default never a POST or PATCH it has sent: that could apply a write twice."""
    retries = [d.arguments for d in nginx.walk() if d.name == "proxy_next_upstream"]

    assert all("non_idempotent" not in arguments for arguments in retries)


def test_nginx_keeps_upstream_connections_alive_with_http_1_1(nginx: Directive) -> None:
    """`keepalive` only works with HTTP/1.1 and the Connection header cleared."""
    directives = nginx.walk()
    headers = [d.arguments for d in directives if d.name == "proxy_set_header"]

    assert [d.arguments for d in directives if d.name == "proxy_http_version"] == [("1.1",)]
    assert ("Connection", "") in headers


def test_nginx_passes_a_request_id_the_api_accepts(nginx: Directive) -> None:
    """The client's X-Request-ID, or nginx's $request_id (32 hex digits), so that the
    proxy's log and the API's share one id."""
    headers = {d.arguments[0]: d.arguments[1] for d in nginx.walk() if d.name == "proxy_set_header"}
    [http] = nginx.find("http")
    [mapping] = [m for m in http.find("map") if m.arguments[1] == headers["X-Request-ID"]]

    assert mapping.arguments[0] == "$http_x_request_id"
    assert {(d.name, *d.arguments) for d in mapping.block or ()} == {
        ("default", "$http_x_request_id"),
        ("", "$request_id"),
    }


def test_when_no_replica_answers_nginx_answers_the_apis_503_problem(nginx: Directive) -> None:
    directives = nginx.walk()
    [error_page] = [d for d in directives if d.name == "error_page"]
    target = error_page.arguments[-1]
    [location] = [d for d in directives if d.name == "location" and d.arguments == (target,)]
    [returned] = location.find("return")
    body = json.loads(returned.arguments[1])

    assert {"502", "504"} <= set(error_page.arguments)
    assert returned.arguments[0] == "503"
    assert body["status"] == 503
    assert body["error_code"] == "SERVICE_UNAVAILABLE"
    assert body["type"] == "urn:todo-api:problem:service-unavailable"
    assert [d.arguments for d in location.find("default_type")] == [("application/problem+json",)]
    assert any(d.arguments[0] == "Retry-After" for d in location.find("add_header"))


def test_api_is_healthy_only_when_ready_to_serve_requests(services: dict[str, Any]) -> None:
    """Readiness, not liveness: the API is healthy once the database answers and is migrated."""
    test = services["api"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    assert "http://127.0.0.1:8000/health/ready" in test[3]
    compile(test[3], "<api healthcheck>", "exec")


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_build_from_the_repository_root_with_the_backend_dockerfile(
    services: dict[str, Any], name: str
) -> None:
    build = services[name]["build"]
    context = ROOT / build["context"]
    assert context.resolve() == ROOT
    assert (context / build["dockerfile"]).resolve() == DOCKERFILE
    assert DOCKERFILE.is_file()


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_use_a_database_url_the_app_accepts(
    services: dict[str, Any], name: str
) -> None:
    url = parse_database_url(services[name]["environment"]["DATABASE_URL"]).url

    assert url.host == "db"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_log_in_with_the_database_service_credentials(
    services: dict[str, Any], name: str
) -> None:
    url = parse_database_url(services[name]["environment"]["DATABASE_URL"]).url
    db = services["db"]["environment"]

    assert (url.username, url.password, url.database) == (
        db["POSTGRES_USER"],
        db["POSTGRES_PASSWORD"],
        db["POSTGRES_DB"],
    )


# The prometheus service and deploy/prometheus.yml


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """Each bind or volume mount of a service: its target in the container, by source."""
    return {
        source: target
        for source, target, *_ in (volume.split(":") for volume in service["volumes"])
    }


def test_prometheus_is_the_official_image_pinned_to_a_release(services: dict[str, Any]) -> None:
    """`latest` could change the configuration format under an unchanged file."""
    assert re.fullmatch(r"prom/prometheus:v\d+\.\d+\.\d+", services["prometheus"]["image"])


def test_prometheus_reads_the_config_file_of_the_repository(services: dict[str, Any]) -> None:
    """Relative sources are relative to the compose file's directory."""
    sources = [
        source
        for source, target in _mounts(services["prometheus"]).items()
        if target == "/etc/prometheus/prometheus.yml"
    ]

    assert [(COMPOSE_FILE.parent / source).resolve() for source in sources] == [PROMETHEUS_CONFIG]
    assert PROMETHEUS_CONFIG.is_file()


def test_prometheus_keeps_its_data_in_a_named_volume(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    mounts = _mounts(services["prometheus"])

    assert [mounts[name] for name in mounts if name in compose["volumes"]] == ["/prometheus"]


def test_prometheus_is_published_on_the_loopback_interface_only(services: dict[str, Any]) -> None:
    """Like the API: nothing in the stack is reachable from other machines."""
    assert services["prometheus"]["ports"] == ["127.0.0.1:9090:9090"]
    for service in services.values():
        assert all(str(port).startswith("127.0.0.1:") for port in service.get("ports", []))


def test_prometheus_scrapes_each_replica_of_the_api_at_its_metrics_path(
    services: dict[str, Any], api_port: str
) -> None:
    """Each replica counts its own requests only: an A query for the service name (which
    Docker's DNS answers with every replica) makes one target per replica, not a static
    target, and not the proxy, which would reach one replica at random."""
    config: dict[str, Any] = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    [job] = config["scrape_configs"]
    [discovery] = job["dns_sd_configs"]

    assert job.get("metrics_path", "/metrics") == "/metrics"
    assert "static_configs" not in job
    assert discovery["names"] == ["api"]
    assert discovery.get("type", "SRV") == "A"
    assert str(discovery["port"]) == api_port
    assert "api" in services["prometheus"]["depends_on"]


def test_the_api_of_the_stack_serves_metrics_without_a_token(services: dict[str, Any]) -> None:
    """Prometheus sends no credentials (deploy/prometheus.yml): a METRICS_TOKEN, or metrics
    turned off, on the api service would leave it scraping 401s or 404s."""
    environment = services["api"]["environment"]
    config: dict[str, Any] = yaml.safe_load(PROMETHEUS_CONFIG.read_text())

    assert "METRICS_TOKEN" not in environment
    assert str(environment.get("METRICS_ENABLED", "true")).lower() == "true"
    assert "authorization" not in config["scrape_configs"][0]


# backend/Dockerfile


def test_image_base_is_a_slim_python_the_package_supports(dockerfile: list[Instruction]) -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    minimum = re.fullmatch(r">=(\d+)\.(\d+)", pyproject["project"]["requires-python"])
    assert minimum is not None
    for instruction in dockerfile:
        if instruction.keyword == "FROM":
            version = re.match(r"python:(\d+)\.(\d+)-slim\b", instruction.arguments)
            assert version is not None, instruction
            assert tuple(map(int, version.groups())) >= tuple(map(int, minimum.groups()))


def test_image_runs_as_a_non_root_user(dockerfile: list[Instruction]) -> None:
    stage = final_stage(dockerfile)
    keywords = [instruction.keyword for instruction in stage]
    users = [instruction.arguments for instruction in stage if instruction.keyword == "USER"]

    assert users
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert keywords.index("USER") < keywords.index("CMD")


def test_image_serves_the_api_on_all_interfaces(dockerfile: list[Instruction]) -> None:
    """The default HOST (127.0.0.1) would be unreachable from outside the container."""
    cmd = [instruction for instruction in final_stage(dockerfile) if instruction.keyword == "CMD"]

    assert exec_form(cmd[-1]) == ["todo-api", "serve"]
    assert env_values(dockerfile)["HOST"] == "0.0.0.0"  # noqa: S104


def test_image_healthcheck_probes_liveness_with_the_python_standard_library(
    dockerfile: list[Instruction],
) -> None:
    """The slim image has no curl; the check must use what is installed."""
    checks = [ins for ins in final_stage(dockerfile) if ins.keyword == "HEALTHCHECK"]
    assert len(checks) == 1
    command = exec_form(checks[0])

    assert command[:2] == ["python", "-c"]
    assert "/health'" in command[2]
    assert "urllib.request" in command[2]
    compile(command[2], "<image healthcheck>", "exec")


def _pip_commands(dockerfile: list[Instruction]) -> list[list[str]]:
    """Every pip invocation in the RUN steps, split into words."""
    commands = []
    for instruction in dockerfile:
        if instruction.keyword != "RUN":
            continue
        for command in re.split(r"&&|;", instruction.arguments):
            words = shlex.split(command)
            if any(word.endswith("pip") for word in words[:1]):
                commands.append(words)
    return commands


def test_dependencies_are_installed_only_from_hashed_lock_files_in_the_repository(
    dockerfile: list[Instruction],
) -> None:
    """A dependency that is not hash-locked could change under a rebuild of the image."""
    copied = {source for ins in dockerfile if ins.keyword == "COPY" for source in copy_sources(ins)}
    copied_files = {
        str(path.relative_to(ROOT))
        for source in copied
        for path in ([ROOT / source] if (ROOT / source).is_file() else (ROOT / source).rglob("*"))
    }
    locked_installs = [words for words in _pip_commands(dockerfile) if "-r" in words]

    assert locked_installs
    for words in locked_installs:
        lock = words[words.index("-r") + 1]
        assert "--require-hashes" in words, words
        assert lock in copied_files, lock
        assert "--hash=sha256:" in (ROOT / lock).read_text()


def test_each_venv_installs_the_locked_pip_before_anything_else(
    dockerfile: list[Instruction],
) -> None:
    """The base image's pip is whatever its release shipped; it only installs the locked
    one, which then installs the dependencies (as `make install` does)."""
    first_install_per_venv: dict[str, list[str]] = {}
    for words in _pip_commands(dockerfile):
        first_install_per_venv.setdefault(words[0], words)

    assert first_install_per_venv
    for words in first_install_per_venv.values():
        assert words[words.index("-r") + 1] == "requirements/installer.lock", words
        assert "--no-deps" in words, words


def test_the_package_is_built_and_installed_without_fetching_anything_unpinned(
    dockerfile: list[Instruction],
) -> None:
    """Build isolation would download the build backend unpinned; --no-deps keeps the
    package from pulling dependencies outside the lock."""
    other_installs = [
        words
        for words in _pip_commands(dockerfile)
        if "-r" not in words and words[1:2] in (["install"], ["wheel"])
    ]

    assert other_installs
    for words in other_installs:
        assert "--no-deps" in words, words
        if words[1] == "wheel":
            assert "--no-build-isolation" in words, words


def test_every_copy_source_exists_and_is_in_the_build_context(
    dockerfile: list[Instruction],
) -> None:
    """A missing or dockerignored source fails the build at that step."""
    patterns = dockerignore_patterns()
    local_copies = [
        ins for ins in dockerfile if ins.keyword == "COPY" and "--from=" not in ins.arguments
    ]
    assert local_copies
    for instruction in local_copies:
        for source in copy_sources(instruction):
            assert (ROOT / source).exists(), source
            assert not is_dockerignored(source, patterns), source


def test_build_context_leaves_out_local_state_and_secrets() -> None:
    """The virtualenv and the embedded database are large and machine-specific; .env may
    hold a real DATABASE_URL."""
    patterns = dockerignore_patterns()
    for path in (".git", ".venv", ".data", ".env", ".mypy_cache", "backend/todo_api/__pycache__"):
        assert is_dockerignored(path, patterns), path
