"""Fixtures for the mapper tests: Wise payloads shaped like the API reference, read
through mappers.jsonnum exactly as the clients read real responses."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from mappers import jsonnum

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str) -> Any:
    return jsonnum.loads((FIXTURES / name).read_bytes())


@pytest.fixture
def wise() -> Any:
    """``wise("transfer_v1.json")`` -> a fresh parsed copy, safe to modify."""
    return lambda name: copy.deepcopy(load(name))
