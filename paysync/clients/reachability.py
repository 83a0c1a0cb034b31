"""Is a public HTTPS address reachable with a certificate a public CA signed? (``paysync doctor``)."""

from __future__ import annotations

import requests


def https_problem(url: str, timeout: float = 10.0) -> str | None:
    """None when ``url`` answers over a verified TLS connection (any HTTP status), else what is wrong."""
    try:
        requests.get(url, timeout=timeout, allow_redirects=False)
    except requests.exceptions.SSLError:
        return "its certificate is not trusted here: Wise needs one signed by a public CA"
    except requests.RequestException as exc:
        return f"not reachable from here ({type(exc).__name__})"
    return None
