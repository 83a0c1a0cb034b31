"""scripts/services.sh: Redis and PostgreSQL from local binaries, twice harmlessly, stopped cleanly."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psycopg2
import redis

from paysync_dev.devstack import ROOT, free_port


def services(action: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(ROOT / "scripts" / "services.sh"), action], capture_output=True, text=True,
                          env=env, timeout=120)


def test_start_twice_is_harmless_and_stop_is_clean(tmp_path: Path):
    redis_port, pg_port = free_port(), free_port()
    env = dict(os.environ, PAYSYNC_REDIS_PORT=str(redis_port), PAYSYNC_PG_PORT=str(pg_port),
               PAYSYNC_STATE_DIR=str(tmp_path / "state"), PAYSYNC_PG_DB="paysync_svc_test")
    try:
        # when started from cold, then started again
        first = services("start", env)
        assert first.returncode == 0, first.stderr
        second = services("start", env)
        assert second.returncode == 0, second.stderr
        assert "already answering" in second.stderr
        # then both answer on their loopback ports, with the paysync role and database
        assert redis.Redis(port=redis_port).ping()
        conn = psycopg2.connect(host="127.0.0.1", port=pg_port, user="paysync", password="paysync",
                                dbname="paysync_svc_test", connect_timeout=5)
        conn.close()
        assert "redis: up" in services("status", env).stdout
    finally:
        stop = services("stop", env)
    # and after stop, nothing answers
    assert stop.returncode == 0, stop.stderr
    status = services("status", env).stdout
    assert "redis: down" in status and "postgres: down" in status
