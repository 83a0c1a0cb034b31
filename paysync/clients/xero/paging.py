"""Reading a Xero list changed since a moment: ``If-Modified-Since`` plus ``UpdatedDateUTC`` order.

``If-Modified-Since`` (UTC, whole seconds, inclusive) selects what changed; ``order=
UpdatedDateUTC ASC`` keeps a record changed during the read from shifting the pages (it
moves to the end); ``page`` / ``pageSize`` page through the rest.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from paysync.clients.xero.client import XeroClient
from paysync.clients.xero.envelopes import items, page_count

ORDER = "UpdatedDateUTC ASC"


def modified_page(client: XeroClient, path: str, key: str, *, since: str | None, page: int, size: int,
                  extra: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """One page of ``path``'s records changed since ``since`` (all when None), oldest change first."""
    params: dict[str, Any] = {"page": page, "pageSize": size, "order": ORDER, **(extra or {})}
    headers = {"If-Modified-Since": since} if since else None
    return items(client.get(path, params=params, headers=headers), key)


def modified_pages(client: XeroClient, path: str, key: str, *, since: str, size: int) -> Iterator[list[dict[str, Any]]]:
    """Every page of records changed since ``since``, until a short page or the last one Xero counts."""
    page = 1
    while True:
        body = client.get(path, params={"page": page, "pageSize": size, "order": ORDER},
                          headers={"If-Modified-Since": since})
        found = items(body, key)
        yield found
        if len(found) < size or page >= (page_count(body) or page + 1):
            return
        page += 1
