"""Issue 13, point 5: the Dockerfile, .dockerignore and compose.yaml, checked
as files (Docker is not run by the tests)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SECRETS = re.compile(r"xox[bp]-|CLIENTSECRET\s*[:=]\s*\S|PASSWORD\s*[:=]\s*[\"']?\w", re.I)


def instructions(path: Path) -> list[tuple[str, str]]:
    """The Dockerfile's instructions (continuation lines joined, comments dropped)."""
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def test_the_dockerfile_serves_as_a_user_with_a_healthcheck() -> None:
    steps = instructions(ROOT / "Dockerfile")
    assert steps[0] == ("FROM", "python:3.11-slim")
    users = [rest for kind, rest in steps if kind == "USER"]
    assert users and users[-1] not in {"root", "0"}
    user_at = max(i for i, (kind, _) in enumerate(steps) if kind == "USER")
    assert all(kind != "RUN" for kind, _ in steps[user_at:]), "installed as root, run as the user"
    assert ("EXPOSE", "3978") in steps
    (check,) = [rest for kind, rest in steps if kind == "HEALTHCHECK"]
    assert "/healthz" in check and "urllib.request" in check and "curl" not in check
    assert ("CMD", '["harbour", "serve"]') in steps
    assert any(kind == "VOLUME" and "/data" in rest for kind, rest in steps)
    assert any("chown harbour:harbour /data" in rest for kind, rest in steps if kind == "RUN")
    assert any(kind == "ENV" and "HARBOUR_DATA_DIR=/data" in rest for kind, rest in steps)
    assert any(kind == "RUN" and "pip install ." in rest for kind, rest in steps)
    assert not SECRETS.search((ROOT / "Dockerfile").read_text())


def test_the_healthcheck_command_is_python_that_compiles() -> None:
    (check,) = [rest for kind, rest in instructions(ROOT / "Dockerfile") if kind == "HEALTHCHECK"]
    code = re.search(r'"-c", "(.*)"\]', check)
    assert code is not None
    compile(code.group(1), "healthcheck", "exec")


def test_the_dockerignore_keeps_secrets_and_the_venv_out() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".env", ".git", ".venv", "harbour-data"} <= ignored
    for needed in ("bot", "flows", "adapters", "pyproject.toml", "README.md"):
        assert needed not in ignored  # the Dockerfile copies them


def test_compose_runs_harbour_on_postgres_16_without_secrets() -> None:
    text = (ROOT / "compose.yaml").read_text()
    assert "image: postgres:16" in text
    assert "pg_isready" in text and "healthcheck:" in text
    assert "pgdata:/var/lib/postgresql/data" in text
    assert "env_file: .env" in text
    assert "HARBOUR_DATABASE_URL" in text
    assert "condition: service_healthy" in text
    assert '"3978-3980:3978"' in text  # a host port for each of up to three instances
    for line in text.splitlines():
        if not line.lstrip().startswith("#"):
            assert not SECRETS.search(line), line
    assert "${POSTGRES_PASSWORD:?" in text  # from .env, refused when missing


def test_compose_parses_as_yaml() -> None:
    yaml = pytest.importorskip("yaml")  # PyYAML is not a Harbour dependency
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert set(compose["services"]) == {"db", "harbour"}
    harbour = compose["services"]["harbour"]
    assert harbour["depends_on"]["db"]["condition"] == "service_healthy"
    assert set(compose["volumes"]) == {"pgdata", "harbour-data", "harbour-keys"}
