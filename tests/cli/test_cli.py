"""The command line: one-line errors and non-zero exits, tables and JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent / "paysync"


def paysync(*args: str, **env: str) -> subprocess.CompletedProcess:
    full = dict(os.environ)
    full.update(env)
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, env=full, timeout=60)


def test_merchants_create_and_list_as_table_and_json(db):
    assert paysync("merchants", "create", "acme").returncode == 0
    table = paysync("merchants", "list")
    assert "acme" in table.stdout and table.returncode == 0
    rows = json.loads(paysync("merchants", "list", "--json").stdout)
    assert [r["name"] for r in rows] == ["acme"]


def test_unknown_merchant_is_one_line_and_non_zero(db):
    out = paysync("merchants", "multi-connection", "on", "nobody")
    assert out.returncode != 0
    assert out.stderr.strip() == "error: unknown merchant 'nobody'"
    assert "Traceback" not in out.stderr


def test_database_unreachable_is_one_line_and_hides_the_password(db):
    out = paysync("merchants", "list", DATABASE_URL="postgresql://paysync:s3cret@127.0.0.1:1/none")
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: database unreachable at")
    assert "s3cret" not in out.stderr


def test_bad_argument_is_one_line(db):
    out = paysync("merchants", "multi-connection", "maybe", "acme")
    assert out.returncode != 0
    assert len(out.stderr.strip().splitlines()) == 1 and out.stderr.startswith("error:")


def test_db_upgrade_and_status(db):
    assert paysync("db", "upgrade").returncode == 0
    status = json.loads(paysync("db", "status", "--json").stdout)
    assert status["current"] == status["heads"]
