"""`make test`: the whole suite on the embedded default (SQLite, filesystem broker, file:// store),
then the integration tests again on the full stack (PostgreSQL, Redis, an S3 server on 127.0.0.1).

Without PostgreSQL or Redis the full-stack pass is skipped with a line saying which and why,
unless STUDIO_REQUIRE_SERVICES is set (CI sets it: there, nothing may be skipped).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/studio")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
FULL_STACK_SELECTION = ["-m", "integration or fullstack"]


def pytest(args: list[str], env: dict[str, str]) -> int:
    print(f"\n$ pytest {' '.join(args)}", flush=True)
    code = subprocess.call([sys.executable, "-m", "pytest", *args], cwd=ROOT, env=env)
    if code == 5:
        print("pytest collected no tests: that is a failure here", flush=True)
    return code


def missing_services() -> list[str]:
    import psycopg
    import redis

    problems = []
    db = urlparse(DATABASE_URL)
    try:
        psycopg.connect(
            host=db.hostname,
            port=db.port or 5432,
            user=db.username or "postgres",
            password=db.password,
            dbname="postgres",
            connect_timeout=3,
        ).close()
    except psycopg.Error as exc:
        problems.append(f"PostgreSQL at {db.hostname}:{db.port or 5432} is unreachable ({str(exc).strip()})")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        problems.append(f"Redis at {REDIS_URL} is unreachable ({exc})")
    return problems


def main() -> int:
    args = sys.argv[1:]
    base_env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "CELERY_BROKER_URL", "STUDIO_ARTIFACT_URI"}
    }
    embedded = pytest(args, {**base_env, "STUDIO_DATA_DIR": str(ROOT / ".pytest-data")})

    problems = missing_services()
    if problems:
        for problem in problems:
            print(
                f"SKIPPED full-stack pass (integration tests on PostgreSQL + Redis + S3): {problem}",
                flush=True,
            )
        if os.environ.get("STUDIO_REQUIRE_SERVICES"):
            print("STUDIO_REQUIRE_SERVICES is set, so a skipped full-stack pass fails the run", flush=True)
            return embedded or 1
        return embedded
    full = pytest(
        [*FULL_STACK_SELECTION, *args],
        {
            **base_env,
            "STUDIO_DATA_DIR": str(ROOT / ".pytest-data-full"),
            "DATABASE_URL": DATABASE_URL,
            "CELERY_BROKER_URL": REDIS_URL,
            "STUDIO_TEST_S3": "1",
        },
    )
    return embedded or full


if __name__ == "__main__":
    sys.exit(main())
