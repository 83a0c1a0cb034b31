"""Mapping pages for the page writer: the plain path maps exactly what the mapper maps (and
leaves to the mapper every transfer it would refuse, or that it does not take), and the
mapping process answers exactly what mapping here gives."""

from __future__ import annotations

import copy
import random
import threading
from decimal import Decimal
from typing import Any

import pytest

from mappers import MapperError
from paysync.connectors.wise import mapping_process, page_mapping
from tests.connectors.wise import test_page_writer as gen

MISSING = object()
CTX = page_mapping.MapContext(7, gen.PROFILE, gen.OWN, {"EUR": "900001", "USD": "900002"}, gen.NOW, gen.WINDOW)

#: each field with values of every shape a payload might bring (MISSING: the field left out)
VARIANTS: dict[str, list[Any]] = {
    "id": [0, -1, "abc", "", None, True, 1.5, Decimal("1"), [], MISSING],
    "status": ["", None, 5, "processing", "funds_refunded", "outgoing_payment_sent", "a_new_state", MISSING],
    "sourceCurrency": ["eur", " JPY ", "KWD", "XXX", "", None, 5, MISSING],
    "targetCurrency": ["usd", "XXX", "", None, 5, MISSING],
    "sourceValue": [Decimal("0"), Decimal("-0"), Decimal("-1"), Decimal("1E+2"), Decimal("1.001"), Decimal("0.10"),
                    Decimal("12345678901234567.8"), Decimal("99999999999999999"), Decimal("1E+30"), Decimal("1E-30"),
                    Decimal("NaN"), Decimal("Infinity"), "12.5", 7, True, 1.5, None, MISSING],
    "created": ["2026-07-02 12:38:02", "2020-05-20T14:43:16.658Z", "2023-08-10T10:17:23.000+02:00", "2026-07-19",
                "nope", "", None, 5, MISSING],
    "targetAccount": [None, "", "40000009", 40000009, "900001", True, 1.5, [], MISSING],
    "rate": [None, Decimal("NaN"), Decimal("1E+3"), "1.2", 3, True, 1.5, MISSING],
    "targetValue": [None, Decimal("-Infinity"), Decimal("0E-7"), "10", 10, False, MISSING],
    "fee": [None, {"total": Decimal("1.20")}, {"value": Decimal("2")}, {"total": None, "value": Decimal("2")},
            {"total": Decimal("sNaN")}, {}, {"total": "x"}, Decimal("0.5"), 2, "0.5", [], MISSING],
    "quoteUuid": [None, "", "q-1", 5, True, [], MISSING],
    "quote": [None, 7, "", [], MISSING],
    "details": [None, {}, {"reference": None}, {"reference": ""}, {"reference": "tab\tand\\ ☃"}, {"reference": 5},
                "a string", [], MISSING],
    "reference": [None, "", "INV-1", 5, MISSING],
}


def variants() -> list[Any]:
    """The generated transfers, and each of them with one field changed to each shape."""
    first, second = gen.generated()
    base = first + second
    rng = random.Random(5)
    out: list[Any] = [*base, [], "a string", None, 5]
    for name, values in VARIANTS.items():
        for value in values:
            t = copy.deepcopy(rng.choice(base))
            if value is MISSING:
                t.pop(name, None)
            else:
                t[name] = copy.deepcopy(value)
            out.append(t)
    return out


def mapped_by_the_mapper(index: int, transfer: Any) -> Any:
    try:
        return page_mapping.map_transfer_legs(index, transfer, index, CTX)
    except MapperError as exc:
        return exc


def test_the_plain_path_maps_exactly_what_the_mapper_maps_and_leaves_it_the_rest() -> None:
    taken = 0
    for index, transfer in enumerate(variants()):
        expected = mapped_by_the_mapper(index, transfer)
        got = page_mapping.first_sight_legs(index, transfer, index, CTX)
        if got is None:
            continue  # left to the mapper
        taken += 1
        # a transfer the plain path takes is one the mapper maps, to the same legs, lines and hashes
        assert not isinstance(expected, MapperError), (transfer, expected)
        assert got == expected, transfer
    first, second = gen.generated()
    assert taken > 0.9 * len([t for t in first + second if t["sourceCurrency"] != "XXX"])  # the plain path is used


def test_a_page_maps_to_the_mappers_legs_and_refusals() -> None:
    items = [(t, i) for i, t in enumerate(variants())]
    page = page_mapping.map_page(items, CTX)
    for t in page.transfers:
        assert t == mapped_by_the_mapper(t.item, items[t.item][0])
    refused = {index: str(exc) for index, exc in page.poisoned}
    for index, (transfer, _) in enumerate(items):
        expected = mapped_by_the_mapper(index, transfer)
        assert (index in refused) == isinstance(expected, MapperError)
        if index in refused:
            assert refused[index] == str(expected)  # the mapper's message, naming the field
    assert len(page.poisoned) > 50 and len(page.transfers) > 400


@pytest.fixture
def process() -> Any:
    process = mapping_process.MappingProcess()
    yield process
    process.close()


def test_the_mapping_process_answers_what_mapping_here_gives(process: Any) -> None:
    items = [(t, i) for i, t in enumerate(variants())]
    pages = [items[n:n + 60] for n in range(0, len(items), 60)]
    assert process.poll_ready(30)
    sender = threading.Thread(target=lambda: [process.send(page, CTX) for page in pages])  # as a writer does:
    sender.start()                                                                        # the answers read meanwhile
    for page in pages:
        got, expected = process.receive(), page_mapping.map_page(page, CTX)
        assert got.transfers == expected.transfers
        assert [(i, str(e), e.field) for i, e in got.poisoned] == [(i, str(e), e.field) for i, e in expected.poisoned]
    sender.join()
    assert process.outstanding == 0 and process.alive()


def test_a_mapping_process_that_exits_is_reported_lost(process: Any) -> None:
    assert process.poll_ready(30)
    process.proc.kill()
    process.proc.wait()
    with pytest.raises(mapping_process.MappingProcessLost):
        process.send([({"id": 1}, 0)], CTX)
        process.receive()
    assert not process.alive()
