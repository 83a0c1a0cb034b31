"""The mappers' signatures say what the code does: checked by running mypy on a snippet."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from mypy import api

ROOT = Path(__file__).resolve().parents[2]

SNIPPET = '''\
from datetime import date, datetime

import requests

from mappers import jsonnum
from mappers.connectwise import gl_invoice
from mappers.wise import _fields


def body(resp: requests.Response) -> object:
    return jsonnum.decode(resp)  # a requests.Response is a jsonnum.Response


def fields(obj: dict[str, object]) -> None:
    ident: str = _fields.ident(obj, "id", "ctx")
    state: str = _fields.text(obj, "status", "ctx", required=True)
    at: datetime = _fields.timestamp(obj, "created", "ctx")
    amount: int = _fields.minor(obj, "value", "EUR", "ctx")
    day: date = gl_invoice({}).invoice_date
    maybe_id: str = _fields.ident(obj, "id", "ctx", required=False)  # error: may be None
    maybe_state: str = _fields.text(obj, "status", "ctx")  # error: may be None
    maybe_at: datetime = _fields.timestamp(obj, "created", "ctx", required=False)  # error: may be None
'''


def test_required_fields_are_not_optional_and_a_requests_response_decodes(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    path = tmp_path / "snippet.py"
    path.write_text(SNIPPET)
    out, err, _ = api.run([str(path), "--config-file", str(ROOT / "pyproject.toml"), "--no-incremental",
                           "--cache-dir", os.devnull])
    errors = [line.split(":")[1] for line in out.splitlines() if ": error:" in line]
    expected = [str(n) for n, line in enumerate(SNIPPET.splitlines(), start=1) if "# error:" in line]
    assert errors == expected, out + err
