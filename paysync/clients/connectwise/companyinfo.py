"""Company info: ``GET https://{site}/login/companyinfo/{company}``, which names the codebase
(``v4_6_release/``) of the site's API. Unauthenticated, called once when a PSA connection
is added, outside any budget (no connection exists yet)."""

from __future__ import annotations

import requests

from mappers import jsonnum
from paysync.clients.http import ProviderError
from paysync.config import settings


def discover_codebase(site: str, company: str, session: requests.Session | None = None) -> str:
    """``Codebase`` from ``/login/companyinfo/{company}`` (e.g. ``v4_6_release/``)."""
    root = site.rstrip("/")
    if "://" not in root:
        root = f"https://{root}"
    resp = (session or requests.Session()).get(f"{root}/login/companyinfo/{company}",
                                               timeout=settings().http_timeout,
                                               headers={"Accept": "application/json"})
    if resp.status_code != 200:
        raise ProviderError("connectwise", resp.status_code,
                            f"company {company!r} not found at {site} (GET /login/companyinfo)")
    codebase = (jsonnum.loads(resp.content) or {}).get("Codebase")
    if not codebase:
        raise ProviderError("connectwise", resp.status_code, "companyinfo answered without a Codebase")
    return str(codebase)
